# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""exec_stream.EngineAPI, the engine calls of the session relay without the Docker SDK: on the real engine (an exec
created, run through its own stream, inspected; the engine's refusal as the error), and the three ways an HTTP
body can end, against a local server that answers with each. Every name starts with arch-unit-."""

from __future__ import annotations

import io
import os
import socket
import threading
import uuid

import pytest

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker import exec_stream
from ansible_collections.immutable.images.plugins.module_utils._docker.builder import DockerBuilder
from ansible_collections.immutable.images.plugins.module_utils._docker.engine import engine_url

BASE_IMAGE = os.environ.get("IMMUTABLE_BASE_IMAGE", "immutable-images/debian-python:bookworm")


@pytest.mark.docker
def test_an_exec_on_the_engine_without_the_sdk(client):
    name = "arch-unit-%s" % uuid.uuid4().hex[:8]
    builder = DockerBuilder(client)
    builder.launch(name, BASE_IMAGE, {naming.LABEL_BUILD_ID: name}, pull="never")
    api = exec_stream.EngineAPI({"url": engine_url(), "tls": None})
    try:
        assert api._version == client.api._retrieve_server_version()  # what the SDK would have used
        rc, out, err = exec_stream.run(api, name, ["sh", "-c", "cat; echo \"$GREETING\" >&2; exit 3"], stdin=b"in\n",
                                       environment={"GREETING": "hello there"})
        assert (rc, out, err) == (3, b"in\n", b"hello there\n")
        # a file in and out in pieces (more than one piece of 1 MiB each way), never whole in memory; an exec that
        # reads stdin writes no output meanwhile (the output is read once stdin is sent), as the connection's do
        data = os.urandom(3 << 20) + b"end"
        assert exec_stream.run(api, name, ["sh", "-c", "cat > /tmp/piece"], stdin=io.BytesIO(data)) == (0, b"", b"")
        back = io.BytesIO()
        assert exec_stream.run(api, name, ["cat", "/tmp/piece"], stdout=back) == (0, b"", b"")
        assert back.getvalue() == data
        # the kept connection serves the next call; one the engine dropped is opened again
        api._transport.close()
        assert exec_stream.run(api, name, ["true"]) == (0, b"", b"")
        with pytest.raises(exec_stream.StreamError, match="refused POST .*arch-unit-gone.* 404 .*No such container"):
            api.exec_create("arch-unit-gone-" + name, ["true"])
    finally:
        api.close()
        builder.remove(name)


def test_no_engine_is_a_stream_error_that_names_it(tmp_path):
    with pytest.raises(exec_stream.StreamError, match="engine at unix://%s/nothing.sock did not answer GET /version" % tmp_path):
        exec_stream.EngineAPI({"url": "unix://%s/nothing.sock" % tmp_path, "tls": None})


@pytest.fixture
def engine_answering(tmp_path):
    """A unix socket server that answers each request with the next of `answers` (raw HTTP responses)."""
    path, answers, requests = str(tmp_path / "engine.sock"), [], []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(4)

    def serve():
        while answers:
            conn, _addr = listener.accept()
            with conn:
                while answers:
                    data = conn.recv(65536)
                    if not data:
                        break
                    requests.append(data)
                    answer, close = answers.pop(0)
                    conn.sendall(answer)
                    if close:
                        break

    def start(*responses):
        answers.extend(responses)
        threading.Thread(target=serve, daemon=True).start()
        return {"url": "unix://" + path, "tls": None}, requests

    yield start
    listener.close()


def test_the_three_ways_a_body_ends(engine_answering):
    version = b'{"ApiVersion": "1.41"}'
    engine, requests = engine_answering(
        (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(version), version), False),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{\"Id\":\r\n7\r\n \"abc\"}\r\n0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"Running\": false, \"ExitCode\": 0}", True),
        (b"HTTP/1.1 409 Conflict\r\nContent-Length: 34\r\n\r\n{\"message\": \"container is paused\"}", False),
    )
    api = exec_stream.EngineAPI(engine)
    assert api._version == "1.41"
    assert api.exec_create("arch-unit-x", ["true"], environment={"A": "1"}) == {"Id": "abc"}
    assert b"POST /v1.41/containers/arch-unit-x/exec " in requests[1] and b'"Env": ["A=1"]' in requests[1]
    assert api.exec_inspect("abc") == {"Running": False, "ExitCode": 0}
    assert api._transport is None  # the body ended with the connection
    with pytest.raises(exec_stream.StreamError, match="refused GET /v1.41/exec/abc/json: 409 container is paused"):
        api.exec_inspect("abc")
    api.close()


def test_a_read_of_a_connection_another_thread_closed_is_an_os_error():
    # The relay's reader takes an OSError as the end of its stream; a closed socket's select() raises ValueError.
    ours, theirs = socket.socketpair()
    transport = exec_stream._SocketTransport(ours)
    ours.close()
    try:
        with pytest.raises(OSError, match="closed"):
            transport.recv(16, timeout=1)
    finally:
        theirs.close()
