# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A log file per user and per build that only its user can read, and that never fails the build.

In the shared temporary directory another user could plant a symlink or read a shared log: the file
is in a 0700 directory of the user's own, created 0600 without following a link. When any of that
cannot be had, the output goes to /dev/null instead - losing a log never fails a build.
"""

from __future__ import annotations

import os
import stat
import tempfile


def log_path(build_id, name="guard"):
    """<tmp>/immutable-images-<uid>/<name>-<build id>.log"""
    return os.path.join(tempfile.gettempdir(), "immutable-images-%d" % os.getuid(), "%s-%s.log" % (name, build_id))


def _private_dir(path):
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)  # lstat: a symlink planted in its place is refused, not followed
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
        raise OSError("%s is not a private directory of this user" % path)


def open_log(path):
    """The log at `path` opened for appending (binary), private; /dev/null when that cannot be done."""
    try:
        _private_dir(os.path.dirname(path))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077 or os.fstat(fd).st_uid != os.getuid():
            os.close(fd)
            raise OSError("%s is readable by others" % path)
        return os.fdopen(fd, "ab")
    except OSError:
        return open(os.devnull, "ab")
