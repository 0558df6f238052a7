# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The docker builder's dead man's switch: a builder lives only while the controller holds its lease.

The builder's main process is a shell that reads its stdin until end of file (KEEPALIVE below); the
container has StdinOnce and AutoRemove. A small lease process on the controller (hold()) attaches to
that stdin before the container starts and keeps the connection open for as long as ansible-playbook
runs. When every controller process is gone (Ctrl-C, SIGKILL, a killed execution-environment container
or pod, a lost CI runner), the kernel closes the connection, the engine closes the builder's stdin,
the shell exits and the engine removes the container itself: no process of ours is needed for that,
and it works the same on a remote engine. The lease process ends with ansible-playbook or with the
builder, whichever ends first.

A builder kept on purpose (image_on_error: keep) gets KEEP_MARKER first: its shell then stays up
when the lease ends.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys

from ansible_collections.immutable.images.plugins.module_utils._docker import exec_stream as engine_stream

KEEP_MARKER = "/tmp/.immutable-images-keep"
# Any image with /bin/sh. Only the entrypoint is overridden and Cmd stays empty: a commit merges the
# container's config into the image, and the artifact's Entrypoint is always set explicitly.
# The shell is PID 1, so it must reap what dies: a service a role started daemonizes and is re-parented to
# PID 1, and an init script's stop (start-stop-daemon) waits until its pid is gone, which a zombie never is.
# So the stdin reader runs in the background (on a copy of stdin: a background job's own is /dev/null) and
# the shell blocks in `wait` (and `sleep`), which reaps every child, not only its own jobs.
KEEPALIVE = ["/bin/sh", "-c", "exec 3<&0; (while read -r _ <&3; do :; done) & wait; while [ -e %s ]; do sleep 60; done"
             % KEEP_MARKER]
READY = b"attached\n"
ATTACH_TIMEOUT = 60

# Run as `python -c HOLDER ARGS_JSON`: HOLDER is the source of exec_stream.py (standard library only; a module's code
# may live in a zip, so nothing is imported) followed by ATTACH, which attaches to the builder's stdin over a connection
# of its own (exec_stream.connect: unix socket, TCP with TLS, or ssh as the docker CLI does) and then replaces itself
# (exec) with WATCHER, which keeps only that connection's file descriptor. No Docker SDK is ever imported: the lease
# costs one small interpreter per builder. Ending the process still closes the connection, TLS or not: WATCHER only
# waits for it to be readable (the engine sends nothing on a stdin-only attach but its end) and never speaks on it.
ATTACH = r"""
import sys


def attach(args):
    transport = connect({"url": args["url"], "tls": args.get("tls")})
    # Unversioned: the engine's own API version. The head is read byte by byte: nothing after it is taken.
    transport.sendall(("POST /containers/%s/attach?stdin=1&stream=1 HTTP/1.1\r\nHost: docker\r\n"
                       "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
                       % quote(args["container"], safe="")).encode("ascii"))
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        data = transport.recv(1, CONNECT_TIMEOUT)
        if data == b"":
            raise StreamError("the engine at %s closed the connection" % args["url"])
        head += data or b""
    if head.split(b" ", 2)[1:2] not in ([b"101"], [b"200"]):
        raise StreamError("the engine at %s refused to attach: %s"
                          % (args["url"], head.decode("utf-8", "replace").splitlines()[0]))
    return transport


args = json.loads(sys.argv[1])
try:
    transport = attach(args)
except (OSError, StreamError) as e:
    sys.exit(str(e) or type(e).__name__)  # the last line of stderr is what hold() reports
# ssh:// : the stream is the ssh process's stdout, and that ssh stays this process's child across the exec; its stdin is
# kept open too (its end would end the builder's stdin)
ssh = getattr(transport, "proc", None)
held = transport.out if ssh is not None else transport.sock.fileno()
for fd in [held] + ([ssh.stdin.fileno()] if ssh is not None else []):
    os.set_inheritable(fd, True)
os.write(1, b"attached\n")
devnull = os.open(os.devnull, os.O_WRONLY)
os.dup2(devnull, 1)
os.dup2(devnull, 2)  # nobody reads its pipes any more: a late warning must not end it
watcher = args.pop("watcher")
os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", watcher, json.dumps(dict(args, fd=held))])
"""
# What the lease runs as once attached (its command line still names the lease and its container).
WATCHER = r"""# immutable.images builder lease (attached)
import json, os, select, sys
args = json.loads(sys.argv[1])
try:
    watched = [os.pidfd_open(args["pid"])]
except ProcessLookupError:
    sys.exit(0)
except (AttributeError, OSError):
    watched = []
while True:  # until ansible-playbook ends or the builder does (its end closes the connection)
    if select.select([args["fd"]] + watched, [], [], 2.0)[0]:
        break
    if not watched:
        try:
            os.kill(args["pid"], 0)
        except ProcessLookupError:
            break
"""


class LeaseError(Exception):
    pass


def hold(container_id, watch_pid, engine):
    """Start the lease process for container `container_id` (created, not started) watching ansible-playbook
    `watch_pid`; return once it is attached. engine: {url, tls} as docker_client.get_client resolved them
    (client.api.immutable_engine), so the lease reaches the builder's engine as the build does.
    Raises LeaseError if it could not attach."""
    # exec_stream's own source, also when it was imported from an AnsiballZ zip
    holder = "# immutable.images builder lease\n" + engine_stream.__loader__.get_data(engine_stream.__file__).decode("utf-8")
    holder += ATTACH
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", holder, json.dumps({"container": container_id, "pid": watch_pid,
                                                               "watcher": WATCHER, "url": engine["url"],
                                                               "tls": engine.get("tls")})],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
        start_new_session=True,  # a terminal's Ctrl-C must not end it before the cleanup has run
    )
    ready = select.select([proc.stdout], [], [], ATTACH_TIMEOUT)[0] and proc.stdout.readline() == READY
    proc.stdout.close()
    if not ready:
        proc.kill()
        error = proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
        proc.wait()
        raise LeaseError(error[-1] if error else "no answer within %d s" % ATTACH_TIMEOUT)
    proc.stderr.close()  # its later errors have nobody to read them
    return proc.pid


def mark_kept(container):
    """Let `container` (a docker SDK Container) outlive its lease. True if the marker was written."""
    try:
        return engine_stream.exec_in(container, ["/bin/sh", "-c", "touch %s" % KEEP_MARKER], user="root")[0] == 0
    except Exception:  # noqa: BLE001 - a builder that cannot be kept is reported by the caller
        return False
