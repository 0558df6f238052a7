# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The in-builder end of a docker builder session (see plugins/module_utils/_warm/relay.py).

One `docker exec` starts this agent with stdin and stdout attached, and it stays for the whole build:
every command, file upload and fetch of the builder's connection arrives as a frame on stdin and is
answered by a frame on stdout, so a task no longer pays for an exec of its own (create, start,
inspect: about 75 ms each on a local engine). Commands run as `/bin/sh -c CMD` children of the agent,
exactly as an exec would run them: same user, environment and working directory.

Installed next to the warm interpreter under /dev/shm (never committed). Only the standard library,
it runs on the builder's Python.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading

_HEAD = struct.Struct(">II")  # header length, payload length


def pack_frame(header, payload=b""):
    """One frame: two lengths, a JSON header, the raw payload."""
    head = json.dumps(header).encode("utf-8")
    return _HEAD.pack(len(head), len(payload)) + head + payload


def read_frame(read_exactly):
    """(header, payload) of the next frame from read_exactly(n), or None at the end of the stream."""
    lengths = read_exactly(_HEAD.size)
    if lengths is None or len(lengths) < _HEAD.size:
        return None
    head_len, payload_len = _HEAD.unpack(lengths)
    head = read_exactly(head_len)
    payload = read_exactly(payload_len) if payload_len else b""
    if head is None or len(head) < head_len or payload is None or len(payload) < payload_len:
        return None
    return json.loads(head.decode("utf-8")), payload


def run_command(header, payload):
    """An exec: `executable -c cmd`, stdin from the payload (or none), both outputs captured.

    header["warm"] says that cmd only starts the warm interpreter's Python on a pipelined module:
    the module then goes to the warm server directly when it answers.
    """
    if header.get("warm"):
        reply = run_warm_module(payload)
        if reply is not None:
            return reply
    stdin = subprocess.PIPE if header.get("stdin") else subprocess.DEVNULL
    proc = subprocess.Popen([header.get("executable") or "/bin/sh", "-c", header["cmd"]], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
    out, err = proc.communicate(payload if header.get("stdin") else None)
    rc = proc.returncode
    return {"rc": rc if rc >= 0 else 128 - rc, "stdout": len(out)}, out + err


def _warm_client():
    try:
        import warm_client  # in the builder: installed next to this agent
    except ImportError:  # on the controller (tests)
        from ansible_collections.immutable.images.plugins.module_utils._warm import client as warm_client
    return warm_client


def run_warm_module(payload):
    """A pipelined module straight to the warm server: what `/bin/sh -c python3` and the warm client
    would do, without starting either. None when the server does not answer (run it the usual way)."""
    client = _warm_client()
    socket_path = os.environ.get(client.ENV_WARM, "").partition("|")[0]
    conn = client.connect(socket_path) if socket_path and hasattr(socket, "send_fds") else None
    if conn is None:
        return None
    pipes = [os.pipe() for _stream in range(3)]
    theirs = [pipes[0][0], pipes[1][1], pipes[2][1]]  # the module's stdin, stdout, stderr
    outputs = [[], []]

    def feed(fd):
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(payload)
        except OSError:
            pass  # the module ended without reading all of it, as it may

    def drain(fd, chunks):
        with os.fdopen(fd, "rb") as stream:
            chunks.append(stream.read())

    threads = [threading.Thread(target=feed, args=(pipes[0][1],)),
               threading.Thread(target=drain, args=(pipes[1][0], outputs[0])),
               threading.Thread(target=drain, args=(pipes[2][0], outputs[1]))]
    for thread in threads:
        thread.start()
    try:
        rc = client.hand_over(conn, theirs, os.path.join(os.path.dirname(os.path.abspath(__file__)), "client"))
    finally:
        for fd in theirs:  # the module has ended: the drains see the end of its output, a blocked feed an error
            os.close(fd)
    for thread in threads:
        thread.join()
    out, err = outputs[0][0], outputs[1][0]
    return {"rc": rc, "stdout": len(out)}, out + err


def put_file(header, payload):
    """Write a file as the agent's user (the connection's user), with the mode the controller sent."""
    path, mode = header["path"], int(header.get("mode", 0o600))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(payload)
    os.chmod(path, mode)
    return {"rc": 0}, b""


def fetch_file(header, _payload):
    """The file, or {"large": true} and nothing when it is larger than the controller's limit: it then fetches the
    file through an exec of its own, in pieces (a reply holds the whole file in memory)."""
    with open(header["path"], "rb") as f:
        if os.fstat(f.fileno()).st_size > header.get("limit", float("inf")):
            return {"rc": 0, "large": True}, b""
        return {"rc": 0}, f.read()


def ping(_header, _payload):
    """The relay's liveness check: an answer shows that the builder and the engine's stream still work."""
    return {"rc": 0}, b""


OPS = {"exec": run_command, "put": put_file, "fetch": fetch_file, "ping": ping}


def handle(header, payload, send):
    try:
        reply, data = OPS[header["op"]](header, payload)
    except OSError as e:
        reply, data = {"error": "%s: %s" % (e.strerror or e, e.filename or header.get("path", "")),
                       "missing": isinstance(e, FileNotFoundError)}, b""
    except Exception as e:  # noqa: BLE001 - reported to the controller, the agent keeps serving
        reply, data = {"error": "%s: %s" % (type(e).__name__, e)}, b""
    reply["id"] = header.get("id")
    send(reply, data)


def main():
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    lock = threading.Lock()

    def send(header, payload=b""):
        frame = pack_frame(header, payload)
        with lock:
            sink.write(frame)
            sink.flush()

    send({"id": 0, "hello": os.getpid()})
    while True:
        frame = read_frame(source.read)
        if frame is None:
            return 0  # the controller's end went away; requests in flight finish first (not daemons)
        threading.Thread(target=handle, args=(frame[0], frame[1], send)).start()


if __name__ == "__main__":
    sys.exit(main())
