# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docker_run_test.py: the run test of a candidate image, against a scripted fake engine and a fake clock
(the probes of a real socket and a real HTTP server at the end)."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

from ansible_collections.immutable.images.plugins.module_utils._docker import run_test as docker_run_test
from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.client import docker_errors
from ansible_collections.immutable.images.plugins.module_utils._docker.run_test import RunTest, VerifyFailure

BUILD = "20261123T2135Z-7f3a9c"
IMAGE_ID = "sha256:" + "c" * 64
IMAGE_LABELS = {naming.LABEL_IMAGE_NAME: "webapp", naming.LABEL_TARGET: "container",
                naming.LABEL_BUILD_ID: BUILD, naming.LABEL_KIND: naming.KIND_ARTIFACT}


class ExecResult:
    def __init__(self, exit_code, output):
        self.exit_code, self.output = exit_code, output


class Clock:
    """Fake time: only sleep() moves it (and each probe costs `step` seconds)."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class FakeContainer:
    def __init__(self, engine, name, kwargs):
        self.engine, self.name, self.kwargs = engine, name, kwargs
        self.id = "f" * 64
        self.status = "created"
        self.reloads = 0
        self.removed = None
        self.attrs = {"State": {"ExitCode": 0}, "NetworkSettings": {"Ports": {}}}

    def start(self):
        if self.engine.start_error:
            raise docker_errors.APIError(self.engine.start_error)
        self.status = "running"
        for spec in (self.kwargs.get("ports") or {}):
            self.attrs["NetworkSettings"]["Ports"][spec] = [{"HostIp": "127.0.0.1", "HostPort": "32771"}]

    def reload(self):
        if self.removed:
            raise docker_errors.NotFound("gone")
        self.reloads += 1
        if self.engine.exit_after is not None and self.reloads > self.engine.exit_after:
            self.status = "exited"
            self.attrs["State"]["ExitCode"] = self.engine.exit_code
            self.attrs["NetworkSettings"]["Ports"] = {}

    def logs(self, stdout=True, stderr=True, tail="all"):
        lines = self.engine.log_lines
        return ("\n".join(lines[-tail:]) + "\n").encode() if lines else b""

    def exec(self, cmd):
        """What exec_stream.exec_in returns: (exit code, stdout, stderr)."""
        self.engine.execs.append(cmd)
        if self.status != "running":
            raise docker_errors.APIError("409 Client Error: Conflict (container is not running)",
                                         response=_Response(409))
        result = self.engine.exec_result(cmd)
        out, err = result.output
        return result.exit_code, out or b"", err or b""

    def remove(self, force=False, v=False):
        self.engine.removals.append((self.name, force, v))
        if self.engine.remove_error:
            raise docker_errors.APIError(self.engine.remove_error)
        self.removed = True
        self.status = "removed"


class _Response:
    def __init__(self, status_code):
        self.status_code = status_code
        self.reason = "Conflict"


@pytest.fixture(autouse=True)
def _execs_in_fake_containers(monkeypatch):
    """The run test's execs go through exec_stream.exec_in, which needs a real engine: here the fake runs them."""
    monkeypatch.setattr(docker_run_test.engine_stream, "exec_in", lambda container, cmd, user="": container.exec(cmd))


class FakeImage:
    def __init__(self, image_id, labels):
        self.id, self.labels = image_id, labels


class FakeEngine:
    """images: the candidate; containers.create records its arguments; the scripts decide the rest."""

    def __init__(self, exit_after=None, exit_code=1, log_lines=(), exec_result=None, start_error=None,
                 create_error=None, remove_error=None, images=None):
        self.exit_after, self.exit_code = exit_after, exit_code
        self.log_lines = list(log_lines)
        self.exec_result = exec_result or (lambda cmd: ExecResult(0, (b"", None)))
        self.start_error, self.create_error, self.remove_error = start_error, create_error, remove_error
        self.known = {IMAGE_ID: IMAGE_LABELS} if images is None else images
        self.created, self.execs, self.removals, self.api_removals = [], [], [], []
        self.images = self
        self.containers = _Containers(self)
        self.api = _Api(self)

    def get(self, ref):  # images.get
        if ref not in self.known:
            raise docker_errors.ImageNotFound("no such image: %s" % ref)
        return FakeImage(ref, self.known[ref])

    @property
    def container(self):
        return self.created[-1]


