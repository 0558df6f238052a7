# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The builder session without an engine: the agent's operations, and the relay in front of a real agent
process whose output is framed the way the engine frames an exec's stream."""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from ansible_collections.immutable.images.plugins.module_utils._docker import exec_stream as engine_stream
from ansible_collections.immutable.images.plugins.module_utils._warm import agent as session_agent
from ansible_collections.immutable.images.plugins.module_utils._warm import relay as docker_session


def test_frames_round_trip_and_a_cut_stream_ends_them():
    data = session_agent.pack_frame({"op": "exec", "cmd": "true"}, b"\x00payload")
    pos = [0]

    def read_exactly(n):
        chunk = data[pos[0]:pos[0] + n]
        pos[0] += n
        return chunk

    assert session_agent.read_frame(read_exactly) == ({"op": "exec", "cmd": "true"}, b"\x00payload")
    assert session_agent.read_frame(read_exactly) is None
    pos[0] = 0
    data = data[:-3]
    assert session_agent.read_frame(read_exactly) is None


def test_an_exec_returns_status_and_both_outputs_apart():
    reply, data = session_agent.run_command({"cmd": "cat; echo err >&2; exit 3", "stdin": True}, b"in")
    assert reply["rc"] == 3 and data[:reply["stdout"]] == b"in" and data[reply["stdout"]:] == b"err\n"
    reply, data = session_agent.run_command({"cmd": "kill -TERM $$", "stdin": False}, b"")
    assert reply["rc"] == 143  # killed by a signal: the shell's convention, as an exec reports it


