# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A warm Python interpreter inside a docker builder: runs pipelined Ansible modules in forked children.

Most of a module's cost in a container is not the module but the interpreter start and the import
of ansible.module_utils (about 0.25 s of 0.3 s). This server imports those once; every module run
is a fork of it. Started by the builder (see warm_interpreter.py), it listens on a unix socket in
/dev/shm (tmpfs: never committed into the image). A client (warm_client.py, loaded as
sitecustomize by the `python3` that Ansible starts for a pipelined module) passes its stdin, stdout
and stderr, environment, working directory and umask; the forked child takes them over, reads the
module from stdin and runs it exactly as `python3` would, and the client exits with its status.

Only the standard library: this file runs on the builder's Python (3.9 or newer for send_fds).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import struct
import sys
import traceback
import types


def _dynamic_path(package):
    """Make a preloaded package also search the same package inside every zip on sys.path.

    A module payload is a zip that the AnsiballZ wrapper puts first on sys.path; a package that is
    already imported (from the preload) only looks in its own __path__, so without this it would
    never find the payload's modules (ansible.modules.*, module_utils the preload lacks).
    """
    parts = package.__name__.split(".")
    base = list(package.__path__)

    class _Path(list):
        def __iter__(self):
            for entry in list(sys.path):
                if entry.endswith(".zip"):
                    yield os.path.join(entry, *parts)
            yield from base

    package.__path__ = _Path(base)


def preload(zip_path, modules=()):
    """Import ansible.module_utils.basic and the AnsiballZ loader from the preload zip (or, on the
    controller, from the installed ansible-core that builds the payloads), and `modules`, once."""
    if zip_path:
        sys.path.append(zip_path)
    try:
        import ansible.module_utils.basic  # warmed for the children
        from ansible.module_utils._internal._ansiballz import _loader  # noqa: F401
    except Exception:  # pragma: no cover - an older or newer ansible-core: children import as usual
        pass
    else:
        _no_idle_wait_in_run_command(ansible.module_utils.basic)
    for name in modules:  # third-party libraries our controller-side modules import (the Docker SDK)
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - not installed: the module reports it as usual
            pass
    for name, module in list(sys.modules.items()):
        if (name == "ansible" or name.startswith("ansible.")) and hasattr(module, "__path__"):
            _dynamic_path(module)


# The selector run_command takes: PollSelector where there is one, else SelectSelector.
_RUN_COMMAND_SELECTOR = "PollSelector" if hasattr(selectors, "PollSelector") else "SelectSelector"


class _SelectorThatEndsWhenEmpty(getattr(selectors, _RUN_COMMAND_SELECTOR)):
    """select() with nothing registered returns no events at once, instead of sleeping out its timeout."""

    def select(self, timeout=None):
        if not self.get_map():
            return []
        return super().select(timeout)


def _no_idle_wait_in_run_command(basic):
    """AnsibleModule.run_command without its one-second stall.

    Its loop reads the command's pipes. When both have ended and the command exits between the loop's two
    cmd.poll() calls, neither call ends the loop, and the next select(1) waits a whole second on a selector with
    nothing left in it (ansible-core 2.19-2.21; measured here in 0 of 600 to 9 of 300 commands, by the day).
    With this selector that select() returns at once, and the loop ends at its next check, as it would have a
    second later. Only basic's own `selectors` name sees the class: no other code of a module is changed.
    """
    if getattr(basic, "selectors", None) is not selectors:
        return  # another ansible-core: its loop is left as it is
    view = types.ModuleType("selectors")
    view.__dict__.update(vars(selectors))
    setattr(view, _RUN_COMMAND_SELECTOR, _SelectorThatEndsWhenEmpty)
    basic.selectors = view