class _Containers:
    def __init__(self, engine):
        self.engine = engine

    def create(self, image, **kwargs):
        if self.engine.create_error:
            raise docker_errors.APIError(self.engine.create_error)
        container = FakeContainer(self.engine, kwargs["name"], dict(kwargs, image=image))
        self.engine.created.append(container)
        return container

    def run(self, *args, **kwargs):  # pragma: no cover - must never be used: it pulls
        raise AssertionError("containers.run() pulls missing images; the run test must create + start")


class _Api:
    def __init__(self, engine):
        self.engine = engine

    def remove_container(self, name, force=False, v=False):
        self.engine.api_removals.append(name)
        raise docker_errors.NotFound("no such container: %s" % name)


def probes(tcp=None, http=None):
    """tcp: list of results in turn (the last one repeats); http: list of (status, body) or exceptions."""
    calls = {"tcp": [], "http": []}

    def tcp_probe(host, port, timeout):
        calls["tcp"].append((host, port))
        results = tcp if tcp is not None else [True]
        return results[min(len(calls["tcp"]), len(results)) - 1]

    def http_probe(scheme, host, port, path, timeout):
        calls["http"].append((scheme, host, port, path))
        answers = http if http is not None else [(200, "ok")]
        answer = answers[min(len(calls["http"]), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return tcp_probe, http_probe, calls


def runner(engine, tcp=None, http=None):
    clock = Clock()
    tcp_probe, http_probe, calls = probes(tcp, http)
    return RunTest(engine, clock=clock, sleep=clock.sleep, tcp_probe=tcp_probe, http_probe=http_probe), clock, calls


def assert_removed(engine):
    assert engine.created, "no container was created"
    assert engine.removals == [(engine.container.name, True, True)]  # forced, with anonymous volumes


# --- passing tests ------------------------------------------------------------------------------

def test_passes_and_runs_the_image_as_it_is():
    engine = FakeEngine()
    test, clock, calls = runner(engine, http=[(200, '{"status": "ok"}')])
    result = test.run(IMAGE_ID, BUILD, port=8080, http={"path": "/health", "body_contains": "ok"}, timeout=60)
    kwargs = engine.container.kwargs
    assert kwargs["image"] == IMAGE_ID
    # the image's own CMD, ENTRYPOINT and USER: nothing of them is given
    assert not {"command", "entrypoint", "user", "working_dir"} & set(kwargs)
    # found by build id and by image name; a live build's for its timeout plus the grace (janitor.build_alive)
    assert kwargs["labels"] == {naming.LABEL_BUILD_ID: BUILD, naming.LABEL_KIND: naming.KIND_VERIFY,
                                naming.LABEL_IMAGE_NAME: IMAGE_LABELS[naming.LABEL_IMAGE_NAME],
                                naming.LABEL_TARGET: IMAGE_LABELS[naming.LABEL_TARGET],
                                naming.LABEL_LEASE_SECONDS: str(60 + docker_run_test.LEASE_GRACE)}
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", None)}  # ephemeral port, loopback only
    assert kwargs["network_mode"] == "bridge"
    assert kwargs["detach"] is True
    assert kwargs["environment"] is None
    assert kwargs["name"].startswith("immutable-webapp-container-%s-verify-" % BUILD)
    assert calls["tcp"] == [("127.0.0.1", 32771)]
    assert calls["http"] == [("http", "127.0.0.1", 32771, "/health")]
    assert result["passed"] == ["started", "port 8080/tcp open (127.0.0.1:32771)",
                                "http GET /health: status 200, body contains 'ok'"]
    assert result["host_port"] == 32771
    assert result["image_id"] == IMAGE_ID
    assert result["container"] == kwargs["name"]
    assert_removed(engine)


def test_waits_with_short_polls_until_the_port_opens():
    engine = FakeEngine()
    test, clock, calls = runner(engine, tcp=[False, False, False, False, True])
    result = test.run(IMAGE_ID, BUILD, port=8080, timeout=60)
    assert len(calls["tcp"]) == 5
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.5]  # short, growing, capped
    assert result["passed"][-1] == "port 8080/tcp open (127.0.0.1:32771)"
    assert_removed(engine)


def test_host_network_probes_the_port_itself_and_publishes_nothing():
    engine = FakeEngine()
    test, _clock, calls = runner(engine)
    result = test.run(IMAGE_ID, BUILD, port=9000, network_mode="host", http={})
    assert "ports" not in engine.container.kwargs
    assert engine.container.kwargs["network_mode"] == "host"
    assert calls["tcp"] == [("127.0.0.1", 9000)]
    assert calls["http"] == [("http", "127.0.0.1", 9000, "/")]
    assert result["host_port"] == 9000


def test_extra_env_is_for_the_test_container_only():
    engine = FakeEngine()
    test, _clock, _calls = runner(engine)
    test.run(IMAGE_ID, BUILD, port=8080, env={"APP_MODE": "test", "EMPTY": ""})
    assert engine.container.kwargs["environment"] == ["APP_MODE=test", "EMPTY="]


def test_http_retried_until_the_expected_answer():
    engine = FakeEngine()
    test, _clock, calls = runner(engine, http=[ConnectionResetError("reset"), (503, "starting"), (200, "v1.4.2 ok")])
    result = test.run(IMAGE_ID, BUILD, port=8080, http={"status": 200, "body_regex": r"v\d+\.\d+"})
    assert len(calls["http"]) == 3
    assert result["passed"][-1] == "http GET /: status 200, body matches 'v\\\\d+\\\\.\\\\d+'"


def test_wait_for_command_until_it_succeeds_then_command_probe():
    results = iter([ExecResult(1, (b"", b"not yet")), ExecResult(1, (b"", b"not yet")), ExecResult(0, (b"", None)),
                    ExecResult(0, (b"Debian GNU/Linux 12 (bookworm)\n", None))])
    engine = FakeEngine(exec_result=lambda cmd: next(results))
    test, _clock, _calls = runner(engine)
    result = test.run(IMAGE_ID, BUILD, wait_for_command="test -f /run/ready",
                      command={"cmd": ["cat", "/etc/os-release"], "stdout_contains": "bookworm"})
    assert engine.execs == [["/bin/sh", "-c", "test -f /run/ready"]] * 3 + [["cat", "/etc/os-release"]]
    assert result["passed"] == ["started", "wait_for_command ['/bin/sh', '-c', 'test -f /run/ready'] succeeded",
                                "command ['cat', '/etc/os-release']: rc 0, stdout contains 'bookworm'"]
    assert "ports" not in engine.container.kwargs
    assert result["host_port"] is None
    assert_removed(engine)


def test_command_probe_with_another_expected_rc():
    engine = FakeEngine(exec_result=lambda cmd: ExecResult(3, (b"", b"usage")))
    test, _clock, _calls = runner(engine)
    result = test.run(IMAGE_ID, BUILD, command={"cmd": ["app", "--bad-flag"], "rc": 3})
    assert result["passed"] == ["started", "command ['app', '--bad-flag']: rc 3"]


# --- failing tests: stage verify, what was expected and what came, logs, and no container left ----

def test_container_exiting_fails_at_once_with_its_last_log_lines():
    engine = FakeEngine(exit_after=0, exit_code=3, log_lines=["line %d" % i for i in range(80)] + ["boom: no config"])
    test, clock, calls = runner(engine, tcp=[False])
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, port=8080, timeout=60)
    e = info.value
    assert e.stage == "verify" and e.check == "exited" and e.exit_code == 3
    assert "exited with code 3" in str(e) and "before port 8080/tcp was open" in str(e)
    assert str(e).endswith("boom: no config")  # the last log lines are in the message
    assert len(e.logs) == docker_run_test.LOG_TAIL and e.logs[-1] == "boom: no config"
    assert clock.now - 1000.0 < 1  # at once, not at the deadline
    assert calls["tcp"] == []
    assert e.result()["passed"] == ["started"]
    assert_removed(engine)


