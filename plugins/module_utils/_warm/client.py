# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client of server.py (the warm server), installed on the builder as the sitecustomize of a private directory.

The builder's connection sets PYTHONPATH to that directory and IMMUTABLE_IMAGES_WARM to
"SOCKET|INTERPRETER". When the starting interpreter is that interpreter and reads its program
from stdin (how Ansible runs a pipelined module), the module is handed to the warm server and this
process exits with the module's status. Anything else - another Python, a script, `python3 -c`,
no server, a user that may not use the socket (become) - just starts as usual.
"""

from __future__ import annotations

import os
import sys

ENV_WARM = "IMMUTABLE_IMAGES_WARM"


def _chain_sitecustomize(own_dir):
    """Import the sitecustomize this one shadows (Debian ships one), as Python would have."""
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != own_dir]
    del sys.modules["sitecustomize"]
    try:
        import sitecustomize  # noqa: F401
    except ImportError:
        pass


def forwarded_env(own_dir):
    """The environment a module sees: this process's, without what only points at the warm interpreter."""
    import shlex

    env = dict(os.environ)
    setting = env.pop(ENV_WARM, None)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) != own_dir]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        env.pop("PYTHONPATH", None)
    if setting and "SUDO_COMMAND" in env:  # over SSH, sudo records the command with the two (plugin_utils/_ec2/warm.py)
        given = "%s=%s PYTHONPATH=%s " % (ENV_WARM, shlex.quote(setting), shlex.quote(own_dir))
        env["SUDO_COMMAND"] = env["SUDO_COMMAND"].replace(given, "", 1)
    return env


def current_umask():
    """This process's umask, read without changing it where Linux tells (another thread may be creating files)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0)
    os.umask(umask)
    return umask


def at_unix_address(path, use):
    """use(address) of the unix socket at `path`: the path itself, or, when longer than the kernel takes (107 bytes:
    ansible-playbook's temporary directory under a long home can be), through a descriptor of its directory."""
    if len(os.fsencode(path)) < 100:
        return use(path)
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        return use("/proc/self/fd/%d/%s" % (fd, os.path.basename(path)))
    finally:
        os.close(fd)


def connect(socket_path):
    """A connection to the warm server, or None when none answers (or it is not ours to use)."""
    import socket

    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        at_unix_address(socket_path, conn.connect)
    except OSError:
        conn.close()
        return None
    return conn


def hand_over(conn, fds, own_dir):
    """Run the module that fds[0] (stdin) delivers in the warm server, writing to fds[1] and fds[2], with
    this process's environment, working directory and umask. Returns the module's exit status once it has ended."""
    import json
    import socket

    try:
        info = {"env": forwarded_env(own_dir), "cwd": os.getcwd(), "umask": current_umask()}
        socket.send_fds(conn, [json.dumps(info).encode("utf-8")], fds)
        chunks = []
        while True:
            data = conn.recv(4096)
            if not data:
                break
            chunks.append(data)
    finally:
        conn.close()
    try:
        rc = int(json.loads(b"".join(chunks).decode("utf-8"))["rc"])
    except (ValueError, KeyError, TypeError):
        os.write(fds[2], b"immutable.images warm interpreter: the server did not report the module's status\n")
        rc = 1
    return rc if rc >= 0 else 128 - rc


def delegate(own_dir):
    """Hand this process's pipelined module to the warm server; returns only when it cannot."""
    setting = os.environ.get(ENV_WARM, "")
    socket_path, _sep, interpreter = setting.partition("|")
    if not socket_path or sys.argv != [""] or sys.version_info < (3, 9):
        return
    try:
        if os.path.realpath(sys.executable) != os.path.realpath(interpreter):
            return
    except OSError:
        return
    conn = connect(socket_path)
    if conn is not None:
        os._exit(hand_over(conn, [0, 1, 2], own_dir))


def main():
    own_dir = os.path.dirname(os.path.abspath(__file__))
    try:
        delegate(own_dir)
    finally:
        _chain_sitecustomize(own_dir)
