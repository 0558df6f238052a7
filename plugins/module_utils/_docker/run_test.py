# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run test of a candidate image: start it the way it will run, wait until it is up, probe it, remove it.

The test container runs the image's own CMD/ENTRYPOINT/USER (nothing is overridden but extra
environment variables), carries the build-id label and kind=verify so that cleanup finds it, and
is removed whatever happens. Every check is retried with short polls until the one deadline;
the container exiting fails the test at once, with its last log lines.
"""

from __future__ import annotations

import http.client
import ipaddress
import math
import re
import socket
import ssl
import threading
import time

from urllib.parse import urlsplit

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker import exec_stream as engine_stream
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DockerFailure,
    RequestException,
    docker_errors,
    error_text,
)

DEFAULT_TIMEOUT = 60
# Seconds a test container stays a live build's past its timeout (its lease, janitor.py): the last probe, reading
# its logs and removing it can outlast the deadline by some engine calls.
LEASE_GRACE = 120
LOG_TAIL = 50           # lines of the container's log returned on failure
MSG_LOG_LINES = 10      # of which the message repeats the last ones when the container exited
SHOWN_TEXT = 200        # characters of a body or an output quoted in a message
MAX_BODY = 1 << 20      # bytes of an HTTP answer read
NO_PUBLISH = ("host", "none")
LOOPBACK = "127.0.0.1"
HTTP_DEFAULTS = {"path": "/", "status": 200, "body_contains": None, "body_regex": None, "scheme": "http"}
COMMAND_DEFAULTS = {"cmd": None, "rc": 0, "stdout_contains": None}


class VerifyFailure(DockerFailure):
    """The run test failed. `check` names what failed: options, image, start, exited, port,
    wait_for_command, http, command, engine or cleanup; `logs` holds the container's last log lines."""

    def __init__(self, message, check, passed=(), logs=None, exit_code=None, container=None):
        super().__init__("verify", message)
        self.check = check
        self.passed = list(passed)
        self.logs = list(logs or [])
        self.exit_code = exit_code
        self.container = container

    def result(self):
        """What the module returns besides msg and stage."""
        result = {"failed_check": self.check, "passed": self.passed, "logs": self.logs, "container": self.container}
        if self.exit_code is not None:
            result["exit_code"] = self.exit_code
        return result


class Interrupted(BaseException):
    """Raised by a signal handler (SIGTERM) so that the test container is still removed."""


def as_argv(cmd, what):
    """A command as the exec API wants it: a list is run as it is, a string by /bin/sh -c."""
    if isinstance(cmd, str) and cmd.strip():
        return ["/bin/sh", "-c", cmd]
    if isinstance(cmd, (list, tuple)) and cmd and all(isinstance(a, (str, int, float)) for a in cmd):
        return [str(a) for a in cmd]
    raise VerifyFailure("%s: give a command as a list of arguments (or a string for /bin/sh -c), got %r"
                        % (what, cmd), "options")


def normalize_http(spec):
    """The http probe with its defaults filled in and checked."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise VerifyFailure("http: must be a dict, got %r" % (spec,), "options")
    unknown = set(spec) - set(HTTP_DEFAULTS)
    if unknown:
        raise VerifyFailure("http: unknown keys %s (known: %s)" % (", ".join(sorted(unknown)), ", ".join(sorted(HTTP_DEFAULTS))),
                            "options")
    result = dict(HTTP_DEFAULTS)
    result.update({k: v for k, v in spec.items() if v is not None})
    if not str(result["path"]).startswith("/"):
        raise VerifyFailure("http.path: must start with /, got %r" % result["path"], "options")
    if result["scheme"] not in ("http", "https"):
        raise VerifyFailure("http.scheme: must be http or https, got %r" % result["scheme"], "options")
    try:
        result["status"] = int(result["status"])
    except (TypeError, ValueError):
        raise VerifyFailure("http.status: must be a number, got %r" % (result["status"],), "options")
    if result["body_regex"] is not None:
        try:
            re.compile(result["body_regex"])
        except re.error as e:
            raise VerifyFailure("http.body_regex: %r is not a valid regular expression: %s" % (result["body_regex"], e),
                                "options")
    return result


def normalize_command(spec):
    """The command probe with its defaults filled in and checked (cmd as an argv list)."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise VerifyFailure("command: must be a dict with cmd (and rc, stdout_contains), got %r" % (spec,), "options")
    unknown = set(spec) - set(COMMAND_DEFAULTS)
    if unknown:
        raise VerifyFailure("command: unknown keys %s (known: %s)" % (", ".join(sorted(unknown)), ", ".join(sorted(COMMAND_DEFAULTS))),
                            "options")
    result = dict(COMMAND_DEFAULTS)
    result.update({k: v for k, v in spec.items() if v is not None})
    result["cmd"] = as_argv(result["cmd"], "command.cmd")
    try:
        result["rc"] = int(result["rc"])
    except (TypeError, ValueError):
        raise VerifyFailure("command.rc: must be a number, got %r" % (result["rc"],), "options")
    return result


