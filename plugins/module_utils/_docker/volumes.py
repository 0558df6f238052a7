# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a commit leaves out: the builder's anonymous volumes.

The engine gives a container a volume for each VOLUME of its image, filled from the image at the start; a commit (and
an export) takes the container's own filesystem, without its volumes, as `docker build` discards a RUN step's changes
to a declared volume. What the roles changed there is not in the image, and nothing fails: the build says so."""

from __future__ import annotations

import calendar
import time

from ansible_collections.immutable.images.plugins.module_utils._docker import exec_stream
from ansible_collections.immutable.images.plugins.module_utils._docker.client import RequestException, docker_errors

SHOWN = 5

# Run by the builder's own Python (python3, else python, on its PATH): the paths under the given directories whose
# inode changed (ctime) after the time given, files first, then directories (a removal changes only its directory);
# SHOWN + 1 at most. The ctime, not the mtime: a file unpacked with its old time (dpkg, unarchive) changed it too.
_CHANGED_SINCE = r"""
import os, sys
since, found = float(sys.argv[1]), ([], [])
def look(path, kind):
    try:
        if os.lstat(path).st_ctime > since:
            found[kind].append(path)
    except OSError:
        pass
for top in sys.argv[2:]:
    look(top, 1)
    for parent, dirs, files in os.walk(top):
        for name in files:
            look(os.path.join(parent, name), 0)
        for name in dirs:
            look(os.path.join(parent, name), 1)
print("\n".join((found[0] or found[1])[:%d]))
""" % (SHOWN + 1)
_WITH_PYTHON = 'for p in python3 python; do command -v "$p" >/dev/null 2>&1 && exec "$p" -c "$0" "$@"; done; exit 127'


def started_at(rfc3339):
    """Seconds since the epoch of the engine's UTC time stamp (`2026-12-07T03:11:05.123456789Z`)."""
    seconds, _dot, fraction = rfc3339.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(seconds, "%Y-%m-%dT%H:%M:%S")) + float("0." + (fraction or "0"))


def changed_in_volumes(api, container_id):
    """(the builder's volume paths, up to SHOWN + 1 paths the build changed under them). Nothing changed when the
    builder has no volume, is not running, or has no Python to look with (then it cannot tell)."""
    try:
        attrs = api.inspect_container(container_id)
    except (docker_errors.APIError, RequestException):
        return [], []
    volumes = sorted(m["Destination"] for m in attrs.get("Mounts") or () if m.get("Type") == "volume")
    state = attrs.get("State") or {}
    if not volumes or not state.get("Running") or not state.get("StartedAt"):
        return volumes, []
    argv = ["/bin/sh", "-c", _WITH_PYTHON, _CHANGED_SINCE, repr(started_at(state["StartedAt"]))] + volumes
    try:
        code, out, _err = exec_stream.run(api, container_id, argv)
    except (exec_stream.StreamError, docker_errors.APIError, RequestException):
        return volumes, []
    return volumes, (out.decode("utf-8", "replace").splitlines() if code == 0 else [])


def lost_changes_warning(builder, volumes, changed):
    """The build's warning for the changes under the builder's volumes that the image does not have."""
    shown = ", ".join(changed[:SHOWN]) + (" and more" if len(changed) > SHOWN else "")
    return ("builder %s: the roles changed files under %s, which the base image declares as VOLUME: no image keeps a "
            "volume's content (a commit leaves it out, as docker build does), so the image lacks these changes: %s. "
            "Put them elsewhere in the image (an entrypoint can copy them into the volume when a container starts)"
            % (builder, ", ".join(volumes), shown))