def test_put_and_fetch(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old and longer")
    os.chmod(target, 0o644)
    assert session_agent.put_file({"path": str(target), "mode": 0o600}, b"new") == ({"rc": 0}, b"")
    assert target.read_bytes() == b"new" and (target.stat().st_mode & 0o777) == 0o600
    assert session_agent.fetch_file({"path": str(target)}, b"") == ({"rc": 0}, b"new")
    # larger than the controller's limit: not read, the controller fetches it in pieces through an exec of its own
    assert session_agent.fetch_file({"path": str(target), "limit": 3}, b"") == ({"rc": 0}, b"new")
    assert session_agent.fetch_file({"path": str(target), "limit": 2}, b"") == ({"rc": 0, "large": True}, b"")
    sent = []
    session_agent.handle({"id": 7, "op": "fetch", "path": str(tmp_path / "none")}, b"", lambda h, p=b"": sent.append(h))
    assert sent[0]["id"] == 7 and sent[0]["missing"] is True and "none" in sent[0]["error"]


class FakeExec:
    """The agent as a local process; its stdout reaches the relay framed as the engine frames an exec."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, session_agent.__file__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self.relay_end, engine_end = socket.socketpair()
        threading.Thread(target=self._out, args=(engine_end,), daemon=True).start()
        threading.Thread(target=self._in, args=(engine_end,), daemon=True).start()

    def _out(self, sock):
        while True:
            data = os.read(self.proc.stdout.fileno(), 65536)
            if not data:
                sock.shutdown(socket.SHUT_WR)
                return
            sock.sendall(struct.pack(">BxxxL", 1, len(data)) + data)

    def _in(self, sock):
        while True:
            data = sock.recv(65536)
            if not data:
                self.proc.stdin.close()
                return
            self.proc.stdin.write(data)
            self.proc.stdin.flush()


@pytest.fixture
def relay(tmp_path):
    fake = FakeExec()
    path = docker_session.socket_path(str(tmp_path), "builder", "root")
    relay = docker_session.Relay(path, engine_stream.ExecStream.on_socket(fake.relay_end), session_agent)
    read_exactly = relay._agent_frames()
    assert "hello" in session_agent.read_frame(read_exactly)[0]
    server = threading.Thread(target=docker_session.serve, args=(relay, read_exactly, docker_session.listen(path)))
    server.start()
    yield path, fake
    docker_session.stop(path)
    server.join(5)
    fake.proc.kill()


def exec_(path, cmd, stdin=None):
    return docker_session.request(path, {"op": "exec", "cmd": cmd, "stdin": stdin is not None}, stdin or b"")


def test_requests_at_once_are_answered_each_with_its_own_result(relay):
    path, _fake = relay
    results = {}

    def run(name, cmd):
        results[name] = (exec_(path, cmd), time.monotonic())

    slow = threading.Thread(target=run, args=("slow", "sleep 0.5; echo slow"))
    slow.start()
    time.sleep(0.1)
    run("fast", "echo fast")
    slow.join()
    assert results["slow"][0][1] == b"slow\n"
    assert results["fast"][1] < results["slow"][1]  # not queued behind the slow one
    assert exec_(path, "cat", b"x" * 3000000)[1] == b"x" * 3000000  # bigger than any one read


def test_stop_ends_the_relay_and_a_later_request_is_safe_to_retry(relay):
    path, _fake = relay
    assert exec_(path, "echo ok")[1] == b"ok\n"
    docker_session.stop(path)
    assert not os.path.exists(path)
    with pytest.raises(docker_session.SessionUnavailable):
        exec_(path, "echo again")


def test_when_the_agent_dies_the_relay_ends_and_a_request_in_flight_fails(relay):
    path, fake = relay
    answers = []
    caller = threading.Thread(target=lambda: answers.append(exec_(path, "sleep 5")))
    caller.start()
    time.sleep(0.3)
    fake.proc.kill()  # the builder is gone: its exec's stream ends
    caller.join(5)
    assert "ended during the request" in answers[0][0]["error"]
    deadline = time.time() + 3
    while os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(path)


@pytest.fixture
def pinged_relay(tmp_path, monkeypatch):
    """A relay whose liveness check is fast: pings every 0.2 s, gives up after 1.5 s without any frame."""
    monkeypatch.setattr(docker_session, "PING_INTERVAL", 0.2)
    monkeypatch.setattr(docker_session, "PING_PATIENCE", 1.5)
    fake = FakeExec()
    path = docker_session.socket_path(str(tmp_path), "builder", "root")
    relay = docker_session.Relay(path, engine_stream.ExecStream.on_socket(fake.relay_end), session_agent, "tcp://engine:2376")
    read_exactly = relay._agent_frames()
    assert "hello" in session_agent.read_frame(read_exactly)[0]
    server = threading.Thread(target=docker_session.serve, args=(relay, read_exactly, docker_session.listen(path)))
    server.start()
    threading.Thread(target=relay.keep_alive, daemon=True).start()
    yield path, fake
    docker_session.stop(path)
    server.join(5)
    os.kill(fake.proc.pid, signal.SIGCONT)
    fake.proc.kill()


def test_a_long_command_outlives_the_liveness_check_while_the_agent_answers_pings(pinged_relay):
    path, _fake = pinged_relay
    info, data = exec_(path, "sleep 3; echo done")
    assert info["rc"] == 0 and data.startswith(b"done"), info


def test_a_builder_that_stops_answering_fails_the_request_in_flight_naming_the_engine(pinged_relay):
    path, fake = pinged_relay
    answers = []
    caller = threading.Thread(target=lambda: answers.append(exec_(path, "sleep 30")))
    caller.start()
    time.sleep(0.3)
    os.kill(fake.proc.pid, signal.SIGSTOP)  # a connection that stays open but carries nothing (a host gone away)
    started = time.monotonic()
    caller.join(10)
    assert answers and time.monotonic() - started < 5
    error = answers[0][0]["error"]
    assert "tcp://engine:2376" in error and "nothing came from the builder" in error, error


def test_a_start_without_waiting_never_waits_for_one_that_is_starting(tmp_path, monkeypatch):
    """The connection's first use starts the relay without waiting: while another task's relay is starting (it holds
    the lock until it listens), it returns at once instead of waiting for it; a waiting start learns why a relay
    started without waiting did not come up (path.failed), once."""
    import fcntl

    path = docker_session.socket_path(str(tmp_path), "builder", "root")
    started = []
    monkeypatch.setattr(docker_session.subprocess, "Popen", lambda *a, **k: started.append(a) or 1 / 0)
    with open(path + ".lock", "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # a relay that is starting
        t0 = time.monotonic()
        docker_session.start(path, "builder", "root", {}, "/usr/bin/python3", None, wait=False)
        assert time.monotonic() - t0 < 1 and started == []
    with open(path + ".failed", "w") as f:
        f.write("the warm interpreter did not start: cannot install it in /dev/shm")
    with pytest.raises(docker_session.SessionUnavailable, match="cannot install it in /dev/shm"):
        docker_session.start(path, "builder", "root", {}, "/usr/bin/python3", None)
    assert not os.path.exists(path + ".failed") and started == []


def test_settle_returns_once_no_relay_is_starting(tmp_path):
    """Before a commit pauses the builder, whoever commits settles: it waits while a relay is starting (holding the
    lock until it listens: it makes execs in the builder meanwhile), and returns at once when none is or none was."""
    import fcntl

    path = docker_session.socket_path(str(tmp_path), "builder", "root")
    t0 = time.monotonic()
    docker_session.settle(path)  # none was ever started
    with open(path + ".lock", "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # a relay that is starting
        threading.Timer(0.5, holder.close).start()  # ... listens in half a second
        docker_session.settle(path)
        assert time.monotonic() - t0 >= 0.5
    t0 = time.monotonic()
    docker_session.settle(path)  # it listens: nothing to wait for
    assert time.monotonic() - t0 < 0.2


def test_the_relay_never_imports_the_docker_sdk(tmp_path):
    """The relay lives as long as its builder: it talks to the engine itself (exec_stream.EngineAPI), so the SDK's
    modules (about 39 MB) are never in its memory, nor ansible's module_utils (its starter makes the install archive).
    An engine that cannot be reached is the reason the relay gives for not starting."""
    script = textwrap.dedent("""
        import json, os, sys
        from ansible_collections.immutable.images.plugins.module_utils._warm import relay
        read_end, write_end = os.pipe()
        lock = os.open(sys.argv[1] + ".lock", os.O_CREAT | os.O_WRONLY)
        rc = relay.run_relay(write_end, lock, sys.argv[1], "builder", "", "/usr/bin/python3",
                             "unix://" + sys.argv[1] + ".nothing", os.getpid(), {"SECRET": "x"}, "")
        print(json.dumps({"rc": rc, "status": os.read(read_end, 4096).decode(), "docker": "docker" in sys.modules,
                          "basic": "ansible.module_utils.basic" in sys.modules}))
    """)
    path = str(tmp_path / "ii-test.sock")
    root = os.path.abspath(os.path.join(os.path.dirname(docker_session.__file__), *[os.pardir] * 6))
    out = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True, check=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=root))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rc"] == 1 and result["docker"] is False and result["basic"] is False, result
    assert "ii-test.sock.nothing" in result["status"], result
    assert open(path + ".failed").read() == result["status"].strip()


def test_a_relay_whose_engine_never_answers_gives_up_after_its_limit(tmp_path):
    """An engine that accepts the connection and never answers: the relay, which holds the lock the builder's next
    command waits for, gives up after PREPARE_TIMEOUT (1 s here) and says so, well before a request's own timeout."""
    script = textwrap.dedent("""
        import json, os, socket, sys, time
        from ansible_collections.immutable.images.plugins.module_utils._warm import relay
        engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        engine.bind(sys.argv[1] + ".engine")
        engine.listen(1)
        relay.PREPARE_TIMEOUT = 1
        read_end, write_end = os.pipe()
        lock = os.open(sys.argv[1] + ".lock", os.O_CREAT | os.O_WRONLY)
        started = time.monotonic()
        rc = relay.run_relay(write_end, lock, sys.argv[1], "builder", "", "/usr/bin/python3",
                             "unix://" + sys.argv[1] + ".engine", os.getpid(), {}, "")
        print(json.dumps({"rc": rc, "status": os.read(read_end, 4096).decode(), "took": time.monotonic() - started}))
    """)
    path = str(tmp_path / "ii-slow.sock")
    root = os.path.abspath(os.path.join(os.path.dirname(docker_session.__file__), *[os.pardir] * 6))
    out = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True, check=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=root))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rc"] == 1 and "took more than 1 s" in result["status"], result
    assert result["took"] < 10, result
