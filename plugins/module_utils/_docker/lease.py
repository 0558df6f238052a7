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

# Run as `python -c HOLDER ARGS_JSON` (a module's code may live in a zip: nothing here is imported).
# HOLDER attaches with the Docker SDK, then replaces itself (exec) with WATCHER, which keeps only the attached
# connection's file descriptor: the SDK's modules, about 25 MB per builder, are not held for the whole build.
# Ending the process still closes the connection, TLS or not: WATCHER only waits for it to be readable (the engine
# sends nothing on a stdin-only attach but its end) and never speaks on it.
HOLDER = r"""# immutable.images builder lease
import json, os, sys
import docker
args = json.loads(sys.argv[1])
url, tls = args["url"], args.get("tls")
# The engine's CA, not the environment's: requests lets these replace a session's CA (docker_client.py).
for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(name, None)
kwargs = dict(base_url=url, version="auto", timeout=60)
if tls:
    cert = (tls["client_cert"], tls["client_key"]) if tls.get("client_cert") else None
    kwargs.update(base_url="https://" + url.split("://", 1)[1],
                  tls=docker.tls.TLSConfig(client_cert=cert, ca_cert=tls.get("ca_cert"), verify=bool(tls.get("verify"))))
elif url.startswith("ssh://"):
    kwargs["use_ssh_client"] = True
client = docker.DockerClient(**kwargs)
if tls and tls.get("hostname"):  # the name on the engine's certificate, as docker_client.py checks it
    import requests.adapters

    class NamedHostAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *a, **kw):
            kw.update(assert_hostname=tls["hostname"], server_hostname=tls["hostname"])
            return super().init_poolmanager(*a, **kw)

    client.api.mount("https://", NamedHostAdapter())
sock = client.api.attach_socket(args["container"], params={"stdin": 1, "stream": 1})
# ssh:// (the ssh binary): the SDK's socket is a stand-in that is never connected (always "readable"); the stream is
# the ssh process's stdout, and that ssh process stays this process's child across the exec
ssh = getattr(sock, "proc", None)
held = (ssh.stdout if ssh is not None else sock).fileno()
# kept open across the exec: the connection, and ssh's stdin (its end would end the builder's stdin)
for fd in [held] + ([ssh.stdin.fileno()] if ssh is not None and ssh.stdin else []):
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
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, json.dumps({"container": container_id, "pid": watch_pid, "watcher": WATCHER,
                                                   "url": engine["url"], "tls": engine.get("tls")})],
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
