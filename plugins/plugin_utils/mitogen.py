# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a build runs its docker builders' tasks through Mitogen (controller side).

Mitogen keeps one Python per builder alive for the whole play and runs every module in it. It works
only under its own strategy, which takes over the `docker` connection (the docker CLI). The plan
decides once, for every docker target; the provision play then uses STRATEGY and the builders get
the `docker` connection. Where Mitogen cannot be used, the builders keep the collection's own
session (docker_session) and the plan says why.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

STRATEGY = "immutable.images.mitogen"


def unavailable_reason():
    """None when Mitogen can run on this controller, else why not (checked without importing Mitogen)."""
    try:
        found = importlib.util.find_spec("ansible_mitogen") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return "Mitogen is not installed for this Python (pip install mitogen)"
    if not shutil.which("docker"):
        return "its docker connection needs the docker CLI, which is not on PATH"
    return None


def target_reason(target, environ=None):
    """None when a docker target can use Mitogen, else why not."""
    environ = os.environ if environ is None else environ
    wanted = target.get("docker_host") or None
    if wanted and wanted != environ.get("DOCKER_HOST"):
        # Mitogen runs the docker CLI, which talks to the engine of DOCKER_HOST (or the default one)
        return "its docker_host is not the engine the docker CLI uses (DOCKER_HOST)"
    return None


def plan(targets, wanted, environ=None):
    """Mark each docker target with `mitogen` (bool); returns (strategy or None, note or None)."""
    docker = [t for t in targets if t.get("type") == "docker"]
    for t in targets:
        t["mitogen"] = False
    if not wanted or not docker:
        return None, None
    reason = unavailable_reason()
    if reason:
        return None, "Mitogen: not used (%s); docker builders run through the builder session" % reason
    notes = []
    for t in docker:
        why = target_reason(t, environ)
        t["mitogen"] = why is None
        if why:
            notes.append("%s: %s" % (t["name"], why))
    if not any(t["mitogen"] for t in docker):
        return None, "Mitogen: not used (%s)" % "; ".join(notes)
    note = "Mitogen: runs the tasks of the docker builders"
    if notes:
        note += " (not of %s)" % "; ".join(notes)
    return STRATEGY, note
