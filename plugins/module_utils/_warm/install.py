# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Install and start the warm interpreter (server.py, client.py) and the session agent (agent.py) in a builder.

Docker builders: imported by the session relay (relay.py): the builder's connection (connection/docker_session.py)
starts the relay on its first use - relay.start() makes the archive (install_archive(), in that fork of
ansible-playbook) - and the relay installs it (start()) before it starts the agent. Ec2 builders: their connection
(connection/ssh.py, through plugin_utils/_ec2/warm.py) runs start_argv() over SSH with the archive on stdin, and
only the server is used (no session: the SSH connection persists already).
Everything goes to /dev/shm, a tmpfs in every container and instance: nothing of it can end up in a committed image,
a cache layer or an AMI. The session's commands get `connection_env()`; a builder where it cannot be installed runs
its modules the usual way (the connection falls back) - so a failure here costs speed, never correctness.
"""

from __future__ import annotations

import functools
import io
import os
import sys
import tarfile
import time
import zipfile

from ansible_collections.immutable.images.plugins.module_utils._docker import exec_stream as engine_stream
# Imported so that a module payload carries their source, which is what gets installed.
from ansible_collections.immutable.images.plugins.module_utils._warm import agent as session_agent, client as warm_client, server as warm_server  # noqa: F401

WARM_DIR = "/dev/shm/immutable-images-warm"
CLIENT_DIR = WARM_DIR + "/client"
PRELOAD = WARM_DIR + "/preload.zip"


def connection_env(interpreter):
    """Environment for the builder's execs: the client as sitecustomize, and where the server is."""
    return {"PYTHONPATH": CLIENT_DIR, "IMMUTABLE_IMAGES_WARM": "%s|%s" % (socket_path(), interpreter)}


def _source(module):
    """The source of one of our modules, also when it was imported from an AnsiballZ zip."""
    return module.__loader__.get_data(module.__file__)


@functools.lru_cache(maxsize=1)
def socket_path():
    """The server's socket, named after what it serves (ansible-core's version, the server's and the client's code): an
    instance where a server of another controller runs (another ansible-core) gets one of its own, never that one."""
    import hashlib

    from ansible.module_utils.ansible_release import __version__

    digest = hashlib.sha256(__version__.encode("utf-8"))
    for module in (warm_server, warm_client):
        digest.update(_source(module))
    return "%s/warm-%s.sock" % (WARM_DIR, digest.hexdigest()[:12])


_ALWAYS = ("ansible/module_utils/distro/__init__.py", "ansible/module_utils/distro/_distro.py")


def preload_zip():
    """A zip of the ansible.module_utils code this process has loaded (basic and what it imports).

    Taken from the running process, so it is exactly the ansible-core version that builds the
    module payloads: a module never runs against other module_utils than it was built with.
    """
    import ansible.module_utils.basic  # noqa: F401 - the set to preload
    from ansible.module_utils._internal._ansiballz import _loader  # noqa: F401

    files = {}  # path in the zip -> (loader, path to read)
    for module in list(sys.modules.values()):
        path = (getattr(module, "__file__", None) or "").replace(os.sep, "/")
        marker = path.rfind("/ansible/module_utils/")
        if marker < 0 or not path.endswith(".py") or getattr(module, "__loader__", None) is None:
            continue
        # By file, not by module name: ansible.module_utils.distro is registered as another module,
        # so its package's __init__.py is added as a parent of what it loaded.
        name, root = path[marker + 1:], path[:marker + 1]
        for wanted in [name] + _parent_inits(name):
            files.setdefault(wanted, (module.__loader__, root + wanted))
    basic = sys.modules["ansible.module_utils.basic"]
    root = basic.__file__.replace(os.sep, "/")[:-len("ansible/module_utils/basic.py")]
    for name in _ALWAYS:  # a controller may use a system package instead (distro); a builder may not have it
        files.setdefault(name, (basic.__loader__, root + name))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ansible/__init__.py", "")
        for name, (loader, path) in sorted(files.items()):
            try:
                z.writestr(name, loader.get_data(path))
            except OSError:
                continue
    return buf.getvalue()


def _parent_inits(name):
    """ansible/module_utils/a/b.py -> [ansible/module_utils/__init__.py, ansible/module_utils/a/__init__.py]"""
    parts = name.split("/")[:-1]
    return ["/".join(parts[:i]) + "/__init__.py" for i in range(2, len(parts) + 1)]


@functools.lru_cache(maxsize=1)
def install_archive():
    """The tar to extract at /dev/shm: server, client (as sitecustomize) and the preload zip. Made once per process
    (a task that starts several builders starts a session for each)."""
    files = {
        "immutable-images-warm/server.py": _source(warm_server),
        "immutable-images-warm/agent.py": _source(session_agent),  # the builder's end of its connection's session
        "immutable-images-warm/warm_client.py": _source(warm_client),  # for the agent, which hands modules over too
        "immutable-images-warm/client/sitecustomize.py": _source(warm_client) + b"\n\nmain()\n",
        "immutable-images-warm/preload.zip": preload_zip(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in ("immutable-images-warm", "immutable-images-warm/client"):
            info = tarfile.TarInfo(path)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, int(time.time())
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# /dev/shm is a tmpfs mount, which the engine's archive API does not write into: unpack from stdin.
# The same exec then starts the server (which detaches at once): one exec and one interpreter start less.
# A server that answers already (a new session with the same builder) is kept: one server per builder.
_UNPACK_AND_START = ("import io, runpy, socket, sys, tarfile, traceback\n"
                     "tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read())).extractall('/dev/shm')\n"
                     "if not hasattr(socket, 'send_fds'):\n"
                     "    sys.exit(3)\n"
                     "probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                     "try:\n"
                     "    probe.connect(sys.argv[2])\n"
                     "    sys.exit(0)\n"
                     "except OSError:\n"
                     "    pass\n"
                     "finally:\n"
                     "    probe.close()\n"
                     "sys.argv = sys.argv[1:]\n"
                     "try:\n"
                     "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
                     "except SystemExit as e:\n"
                     "    sys.exit(e.code)\n"
                     "except BaseException:\n"
                     "    traceback.print_exc()\n"
                     "    sys.exit(4)\n")


def start_argv(interpreter):
    """The command that unpacks install_archive() (its stdin) and starts the server; run as root. Its exit status and
    output mean what started() says."""
    return [interpreter, "-c", _UNPACK_AND_START, WARM_DIR + "/server.py", socket_path(), PRELOAD]


def started(interpreter, rc, output):
    """{started, reason} of a start_argv() command that ended with rc and printed output (bytes)."""
    said = output.decode("utf-8", "replace").strip()[-300:]
    if rc == 3:
        return {"started": False, "reason": "%s cannot pass file descriptors (Python 3.9 or newer is needed)" % interpreter}
    if rc == 4:
        return {"started": False, "reason": said}
    if rc != 0:
        return {"started": False, "reason": "cannot install it in /dev/shm: %s" % said}
    return {"started": True, "reason": None}


def start(api, container, interpreter, archive):
    """Install and start the server in a running builder (api: exec_stream.EngineAPI or a docker SDK APIClient;
    container: its name or id; archive: install_archive()). Returns {started, reason}."""
    try:
        rc, out, err = engine_stream.run(api, container, start_argv(interpreter), stdin=archive, user="root")
        return started(interpreter, rc, out + err)
    except Exception as e:  # noqa: BLE001 - modules then run the usual way; the caller says so
        return {"started": False, "reason": str(e)}