def shown(text, limit=SHOWN_TEXT):
    """A body or an output as a message quotes it: repr, cut to `limit` characters."""
    text = text if isinstance(text, str) else (text or b"").decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def tcp_open(host, port, timeout):
    """True if something accepts TCP connections on host:port.

    With the engine's userland proxy (docker-proxy), a published port accepts connections even
    when nothing listens in the container - the proxy then closes the connection at once. So a
    connection counts only if it is not closed straight away: the server either says something
    first (SSH, SMTP) or waits for the client (HTTP).
    """
    try:
        conn = socket.create_connection((host, port), timeout=max(0.1, timeout))
    except OSError:
        return False
    try:
        conn.settimeout(min(0.3, max(0.1, timeout)))
        try:
            return conn.recv(1) != b""
        except socket.timeout:
            return True
        except OSError:
            return False
    finally:
        conn.close()


def http_get(scheme, host, port, path, timeout):
    """(status, body text) of GET scheme://host:port/path, without proxies, redirects or certificate checks."""
    if scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # a test container has no certificate for its address
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "immutable.images-run-test", "Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read(MAX_BODY).decode("utf-8", "replace")
    finally:
        conn.close()


def probe_address(engine_url):
    """Where a run test's port is published on the engine's host, and probed from this machine: 127.0.0.1 for an engine
    on this machine (a unix socket, a loopback address); else the address this machine reaches the engine's host at,
    that of its tcp:// or ssh:// URL (as with `docker -H tcp://docker:2376 run -p` and `curl docker:8080` in a CI job),
    and only it, not every address of that host. Raises VerifyFailure for a name that does not resolve."""
    scheme, _sep, rest = (engine_url or "").partition("://")
    host = urlsplit("//" + rest).hostname if scheme in ("tcp", "ssh", "http", "https") else None
    if not host:
        return LOOPBACK
    try:
        addresses = [info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]
    except (socket.gaierror, UnicodeError) as e:
        raise VerifyFailure("port: cannot find the address of the engine's host %s to probe it at: %s" % (host, e), "options")
    address = next((a for a in addresses if ":" not in a), addresses[0])  # IPv4 first, as the engine publishes
    return LOOPBACK if ipaddress.ip_address(address.split("%", 1)[0]).is_loopback else address