def _refile(code, filename):
    """code (and the functions in it) as compiled from filename: tracebacks name this run's file."""
    consts = tuple(_refile(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


CACHE_ROOM = 16 << 20  # bytes the code cache leaves free in its tmpfs (a container's /dev/shm is 64 MiB)


def _store(path, data):
    """Write a cache entry whole (rename into place) if there is room; never leave a partial one."""
    tmp = "%s.%d" % (path, os.getpid())
    try:
        fs = os.statvfs(os.path.dirname(path))
        if fs.f_bavail * fs.f_frsize < CACHE_ROOM + len(data):
            return
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def cache_zip_compiles(cache_dir):
    """Share compiled module code between the runs, in cache_dir (tmpfs, the server's own).

    zipimport writes no .pyc: every import from a payload zip compiles the source, twice (finding
    the module and loading it), in a child that is gone after one module run. Keyed by the
    source's digest, so a changed module or module_util is compiled anew. Anything unreadable or
    unwritable (a child that became another user) just compiles as before.
    """
    import hashlib
    import importlib.util
    import marshal
    import zipimport

    compile_source = getattr(zipimport, "_compile_source", None)  # CPython 3.8+
    if compile_source is None:
        return
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    except OSError:
        return
    memo = {}

    def cached_compile(pathname, source):
        key = hashlib.sha256(importlib.util.MAGIC_NUMBER + source).hexdigest()
        code = memo.get(key)
        if code is None:
            path = os.path.join(cache_dir, key)
            try:
                with open(path, "rb") as f:
                    code = marshal.load(f)
            except (OSError, EOFError, ValueError, TypeError):
                code = compile_source(pathname, source)
                _store(path, marshal.dumps(code))
            memo[key] = code
        return code if code.co_filename == pathname else _refile(code, pathname)

    zipimport._compile_source = cached_compile


def _run_payload(fds, info, peer_uid, peer_gid):
    """In a forked child: become the client's process and run the module it sent on stdin."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    if peer_uid != os.getuid():
        import pwd

        user = pwd.getpwuid(peer_uid).pw_name
        os.setgroups(os.getgrouplist(user, peer_gid))
        os.setgid(peer_gid)
        os.setuid(peer_uid)
    os.environ.clear()
    os.environ.update(info["env"])
    os.chdir(info["cwd"])
    os.umask(info["umask"])
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    source = sys.stdin.read()
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    sys.argv = [""]
    code = 0
    try:
        exec(compile(source, "<stdin>", "exec"), main.__dict__)
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            sys.stderr.write("%s\n" % (e.code,))
            code = 1
    except BaseException:  # noqa: BLE001 - reported exactly like an interpreter would
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - the reader went away: nothing to flush to
            pass
    os._exit(code & 0xFF)


def _handle(conn):
    """In a forked child per connection: run the payload in a grandchild, send back its status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, gid = struct.unpack("3i", creds)
    info = json.loads(msg.decode("utf-8"))
    pid = os.fork()
    if pid == 0:
        try:
            conn.close()
            _run_payload(fds, info, uid, gid)  # ends the process itself once the module ran
        except BaseException:  # noqa: BLE001 - the set-up failed (user, groups, cwd): a failed module, with its traceback
            os.write(2, traceback.format_exc().encode("utf-8", "replace"))  # fd 2: the client's stderr once taken over
        finally:
            os._exit(1)
    for fd in fds:
        os.close(fd)
    _pid, status = os.waitpid(pid, 0)
    conn.sendall(json.dumps({"rc": os.waitstatus_to_exitcode(status)}).encode("utf-8"))
    conn.close()


def alive(pid):
    """Whether process pid still runs (the one a server, or a helper of one, lives for)."""
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def serve(socket_path, zip_path, parent=None, modules=()):
    """Serve until killed (in a builder: with it) or, given `parent`, until that process is gone."""
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket is for its owner's modules only; become users run the usual way
    if len(os.fsencode(socket_path)) < 100:
        listener.bind(socket_path)
    else:  # too long for a unix socket's address (a long home): client.at_unix_address's way, as this file runs alone
        fd = os.open(os.path.dirname(socket_path), os.O_RDONLY | os.O_DIRECTORY)
        listener.bind("/proc/self/fd/%d/%s" % (fd, os.path.basename(socket_path)))
        os.close(fd)
    os.umask(old)
    listener.listen(16)
    # Listening first: a module that comes during the preload waits for it (it would take as long to
    # import the same itself) instead of starting cold.
    preload(zip_path, modules)
    cache_zip_compiles(os.path.join(os.path.dirname(socket_path), "code"))
    if parent:
        listener.settimeout(1.0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # connection handlers are reaped by the kernel
    while True:
        try:
            conn, _addr = listener.accept()
        except socket.timeout:
            if alive(parent):
                continue
            os.unlink(socket_path)
            return
        conn.settimeout(None)
        if os.fork() == 0:
            listener.close()
            try:
                _handle(conn)
            finally:
                os._exit(0)
        conn.close()


def main(argv=None):
    """server.py SOCKET PRELOAD_ZIP [PARENT_PID [MODULE...]]: an empty PRELOAD_ZIP imports the
    installed ansible-core (the controller's case); the server ends with PARENT_PID."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        sys.stderr.write("usage: server.py SOCKET PRELOAD_ZIP [PARENT_PID [MODULE...]]\n")
        return 2
    socket_path, zip_path = argv[:2]
    parent = int(argv[2]) if len(argv) > 2 else None
    if os.fork():  # detach: the exec that started the server returns at once
        return 0
    os.setsid()
    if parent:  # the controller's server: the build guard stops it, with the modules it runs, on an interrupt
        with open(os.path.join(os.path.dirname(socket_path), "warm.pid"), "w") as f:
            f.write("%d\n" % os.getpid())
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        serve(socket_path, zip_path, parent, argv[3:])
    finally:
        os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