def test_container_exiting_during_the_http_probe():
    engine = FakeEngine(exit_after=3, exit_code=137, log_lines=["Killed"])
    test, _clock, _calls = runner(engine, http=[(503, "starting")])
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, port=8080, http={})
    assert info.value.check == "exited"
    assert "while probing http://127.0.0.1:32771/" in str(info.value)
    assert_removed(engine)


def test_port_never_open_fails_at_the_deadline():
    engine = FakeEngine(log_lines=["listening on 127.0.0.1:8080"])
    test, clock, _calls = runner(engine, tcp=[False])
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, port=8080, timeout=10)
    e = info.value
    assert e.check == "port"
    assert str(e) == ("port 8080/tcp: expected it to accept connections within 10s, got nothing listening on "
                      "127.0.0.1:32771")
    assert e.logs == ["listening on 127.0.0.1:8080"]  # says why: it listens on the container's loopback
    assert 10 <= clock.now - 1000.0 < 11
    assert_removed(engine)


def test_body_mismatch_names_expected_and_got():
    engine = FakeEngine(log_lines=['"GET / HTTP/1.1" 200 -'])
    test, _clock, calls = runner(engine, http=[(200, "hello world")])
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, port=8080, http={"body_contains": "immutable"}, timeout=5)
    e = info.value
    assert e.stage == "verify" and e.check == "http"
    assert "expected the body to contain 'immutable', got 'hello world'" in str(e)
    assert str(e).startswith("http GET http://127.0.0.1:32771/: ")
    assert e.passed == ["started", "port 8080/tcp open (127.0.0.1:32771)"]
    assert e.logs == ['"GET / HTTP/1.1" 200 -']
    assert len(calls["http"]) > 5  # retried until the deadline
    assert_removed(engine)