class RunTest:
    """One run test on one engine. clock/sleep/tcp_probe/http_probe are replaceable for unit tests; probe_host is
    probe_address() of the client's engine unless given."""

    def __init__(self, client, clock=time.monotonic, sleep=time.sleep, tcp_probe=tcp_open, http_probe=http_get,
                 probe_host=None, poll=(0.1, 0.5)):
        self.client = client
        self.clock = clock
        self.sleep = sleep
        self.tcp_probe = tcp_probe
        self.http_probe = http_probe
        self.probe_host = probe_host
        self.poll = poll

    # -- the test ---------------------------------------------------------------------------------

    def run(self, image, build_id, port=None, wait_for_command=None, http=None, command=None,
            timeout=DEFAULT_TIMEOUT, network_mode="bridge", env=None):
        """Start a container of `image`, wait for it, probe it, remove it. Returns the result dict;
        raises VerifyFailure (stage verify) when a check fails."""
        http = normalize_http(http)
        command = normalize_command(command)
        wait_argv = as_argv(wait_for_command, "wait_for_command") if wait_for_command is not None else None
        network_mode = network_mode or "bridge"
        if port is not None:
            port = int(port)
            if not 0 < port < 65536:
                raise VerifyFailure("port: %d is not a TCP port" % port, "options")
            if network_mode == "none" or network_mode.startswith("container:"):
                raise VerifyFailure("port: cannot probe a port of a container with network_mode %s" % network_mode,
                                    "options")
        if http and port is None:
            raise VerifyFailure("http: needs port", "options")
        if port is not None and self.probe_host is None:
            self.probe_host = probe_address((getattr(self.client.api, "immutable_engine", None) or {}).get("url"))
        if not (port or wait_argv or command):
            raise VerifyFailure("give a port to probe, or a command (wait_for_command, command) to run in the test"
                                " container", "options")
        if not build_id:
            raise VerifyFailure("build_id is required: the test container is labelled with it", "options")

        start = self.clock()
        deadline = start + float(timeout)
        try:
            candidate = self.client.images.get(image)
        except docker_errors.ImageNotFound:
            raise VerifyFailure("image %s does not exist on the engine (a run test never pulls)" % image, "image")
        except (docker_errors.APIError, RequestException) as e:
            raise VerifyFailure("cannot inspect image %s: %s" % (image, error_text(e)), "image")
        image_labels = candidate.labels or {}
        name = naming.verify_name(build_id, image_labels.get(naming.LABEL_IMAGE_NAME),
                                  image_labels.get(naming.LABEL_TARGET))
        state = _State(name)
        container = failure = None
        try:
            container = self._start(candidate.id, name, self._labels(build_id, image_labels, timeout), port,
                                    network_mode, env, state)
            if port is not None:
                self._wait_for_port(container, port, network_mode, deadline, start, state)
            if wait_argv:
                self._wait_for_command(container, wait_argv, deadline, start, state)
            if not (port is not None or wait_argv):
                self._alive(container, start, state, "before the command probe ran")
            if http:
                self._probe_http(container, port, http, deadline, start, state)
            if command:
                self._probe_command(container, command, deadline, start, state)
        except VerifyFailure as e:
            failure = e
            if container is not None and not e.logs:
                e.logs = self.logs(container)  # while the container still exists
        except (docker_errors.APIError, RequestException, engine_stream.StreamError) as e:
            failure = VerifyFailure("the engine failed during the run test of %s: %s" % (image, error_text(e)),
                                    "engine", logs=self.logs(container) if container is not None else [])
        finally:
            # whatever happened - a failed check, an engine error, a bug, an interrupt
            removed_error = self._remove(container, name)
        if failure is not None:
            failure.passed, failure.container = list(state.passed), name
            if removed_error:
                failure.args = ("%s; and %s" % (failure, removed_error),)
            raise failure
        if removed_error:  # the test passed, but its container could not be removed: that is a leak
            raise VerifyFailure(removed_error, "cleanup", state.passed, container=name)
        return {
            "passed": state.passed,
            "container": name,
            "image_id": candidate.id,
            "host_port": state.host_port,
            "elapsed": round(self.clock() - start, 2),
        }

    # -- steps ------------------------------------------------------------------------------------

    @staticmethod
    def _labels(build_id, image_labels, timeout):
        """The test container's labels: its build (cleanup finds it by build id), the image name and target of the
        candidate (a janitor limited to some image names finds it too) and its lease: a janitor leaves it, and
        everything of its build, alone until its timeout has passed (janitor.build_alive). A test container runs
        the image's own command, so it cannot be held by a stdin lease as a builder is."""
        labels = {naming.LABEL_BUILD_ID: str(build_id), naming.LABEL_KIND: naming.KIND_VERIFY,
                  naming.LABEL_LEASE_SECONDS: str(int(math.ceil(float(timeout))) + LEASE_GRACE)}
        for key in (naming.LABEL_IMAGE_NAME, naming.LABEL_TARGET):
            if image_labels.get(key):
                labels[key] = str(image_labels[key])
        return labels

    def _start(self, image_id, name, labels, port, network_mode, env, state):
        kwargs = dict(name=name, labels=labels, detach=True, network_mode=network_mode,
                      environment=["%s=%s" % (k, v) for k, v in (env or {}).items()] or None)
        if port is not None and self._publishes(network_mode):
            kwargs["ports"] = {"%d/tcp" % port: (self.probe_host, None)}  # an ephemeral port on that address only
        try:
            # create + start, not run(): run() pulls an image it does not find
            container = self.client.containers.create(image_id, **kwargs)
        except (docker_errors.APIError, RequestException) as e:
            self._remove(None, name)  # nothing should exist, but a half-created container must not stay
            raise VerifyFailure("cannot create the test container: %s" % error_text(e), "start")
        try:
            container.start()
        except (docker_errors.APIError, RequestException) as e:
            failure = VerifyFailure("cannot start the test container: %s" % error_text(e), "start")
            failure.logs = self.logs(container)
            self._remove(container, name)
            raise failure
        state.passed.append("started")
        return container

    @staticmethod
    def _publishes(network_mode):
        return network_mode not in NO_PUBLISH and not network_mode.startswith("container:")

    def _wait_for_port(self, container, port, network_mode, deadline, start, state):
        what = "port %d/tcp was open" % port
        for remaining in self._polls(deadline):
            self._alive(container, start, state, "before " + what)
            host_port = state.host_port or self._host_port(container, port, network_mode)
            if host_port:
                state.host_port = host_port
                if self.tcp_probe(self.probe_host, host_port, min(1.0, max(remaining, 0.1))):
                    state.passed.append("port %d/tcp open (%s:%d)" % (port, self.probe_host, host_port))
                    return
        self._alive(container, start, state, "before " + what)
        raise VerifyFailure("port %d/tcp: expected it to accept connections within %ss, got nothing listening on %s"
                            % (port, _secs(deadline - start), "%s:%s" % (self.probe_host, state.host_port or "?")),
                            "port")

    def _host_port(self, container, port, network_mode):
        if not self._publishes(network_mode):
            return port
        container.reload()
        bindings = ((container.attrs.get("NetworkSettings") or {}).get("Ports") or {}).get("%d/tcp" % port) or []
        for binding in bindings:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
        return None

    def _wait_for_command(self, container, argv, deadline, start, state):
        last = None
        for remaining in self._polls(deadline):
            self._alive(container, start, state, "before wait_for_command %s succeeded" % argv)
            try:
                rc, out, err = self._exec(container, argv, remaining)
            except _ExecTimeout:
                last = "no exit (it was still running at the deadline)"
                continue
            if rc == 0:
                state.passed.append("wait_for_command %s succeeded" % argv)
                return
            last = "rc %s, output %s" % (rc, shown((out or b"") + (err or b"")))
        self._alive(container, start, state, "before wait_for_command %s succeeded" % argv)
        raise VerifyFailure("wait_for_command %s: expected rc 0 within %ss, got %s"
                            % (argv, _secs(deadline - start), last or "no run"), "wait_for_command")

    def _probe_http(self, container, port, spec, deadline, start, state):
        host_port = state.host_port  # found while waiting for the port, which always comes first
        url = "%s://%s:%s%s" % (spec["scheme"], self.probe_host, host_port, spec["path"])
        problem = None
        for remaining in self._polls(deadline):
            self._alive(container, start, state, "while probing %s" % url)
            try:
                status, body = self.http_probe(spec["scheme"], self.probe_host, host_port, spec["path"],
                                               min(5.0, max(remaining, 0.5)))
            except (OSError, http.client.HTTPException) as e:
                problem = "expected status %d, got no answer (%s)" % (spec["status"], e or type(e).__name__)
                continue
            problem = _http_problem(spec, status, body)
            if problem is None:
                state.passed.append("http GET %s: %s" % (spec["path"], _http_expectation(spec)))
                return
        self._alive(container, start, state, "while probing %s" % url)
        raise VerifyFailure("http GET %s: %s (after %ss of retries)" % (url, problem, _secs(deadline - start)), "http")

    def _probe_command(self, container, spec, deadline, start, state):
        problem = None
        for remaining in self._polls(deadline):
            self._alive(container, start, state, "before the command probe %s ran" % spec["cmd"])
            try:
                rc, out, err = self._exec(container, spec["cmd"], remaining)
            except _ExecTimeout:
                problem = "expected rc %d, got no end (the command was still running at the deadline)" % spec["rc"]
                continue
            out_text = (out or b"").decode("utf-8", "replace")
            if rc != spec["rc"]:
                problem = "expected rc %d, got rc %s (stdout %s, stderr %s)" % (spec["rc"], rc, shown(out_text), shown(err))
            elif spec["stdout_contains"] is not None and str(spec["stdout_contains"]) not in out_text:
                problem = "expected stdout to contain %r, got %s" % (str(spec["stdout_contains"]), shown(out_text))
            else:
                detail = "rc %d" % spec["rc"]
                if spec["stdout_contains"] is not None:
                    detail += ", stdout contains %r" % str(spec["stdout_contains"])
                state.passed.append("command %s: %s" % (spec["cmd"], detail))
                return
        self._alive(container, start, state, "before the command probe %s ran" % spec["cmd"])
        raise VerifyFailure("command %s: %s (after %ss of retries)" % (spec["cmd"], problem, _secs(deadline - start)),
                            "command")

    # -- helpers ----------------------------------------------------------------------------------

    def _polls(self, deadline):
        """Yield the time left before each attempt: at once, then after short, growing pauses."""
        pause = self.poll[0]
        while True:
            remaining = deadline - self.clock()
            yield max(remaining, 0.0)
            remaining = deadline - self.clock()
            if remaining <= 0:
                return
            self.sleep(min(pause, remaining))
            pause = min(pause * 2, self.poll[1])

    def _alive(self, container, start, state, when):
        """Fail at once, with the last log lines, if the container is no longer running."""
        container.reload()
        if container.status in ("created", "running", "restarting", "paused"):
            return
        exit_code = (container.attrs.get("State") or {}).get("ExitCode")
        logs = self.logs(container)
        tail = logs[-MSG_LOG_LINES:]
        raise VerifyFailure(
            "the container exited with code %s after %ss, %s; %s" % (
                exit_code, _secs(self.clock() - start), when,
                ("its last log lines:\n" + "\n".join(tail)) if tail else "it logged nothing"),
            "exited", state.passed, logs, exit_code)

    def _exec(self, container, argv, timeout):
        """(rc, stdout bytes, stderr bytes) of argv run in the container as the image's user.

        The engine API has no exec timeout and the stream waits for its end, so the exec runs
        in a thread that is given up on at the deadline (the container is removed right after).
        """
        outcome = {}

        def target():
            try:
                outcome["result"] = engine_stream.exec_in(container, argv)
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                outcome["error"] = e

        worker = threading.Thread(target=target, name="run-test-exec", daemon=True)
        worker.start()
        worker.join(max(timeout, 0.5))
        if worker.is_alive():
            raise _ExecTimeout()
        if "error" in outcome:
            error = outcome["error"]
            if isinstance(error, docker_errors.APIError) and error.status_code == 409:
                return None, b"", error_text(error).encode()  # not running: _alive() says so next
            raise error
        return outcome["result"]

    def logs(self, container, tail=LOG_TAIL):
        """The container's last log lines (stdout and stderr), [] when there are none or it is gone."""
        for attempt in range(5):
            try:
                text = container.logs(stdout=True, stderr=True, tail=tail)
            except (docker_errors.APIError, RequestException):
                return []
            lines = text.decode("utf-8", "replace").splitlines() if text else []
            if lines or container.status == "running" or attempt == 4:
                return lines[-tail:]
            self.sleep(0.1)  # the log of a container that just exited can lag behind
        return []

    def _remove(self, container, name):
        """Remove the test container and its anonymous volumes; an error text, or None."""
        try:
            if container is not None:
                container.remove(force=True, v=True)
            else:
                self.client.api.remove_container(name, force=True, v=True)
        except docker_errors.NotFound:
            return None
        except (docker_errors.APIError, RequestException) as e:
            return "cannot remove the test container %s: %s" % (name, error_text(e))
        return None


