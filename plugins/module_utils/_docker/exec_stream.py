# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An exec's attached stdin/stdout/stderr on a connection of our own to the engine, on every transport.

The Docker SDK's exec socket (`exec_start(socket=True)`) cannot be trusted beyond a unix socket: over TLS
it is an SSL socket that its readers poll() before each read, so bytes already decrypted into the SSL
buffer are never seen (a session waits forever for a reply that has arrived), and shutting down its
writing side drops the TLS layer (what follows is read as ciphertext). The same happens in
community.docker's docker_api connection (community.docker#605: "No start of json char found").

Here the exec is started on a fresh connection (unix socket, TCP, TLS with the engine's own settings,
or `ssh host docker system dial-stdio` as the docker CLI does for ssh:// engines); the HTTP upgrade is
read byte by byte so no output is swallowed, reads never poll an SSL socket, reads and writes of one
SSL socket never run at the same time, and the end of stdin is a TCP half-close under the TLS layer,
which the engine takes as the end of stdin.

Every exec the collection runs goes through here (exec_in for a docker SDK Container), also the short ones:
the SDK's exec_run breaks over ssh:// engines, where closing its connection writes to an ssh that has
already exited (BrokenPipeError at random, docker/docker-py#3218).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import ssl
import struct
import subprocess
import threading
from urllib.parse import quote

CONNECT_TIMEOUT = 15


class StreamError(Exception):
    """The connection to the engine for an exec failed or broke."""


def _split_url(url):
    scheme, _sep, rest = url.partition("://")
    return scheme, rest


class _SocketTransport:
    """unix://, tcp:// and tcp:// with TLS. One lock keeps reads and writes of an SSL socket apart."""

    def __init__(self, sock, tls=False):
        self.sock, self.tls = sock, tls
        self.lock = threading.Lock()

    def recv(self, n, timeout=None):
        """Up to n bytes; b"" at the end; socket.timeout when nothing came in `timeout` seconds."""
        import select

        if not (self.tls and self.sock.pending()):
            try:
                ready, _w, _x = select.select([self.sock], [], [], timeout)
            except ValueError as e:  # closed by another thread (its fileno is -1): as a read of a closed socket
                raise OSError(errno.EBADF, "the connection was closed") from e
            if not ready:
                raise socket.timeout("no data in %ss" % timeout)
        with self.lock:  # readable: this returns as soon as the record is complete
            try:
                return self.sock.recv(n)
            except ssl.SSLWantReadError:  # a record that carried no data (e.g. a TLS 1.3 ticket)
                return None

    def sendall(self, data):
        with self.lock:
            self.sock.sendall(data)

    def close_write(self):
        with self.lock:
            # Under the TLS layer (SSLSocket.shutdown would drop it): the engine reads the end of stdin.
            socket.socket.shutdown(self.sock, socket.SHUT_WR)

    def close(self):
        for end in (lambda: socket.socket.shutdown(self.sock, socket.SHUT_RDWR), self.sock.close):
            try:
                end()  # the shutdown first: it wakes a reader waiting in select()
            except OSError:
                pass


class _ProcessTransport:
    """ssh:// engines: the docker CLI's way, `ssh [-p port] user@host -- docker system dial-stdio`."""

    def __init__(self, url):
        target = _split_url(url)[1].rstrip("/")
        host, _sep, port = target.rpartition(":") if target.count(":") == 1 else (target, "", "")
        cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % CONNECT_TIMEOUT]
        if port:
            cmd += ["-p", port]
        self.proc = subprocess.Popen(cmd + ["--", host or target, "docker", "system", "dial-stdio"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        self.out = self.proc.stdout.fileno()

    def recv(self, n, timeout=None):
        import select

        ready, _w, _x = select.select([self.out], [], [], timeout)
        if not ready:
            raise socket.timeout("no data in %ss" % timeout)
        return os.read(self.out, n)

    def sendall(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_write(self):
        self.proc.stdin.close()

    def close(self):
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def connect(engine):
    """A transport to the engine described by client.api.immutable_engine ({url, tls})."""
    url, tls = engine["url"], engine.get("tls")
    scheme, rest = _split_url(url)
    try:
        if scheme == "ssh":
            return _ProcessTransport(url)
        if scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect(rest)
            sock.settimeout(None)
            return _SocketTransport(sock)
        host, _sep, port = rest.rstrip("/").rpartition(":")
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT)
        if tls:
            context = ssl.create_default_context(cafile=tls.get("ca_cert") if tls.get("verify") else None)
            if not tls.get("verify"):
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            if tls.get("client_cert"):
                context.load_cert_chain(tls["client_cert"], tls.get("client_key"))
            sock = context.wrap_socket(sock, server_hostname=tls.get("hostname") or host.strip("[]"))
        sock.settimeout(None)
        return _SocketTransport(sock, tls=bool(tls))
    except (OSError, ValueError) as e:
        raise StreamError("cannot connect to the Docker engine at %s: %s" % (url, e))


class ExecStream:
    """A started exec with its stdin and output attached (not a tty: output comes in stream frames)."""

    def __init__(self, api, exec_id):
        self.transport = connect(api.immutable_engine)
        self._buffer = bytearray()
        body = json.dumps({"Detach": False, "Tty": False}).encode("utf-8")
        request = ("POST /v%s/exec/%s/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                   "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: %d\r\n\r\n" % (api._version, exec_id, len(body)))
        try:
            self.transport.sendall(request.encode("ascii") + body)
            head = self._read_head()
        except (OSError, socket.timeout) as e:
            self.close()
            raise StreamError("cannot start exec %s on %s: %s" % (exec_id[:12], api.immutable_engine["url"], e))
        status = head.split(b" ", 2)[1:2]
        if status not in ([b"101"], [b"200"]):
            self.close()
            first_line = head.decode("utf-8", "replace").splitlines()[0]
            raise StreamError("the engine at %s refused exec %s: %s" % (api.immutable_engine["url"], exec_id[:12], first_line))

    @classmethod
    def on_socket(cls, sock):
        """A stream on a socket already attached to an exec (or framed like one, in tests)."""
        stream = cls.__new__(cls)
        stream.transport, stream._buffer = _SocketTransport(sock), bytearray()
        return stream

    def _fill(self, timeout=None):
        data = self.transport.recv(1 << 16, timeout)
        while data is None:
            data = self.transport.recv(1 << 16, timeout)
        self._buffer.extend(data)
        return bool(data)

    def _read_head(self):
        # Only up to the blank line: whatever follows is the exec's output, left in the buffer.
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill(CONNECT_TIMEOUT):
                raise StreamError("the engine closed the connection")
        end = self._buffer.index(b"\r\n\r\n") + 4
        head = bytes(self._buffer[:end])
        del self._buffer[:end]
        return head

    def _have(self, n, timeout):
        while len(self._buffer) < n:
            if not self._fill(timeout):
                return False
        return True

    def frames(self, timeout=None):
        """(stream, data) frames until the end: 1 stdout, 2 stderr. A frame is taken only once whole, so
        after socket.timeout (nothing for `timeout` seconds) a new frames() goes on where this one was."""
        while True:
            if not self._have(8, timeout):
                return
            stream, length = struct.unpack(">BxxxL", bytes(self._buffer[:8]))
            if not self._have(8 + length, timeout):
                return
            data = bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            yield stream, data

    def sendall(self, data):
        self.transport.sendall(data)

    def close_write(self):
        self.transport.close_write()

    def close(self):
        self.transport.close()


class EngineAPI:
    """The engine calls an exec needs besides its stream - create it, ask how it ended - as JSON over HTTP/1.1 on a
    connection of our own (kept open between calls). The session relay uses it instead of the Docker SDK, which it
    would otherwise hold for as long as its builder lives (importing the SDK costs about 39 MB and 0.3 s).

    It has what ExecStream and run() read of an SDK APIClient: immutable_engine ({url, tls}, see engine.py),
    _version, exec_create() and exec_inspect(); errors are StreamError."""

    def __init__(self, engine, timeout=30):
        self.immutable_engine, self.timeout = engine, timeout
        self._transport, self._buffer = None, bytearray()
        self._version = self._call("GET", "/version")["ApiVersion"]  # unversioned: the engine's own, as the SDK asks

    def exec_create(self, container, cmd, stdin=False, stdout=True, stderr=True, user="", environment=None):
        body = {"AttachStdin": bool(stdin), "AttachStdout": bool(stdout), "AttachStderr": bool(stderr), "Tty": False,
                "Cmd": list(cmd), "User": user or ""}
        if environment:
            body["Env"] = ["%s=%s" % item for item in environment.items()]
        return self._call("POST", "/v%s/containers/%s/exec" % (self._version, quote(container, safe="")), body)

    def exec_inspect(self, exec_id):
        return self._call("GET", "/v%s/exec/%s/json" % (self._version, quote(exec_id, safe="")))

    def close(self):
        if self._transport is not None:
            self._transport.close()
        self._transport = None

    def _call(self, method, path, body=None):
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        request = ("%s %s HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                   % (method, path, len(data))).encode("ascii") + data
        url = self.immutable_engine["url"]
        for attempt in (1, 2):
            reused = self._transport is not None
            try:
                if not reused:
                    self._transport, self._buffer = connect(self.immutable_engine), bytearray()
                self._transport.sendall(request)
                status, payload = self._response()
                break
            except (OSError, StreamError) as e:  # socket.timeout is an OSError
                self.close()
                if not reused or attempt == 2:  # a kept connection the engine closed meanwhile is opened again, once
                    raise StreamError("the Docker engine at %s did not answer %s %s: %s" % (url, method, path, e))
        try:
            answer = json.loads(payload) if payload.strip() else {}
        except ValueError:
            answer = {"message": payload.decode("utf-8", "replace")[:300]}
        if status >= 400:
            message = answer.get("message") if isinstance(answer, dict) else None
            raise StreamError("the engine at %s refused %s %s: %s %s" % (url, method, path, status, message or ""))
        return answer

    def _read(self):
        data = self._transport.recv(1 << 16, self.timeout)
        while data is None:  # a TLS record without data
            data = self._transport.recv(1 << 16, self.timeout)
        if not data:
            raise StreamError("the engine closed the connection")
        self._buffer.extend(data)

    def _take(self, n):
        while len(self._buffer) < n:
            self._read()
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _line(self):
        while b"\r\n" not in self._buffer:
            self._read()
        return self._take(self._buffer.index(b"\r\n") + 2)[:-2]

    def _response(self):
        status = int(self._line().split(b" ", 2)[1])
        headers = {}
        for line in iter(self._line, b""):
            name, _sep, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            for size in iter(lambda: int(self._line().split(b";")[0], 16), 0):
                body += self._take(size + 2)[:-2]
            while self._line():  # trailers, up to the blank line
                pass
            return status, bytes(body)
        if "content-length" in headers:
            return status, self._take(int(headers["content-length"]))
        if status in (204, 304) or 100 <= status < 200:
            return status, b""
        try:  # no length: the body ends with the connection
            while True:
                self._read()
        except StreamError:
            pass
        body = bytes(self._buffer)
        self.close()
        return status, body


def run(api, container, cmd, stdin=None, user="", environment=None, liveness=15, stdout=None):
    """(exit code, stdout, stderr) of cmd run in the container, its stdin from `stdin` (bytes, or a binary file read
    in pieces) or none. With `stdout` (a binary file) the output is written there as it comes, and b"" returned:
    a file of any size passes through in pieces, never whole in memory. The output is read once stdin is sent, so a
    command given stdin must not write more than the engine buffers before it has read it all (`cat > path` writes
    nothing).

    Never waits forever: every `liveness` seconds without output the engine is asked whether the exec
    still runs; an engine that does not answer (within the client's timeout) ends it with StreamError.
    """
    exec_id = api.exec_create(container, cmd, stdin=stdin is not None, stdout=True, stderr=True,
                              user=user or "", environment=environment)["Id"]
    stream = ExecStream(api, exec_id)
    outputs = {1: [], 2: []}
    try:
        if hasattr(stdin, "read"):
            for piece in iter(lambda: stdin.read(1 << 20), b""):
                stream.sendall(piece)
            stream.close_write()
        elif stdin is not None:
            stream.sendall(stdin)
            stream.close_write()
        frames = stream.frames(liveness)
        while True:
            try:
                stream_id, data = next(frames)
            except StopIteration:
                break
            except socket.timeout:
                _check_alive(api, exec_id)
                frames = stream.frames(liveness)
                continue
            if stream_id == 1 and stdout is not None:
                stdout.write(data)
            else:
                outputs.setdefault(stream_id, []).append(data)
    except OSError as e:
        raise StreamError("exec in %s on %s broke: %s" % (container, api.immutable_engine["url"], e))
    finally:
        stream.close()
    return _check_alive(api, exec_id, final=True), b"".join(outputs[1]), b"".join(outputs[2])


def _check_alive(api, exec_id, final=False):
    import time

    for _attempt in range(50 if final else 1):
        try:
            info = api.exec_inspect(exec_id)
        except Exception as e:  # noqa: BLE001 - any failure to answer means the engine is gone for us
            raise StreamError("the Docker engine at %s does not answer: %s" % (api.immutable_engine["url"], e))
        if not final or not info.get("Running"):
            return info.get("ExitCode")
        time.sleep(0.02)  # the output has ended; the engine records the exit a moment later
    return info.get("ExitCode")


def exec_in(container, cmd, user=""):
    """run() for a docker SDK Container (its client came from client.get_client): (exit code, stdout, stderr)."""
    return run(container.client.api, container.id, cmd, user=user)