def test_status_mismatch_and_long_bodies_are_cut():
    engine = FakeEngine()
    test, _clock, _calls = runner(engine, http=[(500, "x" * 1000)])
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, port=8080, http={"path": "/health"}, timeout=2)
    assert "expected status 200, got 500" in str(info.value)
    assert len(str(info.value)) < 400


def test_http_without_answer():
    engine = FakeEngine()
    test, _clock, _calls = runner(engine, http=[ConnectionRefusedError("connection refused")])
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, port=8080, http={}, timeout=2)
    assert "expected status 200, got no answer (connection refused)" in str(info.value)


def test_body_regex_mismatch():
    engine = FakeEngine()
    test, _clock, _calls = runner(engine, http=[(200, "version unknown")])
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, port=8080, http={"body_regex": r"^v\d"}, timeout=1)
    assert "expected the body to match '^v\\\\d', got 'version unknown'" in str(info.value)


def test_wait_for_command_never_succeeding():
    engine = FakeEngine(exec_result=lambda cmd: ExecResult(1, (b"", b"curl: (7) Failed to connect")))
    test, _clock, _calls = runner(engine)
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, wait_for_command=["curl", "-f", "http://localhost:8080/"], timeout=3)
    assert info.value.check == "wait_for_command"
    assert str(info.value) == ("wait_for_command ['curl', '-f', 'http://localhost:8080/']: expected rc 0 within 3s,"
                               " got rc 1, output 'curl: (7) Failed to connect'")
    assert_removed(engine)


def test_command_probe_rc_and_stdout_mismatch():
    engine = FakeEngine(exec_result=lambda cmd: ExecResult(2, (b"partial", b"No such file")))
    test, _clock, _calls = runner(engine)
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, command={"cmd": ["cat", "/app/VERSION"]}, timeout=1)
    assert info.value.check == "command"
    assert "expected rc 0, got rc 2 (stdout 'partial', stderr 'No such file')" in str(info.value)

    engine = FakeEngine(exec_result=lambda cmd: ExecResult(0, (b"1.4.1\n", None)))
    test, _clock, _calls = runner(engine)
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, command={"cmd": ["cat", "/app/VERSION"], "stdout_contains": "1.4.2"}, timeout=1)
    assert "expected stdout to contain '1.4.2', got '1.4.1\\n'" in str(info.value)
    assert_removed(engine)