class _State:
    def __init__(self, name):
        self.name = name  # of the test container
        self.passed = []
        self.host_port = None


class _ExecTimeout(Exception):
    pass


def _secs(value):
    return ("%.1f" % value).rstrip("0").rstrip(".")


def _http_expectation(spec):
    parts = ["status %d" % spec["status"]]
    if spec["body_contains"] is not None:
        parts.append("body contains %r" % str(spec["body_contains"]))
    if spec["body_regex"] is not None:
        parts.append("body matches %r" % spec["body_regex"])
    return ", ".join(parts)


def _http_problem(spec, status, body):
    if status != spec["status"]:
        return "expected status %d, got %d (body %s)" % (spec["status"], status, shown(body))
    if spec["body_contains"] is not None and str(spec["body_contains"]) not in body:
        return "expected the body to contain %r, got %s" % (str(spec["body_contains"]), shown(body))
    if spec["body_regex"] is not None and not re.search(spec["body_regex"], body):
        return "expected the body to match %r, got %s" % (spec["body_regex"], shown(body))
    return None


RUN_TEST_KEYS = ("port", "wait_for_command", "http", "command", "timeout", "network_mode", "env")


def run_test_args(spec):
    """RunTest.run keyword arguments from a `run` entry of image_verify (unknown keys are refused earlier)."""
    return {k: spec[k] for k in RUN_TEST_KEYS if spec.get(k) is not None}
