# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A persistent session per docker builder: one relay process on the controller, one agent in the builder.

Ansible runs every task in a new worker process, so a connection cannot keep anything between tasks.
The relay can: started by the builder's connection (connection/docker_session.py, the only user of this
package) on its first use, one per builder and user, per ansible-playbook run, it first installs the warm
interpreter and the agent in the builder (install.py), then holds ONE `docker exec` of the agent
(module_utils/_warm/agent.py) and listens on a unix socket in ansible-playbook's private temporary
directory. Each task's connection sends its command there and gets the result back - no exec to create,
start and inspect, no Docker SDK to import.

The relay ends when the agent's exec ends (the builder was removed or replaced), when it is told to
(stop()), or when ansible-playbook is gone. It creates nothing on the engine but those two execs.
When it cannot start (the builder's Python is older than 3.9, no /dev/shm, ...), it leaves the reason in
a file next to its socket for the next command of the builder, which then runs the docker_api way.

Run as a script (by start()), this file is the relay; imported, it is the client side.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading

# The agent's module is the protocol's one definition (pack_frame/read_frame), on both ends.
from ansible_collections.immutable.images.plugins.module_utils._warm import agent as session_agent
from ansible_collections.immutable.images.plugins.module_utils._warm import client as warm_client

AGENT = "/dev/shm/immutable-images-warm/agent.py"  # installed with the warm interpreter
START_TIMEOUT = 20
# The relay's own limit for installing the agent and hearing its hello: longer than a starter waits (START_TIMEOUT),
# so that on a loaded machine a relay started in the background still comes up for the builder's later tasks; and
# finite, since the relay holds the lock the builder's next command waits for until it listens or gives up.
PREPARE_TIMEOUT = 120
# Liveness: the relay pings the agent this often and ends the session when nothing came back for this long,
# so that a task on a dead engine or a broken connection fails instead of waiting forever.
PING_INTERVAL = 5
PING_PATIENCE = 30


def _now():
    import time

    return time.monotonic()


class SessionUnavailable(Exception):
    """The relay could not be started or reached, or did not pass the request on: safe to try otherwise."""


class SessionBroken(Exception):
    """The relay went away during a request: whether the command ran is unknown."""


def socket_path(tmp_dir, container, user):
    """The relay's socket for this builder and user (short: unix socket paths are limited to 107 bytes)."""
    digest = hashlib.sha256(("%s\0%s" % (container, user or "")).encode("utf-8")).hexdigest()[:16]
    return os.path.join(tmp_dir, "ii-%s.sock" % digest)


def _reader(sock):
    def read_exactly(n):
        chunks, left = [], n
        while left:
            chunk = sock.recv(min(left, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    return read_exactly


def request(path, header, payload=b""):
    """Send one request to the relay at path; returns (reply header, reply payload)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            warm_client.at_unix_address(path, conn.connect)
        except OSError as e:
            raise SessionUnavailable("no session relay at %s: %s" % (path, e))
        conn.sendall(session_agent.pack_frame(header, payload))
        frame = session_agent.read_frame(_reader(conn))
    finally:
        conn.close()
    if frame is None:
        raise SessionBroken("the session relay at %s closed without an answer" % path)
    if frame[0].get("unsent"):  # the relay was ending and did not pass the request on: safe to retry
        raise SessionUnavailable(frame[0]["error"])
    return frame


def stop(path):
    """End the relay at path (if any) and forget a fallback: the builder's next command starts a new session."""
    try:
        request(path, {"op": "stop"})
    except (SessionUnavailable, SessionBroken, OSError):
        pass
    for left in (path + ".fallback", path + ".failed"):
        try:
            os.unlink(left)
        except OSError:
            pass


def settle(path):
    """Return once no relay for path is starting. A relay holds path.lock from its start until it listens or gives up
    (PREPARE_TIMEOUT), and meanwhile makes execs in the builder. Whoever pauses the builder (a commit pauses it) settles
    first: an exec that the engine starts while the container is paused deadlocks it, the engine's resume waiting for
    the exec and the exec for the resume (seen in CI: the builder stayed paused, every call about it hung)."""
    import fcntl

    try:
        lock = open(path + ".lock", "r")
    except OSError:
        return  # none was ever started
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # until the relay's copy is released; ours goes with the close


def _failed(path):
    """Why the last relay started for path did not come up (it says so in path.failed), or None; read once."""
    try:
        with open(path + ".failed") as f:
            reason = f.read().strip()
        os.unlink(path + ".failed")
    except OSError:
        return None
    return reason or "it exited"


def _answers(path):
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        warm_client.at_unix_address(path, conn.connect)
        conn.close()
        return True
    except OSError:
        return False


def start(path, container, user, env, interpreter, docker_host, wait=True, tls=None):
    """Start the relay for a builder unless one answers at path. Raises SessionUnavailable.

    The relay installs the warm interpreter and the agent for `interpreter` (the builder's Python) first.
    wait=False only starts it (to overlap its start with other work); the relay holds the lock until
    it listens, so whoever needs it next waits for exactly that, and learns why when it did not start.
    """
    import base64
    import fcntl
    import json
    import select

    lock = open(path + ".lock", "a")
    try:
        try:  # two tasks on one builder at once start one relay
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # without waiting: one is starting (it holds the lock until it listens); the next command waits for it
        if _answers(path):
            return
        failed = _failed(path)  # a relay started without waiting did not come up: do not try again
        if failed:
            raise SessionUnavailable("the session relay for %s did not start: %s" % (container, failed))
        if os.path.exists(path):
            os.unlink(path)  # left by a relay that was killed
        read_end, write_end = os.pipe()
        # The relay imports the collection's module_utils: put the directory holding ansible_collections on its path.
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 6))
        relay_env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        relay = subprocess.Popen([sys.executable, os.path.abspath(__file__)], env=relay_env,
                                 pass_fds=(write_end, lock.fileno()), start_new_session=True, stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write_end)
        # On stdin, not in argv: extra_env may hold secrets that `ps` would show. The install archive is made here, in
        # a fork of ansible-playbook that has ansible's module_utils loaded already: the relay, which lives as long as
        # its builder, never loads them (about 6 MB).
        from ansible_collections.immutable.images.plugins.module_utils._warm import install

        config = dict(path=path, container=container, user=user or "", interpreter=interpreter,
                      docker_host=docker_host or "", tls=tls or None, parent_pid=os.getppid(), env=env,
                      status_fd=write_end, lock_fd=lock.fileno(),
                      install_archive=base64.b64encode(install.install_archive()).decode("ascii"))
        relay.stdin.write(json.dumps(config).encode("utf-8"))
        relay.stdin.close()
        if not wait:
            os.close(read_end)
            return
        with os.fdopen(read_end, "rb") as status:
            ready, _w, _x = select.select([status], [], [], START_TIMEOUT)
            answer = status.readline().decode("utf-8", "replace").strip() if ready else "no answer in %ss" % START_TIMEOUT
        if answer != "ready":
            _failed(path)  # told here: not again to the next command
            raise SessionUnavailable("the session relay for %s did not start: %s" % (container, answer or "it exited"))
    finally:
        lock.close()  # the relay's copy keeps the lock until it listens (or fails)


# --- the relay process ---------------------------------------------------------------------------------


class Relay:
    """Forwards framed requests from many local clients over one exec stream, matched by id."""

    def __init__(self, path, stream, proto, engine=""):
        self.path, self.stream, self.proto, self.engine = path, stream, proto, engine
        self.lock = threading.Lock()
        self.pending = {}  # id -> [event, reply]
        self.next_id = 1
        self.closed = False
        self.reason = "the builder was removed or stopped"
        self.last_heard = _now()

    def _agent_frames(self):
        buf = bytearray()

        def read_exactly(n):
            while len(buf) < n:
                try:
                    _stream, data = next(stream)
                except (StopIteration, OSError):  # the end, or the stream closed by shutdown()
                    return None
                buf.extend(data)  # stdout only: the agent writes nothing else there
            out = bytes(buf[:n])
            del buf[:n]
            return out

        stream = (f for f in self.stream.frames() if f[0] == 1)
        return read_exactly

    def read_agent(self, read_exactly):
        """Thread: dispatch the agent's replies; when its stream ends, end the relay."""
        while True:
            frame = self.proto.read_frame(read_exactly)
            if frame is None:
                break
            self.last_heard = _now()
            with self.lock:
                waiter = self.pending.pop(frame[0].get("id"), None)
            if waiter:
                waiter[1] = frame
                waiter[0].set()
        self.shutdown()

    def keep_alive(self):
        """Thread: ping the agent; no frame at all for PING_PATIENCE seconds ends the session."""
        import time

        while not self.closed:
            time.sleep(PING_INTERVAL)
            if _now() - self.last_heard > PING_PATIENCE:
                self.shutdown("nothing came from the builder through the engine at %s for %ss" % (self.engine, PING_PATIENCE))
                return
            try:
                with self.lock:
                    if not self.closed:
                        self._send_agent(self.proto.pack_frame({"op": "ping", "id": "ping"}))
            except OSError as e:
                self.shutdown("the connection to the engine at %s broke: %s" % (self.engine, e))
                return

    def serve_client(self, conn):
        try:
            frame = self.proto.read_frame(_reader(conn))
            if frame is None:
                return
            header, payload = frame
            if header.get("op") == "stop":
                self.shutdown()
                conn.sendall(self.proto.pack_frame({"stopped": True}))
                return
            waiter = [threading.Event(), None]
            with self.lock:
                if self.closed:
                    conn.sendall(self.proto.pack_frame({"error": "the builder's session has ended", "unsent": True}))
                    return
                header["id"], self.next_id = self.next_id, self.next_id + 1
                self.pending[header["id"]] = waiter
                self._send_agent(self.proto.pack_frame(header, payload))
            waiter[0].wait()
            reply = waiter[1] or ({"error": "the session with the builder on the Docker engine at %s ended during the request: %s"
                                            % (self.engine, self.reason)}, b"")
            conn.sendall(self.proto.pack_frame(*reply))
        except OSError:
            pass  # the task's worker went away (killed): nothing to answer
        finally:
            conn.close()

    def _send_agent(self, data):
        self.stream.sendall(data)

    def shutdown(self, reason=None):
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.reason = reason or self.reason
            waiters, self.pending = list(self.pending.values()), {}
        try:
            os.unlink(self.path)
        except OSError:
            pass
        for waiter in waiters:
            waiter[0].set()
        self.stream.close()


def _watch_parent(parent_pid, relay):
    import time

    from ansible_collections.immutable.images.plugins.module_utils._warm.server import alive

    while not relay.closed:
        if not alive(parent_pid):
            relay.shutdown()
            os._exit(0)
        time.sleep(1)


def listen(path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the controller user's own: the socket runs commands in the builder
    try:
        warm_client.at_unix_address(path, listener.bind)
    finally:
        os.umask(old)
    listener.listen(16)
    listener.settimeout(1.0)  # to notice the end of the session
    return listener


def serve(relay, read_exactly, listener):
    """Until the session ends: answer the agent's frames and every client, each in a thread."""
    threading.Thread(target=relay.read_agent, args=(read_exactly,), daemon=True).start()
    while not relay.closed:
        try:
            conn, _addr = listener.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        conn.settimeout(None)
        threading.Thread(target=relay.serve_client, args=(conn,), daemon=True).start()
    listener.close()


def _report(status, line):
    try:
        status.write(line + "\n")
        status.close()
    except BrokenPipeError:
        pass  # started with wait=False: nobody reads it


def _prepare(api, container, user, interpreter, env, archive):
    """Install the warm interpreter and the agent in the builder (archive: install.install_archive()) and create the
    agent's exec (not started): its id."""
    from ansible_collections.immutable.images.plugins.module_utils._warm import install

    warm = install.start(api, container, interpreter, archive)
    if not warm["started"]:
        raise SessionUnavailable("the warm interpreter did not start: %s" % warm["reason"])
    return api.exec_create(container, [interpreter, AGENT], stdin=True, stdout=True, stderr=True, user=user or "",
                           environment=dict(env, **install.connection_env(interpreter)))["Id"]


def run_relay(status_fd, lock_fd, path, container, user, interpreter, docker_host, parent_pid, env, install_archive,
              tls=None):
    import base64
    import signal

    from ansible_collections.immutable.images.plugins.module_utils._docker import exec_stream as engine_stream
    from ansible_collections.immutable.images.plugins.module_utils._docker.engine import engine_url, tls_settings

    def took_too_long(_signum, _frame):
        raise SessionUnavailable("installing the agent and starting it took more than %d s" % PREPARE_TIMEOUT)

    status = os.fdopen(status_fd, "w")
    signal.signal(signal.SIGALRM, took_too_long)
    signal.alarm(PREPARE_TIMEOUT)
    try:
        # The engine's API on a connection of our own, not the Docker SDK: the relay lives as long as its builder,
        # and the SDK's modules would stay in its memory all that time. Our own exec stream too: the SDK's socket
        # hangs over TLS (see engine_stream.py).
        api = engine_stream.EngineAPI({"url": engine_url(docker_host), "tls": tls_settings(docker_host, tls)})
        try:
            exec_id = _prepare(api, container, user, interpreter, env, base64.b64decode(install_archive))
        finally:
            api.close()  # what follows is the agent's stream alone (for ssh:// engines, one ssh less)
        relay = Relay(path, engine_stream.ExecStream(api, exec_id), session_agent, api.immutable_engine["url"])
        read_exactly = relay._agent_frames()
        hello = session_agent.read_frame(read_exactly)
        if hello is None or "hello" not in hello[0]:
            raise SessionUnavailable("the agent did not start (%s %s)" % (interpreter, AGENT))
        signal.alarm(0)
        listener = listen(path)
    except Exception as e:  # noqa: BLE001 - told to the starting task (or, started without waiting, to the next one)
        signal.alarm(0)
        with open(path + ".failed", "w") as f:
            f.write(str(e) or type(e).__name__)
        _report(status, str(e))
        return 1
    finally:
        os.close(lock_fd)  # listening (or failed): whoever waits for the lock goes on
    _report(status, "ready")
    threading.Thread(target=_watch_parent, args=(parent_pid, relay), daemon=True).start()
    threading.Thread(target=relay.keep_alive, daemon=True).start()
    serve(relay, read_exactly, listener)
    return 0


if __name__ == "__main__":
    import json

    sys.exit(run_relay(**json.loads(sys.stdin.read())))