def test_exec_still_running_at_the_deadline_is_given_up(monkeypatch):
    release = threading.Event()

    def hanging(cmd):
        release.wait(10)
        return ExecResult(0, (b"", None))

    engine = FakeEngine(exec_result=hanging)
    test, _clock, _calls = runner(engine)
    try:
        with pytest.raises(VerifyFailure) as info:
            test.run(IMAGE_ID, BUILD, wait_for_command=["sleep", "1000"], timeout=0)
    finally:
        release.set()
    assert "got no exit (it was still running at the deadline)" in str(info.value)
    assert_removed(engine)


def test_image_not_found_never_pulls_nor_creates():
    engine = FakeEngine(images={})
    test, _clock, _calls = runner(engine)
    with pytest.raises(VerifyFailure) as info:
        test.run("sha256:" + "d" * 64, BUILD, port=8080)
    assert info.value.check == "image" and "does not exist" in str(info.value)
    assert engine.created == []


def test_create_failure():
    engine = FakeEngine(create_error="Conflict: name in use")
    test, _clock, _calls = runner(engine)
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, port=8080)
    assert info.value.check == "start" and "Conflict: name in use" in str(info.value)


def test_start_failure_removes_the_container():
    engine = FakeEngine(start_error='exec: "python3": executable file not found in $PATH')
    test, _clock, _calls = runner(engine)
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, port=8080)
    assert info.value.check == "start" and "executable file not found" in str(info.value)
    assert engine.removals[0][0] == engine.container.name


def test_engine_error_during_the_test_still_removes_the_container():
    def broken(cmd):
        raise docker_errors.APIError("500 Server Error: internal")

    engine = FakeEngine(exec_result=broken, log_lines=["hello"])
    test, _clock, _calls = runner(engine)
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, command={"cmd": ["true"]})
    assert info.value.check == "engine" and info.value.stage == "verify"
    assert info.value.logs == ["hello"]
    assert_removed(engine)


@pytest.mark.parametrize("exc", [RuntimeError("a bug"), KeyboardInterrupt(), docker_run_test.Interrupted("signal 15")])
def test_any_exception_or_interrupt_still_removes_the_container(exc):
    engine = FakeEngine()

    def tcp_probe(host, port, timeout):
        raise exc

    clock = Clock()
    test = RunTest(engine, clock=clock, sleep=clock.sleep, tcp_probe=tcp_probe)
    with pytest.raises(type(exc)):
        test.run(IMAGE_ID, BUILD, port=8080)
    assert_removed(engine)


def test_a_container_that_cannot_be_removed_fails_the_test():
    engine = FakeEngine(remove_error="device or resource busy")
    test, _clock, _calls = runner(engine)
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, port=8080)
    assert info.value.check == "cleanup" and "device or resource busy" in str(info.value)
    assert info.value.passed == ["started", "port 8080/tcp open (127.0.0.1:32771)"]


def test_a_failed_test_whose_container_cannot_be_removed_says_both():
    engine = FakeEngine(remove_error="device or resource busy")
    test, _clock, _calls = runner(engine, http=[(500, "oops")])
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, port=8080, http={}, timeout=1)
    assert info.value.check == "http"
    assert "expected status 200, got 500" in str(info.value)
    assert str(info.value).endswith("; and cannot remove the test container %s: device or resource busy"
                                    % engine.container.name)


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give a port to probe, or a command"),
    ({"http": {"path": "/"}}, "http: needs port"),
    ({"port": 8080, "http": {"path": "health"}}, "http.path: must start with /"),
    ({"port": 8080, "http": {"body_regex": "("}}, "http.body_regex: '(' is not a valid regular expression"),
    ({"port": 8080, "http": {"scheme": "ftp"}}, "http.scheme: must be http or https"),
    ({"port": 8080, "http": {"status": "ok"}}, "http.status: must be a number"),
    ({"port": 8080, "http": {"body": "x"}}, "http: unknown keys body"),
    ({"port": 70000}, "port: 70000 is not a TCP port"),
    ({"port": 8080, "network_mode": "none"}, "cannot probe a port of a container with network_mode none"),
    ({"wait_for_command": []}, "wait_for_command: give a command as a list"),
    ({"wait_for_command": {"cmd": "x"}}, "wait_for_command: give a command as a list"),
    ({"command": {"rc": 0}}, "command.cmd: give a command as a list"),
    ({"command": ["true"]}, "command: must be a dict with cmd"),
    ({"command": {"cmd": ["true"], "stderr_contains": "x"}}, "command: unknown keys stderr_contains"),
])
def test_options_are_checked_before_anything_starts(kwargs, message):
    engine = FakeEngine()
    test, _clock, _calls = runner(engine)
    with pytest.raises(VerifyFailure) as info:
        test.run(IMAGE_ID, BUILD, **kwargs)
    assert info.value.check == "options" and info.value.stage == "verify"
    assert message in str(info.value)
    assert engine.created == []


def test_defaults_of_the_probes():
    assert docker_run_test.normalize_http({}) == {"path": "/", "status": 200, "body_contains": None,
                                                  "body_regex": None, "scheme": "http"}
    # the module's argument spec sends unset suboptions as None: the defaults apply
    assert docker_run_test.normalize_http({"path": None, "status": None})["status"] == 200
    expected = {"cmd": ["/bin/sh", "-c", "id -un"], "rc": 0, "stdout_contains": None}
    assert docker_run_test.normalize_command({"cmd": "id -un"}) == expected
    assert docker_run_test.normalize_command({"cmd": ["sleep", 1]})["cmd"] == ["sleep", "1"]


def test_verify_name():
    assert naming.verify_name(BUILD, "webapp", "container", "1a2b") == "immutable-webapp-container-%s-verify-1a2b" % BUILD
    assert naming.verify_name(BUILD, suffix="1a2b") == "immutable-%s-verify-1a2b" % BUILD
    assert naming.verify_name(BUILD) != naming.verify_name(BUILD)


# --- the real probes ----------------------------------------------------------------------------

def _server(behaviour):
    """A TCP server on 127.0.0.1 that accepts and then: 'wait' (says nothing), 'banner', 'close'."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _addr = sock.accept()
            except socket.timeout:
                continue
            if behaviour == "banner":
                conn.sendall(b"SSH-2.0-test\r\n")
            if behaviour == "close":
                conn.close()  # what docker-proxy does when nothing listens in the container
            else:
                threading.Timer(2, conn.close).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return sock.getsockname()[1], lambda: (stop.set(), thread.join(), sock.close())


@pytest.mark.parametrize("behaviour, expected", [("wait", True), ("banner", True), ("close", False)])
def test_tcp_open_against_real_sockets(behaviour, expected):
    port, stop = _server(behaviour)
    try:
        assert docker_run_test.tcp_open("127.0.0.1", port, 1.0) is expected
    finally:
        stop()


def test_tcp_open_nothing_listening():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert docker_run_test.tcp_open("127.0.0.1", port, 0.5) is False


def test_http_get_against_a_real_server_follows_no_redirect():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/old":
                self.send_response(302)
                self.send_header("Location", "/health")
                self.end_headers()
                return
            body = b"ok from " + self.path.encode()
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        assert docker_run_test.http_get("http", "127.0.0.1", port, "/health", 5) == (200, "ok from /health")
        assert docker_run_test.http_get("http", "127.0.0.1", port, "/nope?x=1", 5) == (404, "ok from /nope?x=1")
        assert docker_run_test.http_get("http", "127.0.0.1", port, "/old", 5)[0] == 302
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("url, address", [
    (None, "127.0.0.1"),
    ("unix:///var/run/docker.sock", "127.0.0.1"),
    ("tcp://127.0.0.1:2376", "127.0.0.1"),
    ("tcp://localhost:2376", "127.0.0.1"),
    ("tcp://[::1]:2376", "127.0.0.1"),
    ("ssh://root@127.0.0.1:2222", "127.0.0.1"),
    ("tcp://10.1.2.3:2376", "10.1.2.3"),  # a CI job's dind service, a build host: its address, not every one
    ("ssh://builder@10.1.2.4", "10.1.2.4"),
    ("https://10.1.2.5:2376", "10.1.2.5"),
])
def test_the_probe_goes_to_the_engines_host(url, address):
    assert docker_run_test.probe_address(url) == address


def test_an_engine_host_without_an_address_is_said():
    with pytest.raises(VerifyFailure) as failure:
        docker_run_test.probe_address("tcp://bad..name:2376")  # refused before any lookup
    assert failure.value.check == "options" and "bad..name" in str(failure.value)
