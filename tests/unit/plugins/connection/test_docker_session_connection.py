# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""connection/docker_session.py: which way a command goes (the session, a new session, or docker_api after a
warning, once per builder; docker_api without a warning when the session is off), when the session starts (on the
connection's first use, and again on a reset), what a reply becomes, and the paths. The session and the agent themselves:
tests/unit/plugins/module_utils/_warm/test_relay_and_agent.py; on a real engine: the integration tests."""

from __future__ import annotations

import os
import types

import pytest
from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.playbook.play_context import PlayContext

from ansible_collections.immutable.images.plugins.connection import docker_session as plugin

WARM = {"warm": True, "python_interpreter": "/usr/bin/python3"}


@pytest.fixture
def connection(monkeypatch, tmp_path):
    monkeypatch.setattr(plugin, "DEFAULT_LOCAL_TMP", str(tmp_path))
    calls = {"request": [], "start": [], "warnings": [], "docker_api": []}
    monkeypatch.setattr(plugin.display, "warning", calls["warnings"].append)

    def make(session=None, replies=()):
        replies = list(replies)

        def request(path, header, payload=b""):
            calls["request"].append(header)
            reply = replies.pop(0)
            if isinstance(reply, Exception):
                raise reply
            return reply

        monkeypatch.setattr(plugin.docker_session, "request", request)
        monkeypatch.setattr(plugin.docker_session, "start", lambda *a, **k: calls["start"].append(a + (k.get("wait", True),)))
        conn = plugin.Connection(PlayContext(), None)
        conn.builder_gone = lambda: calls.get("gone")  # the engine's answer (None: the builder runs)
        options = dict({"remote_addr": "arch-builder", "remote_user": "root", "docker_host": None, "tls": None,
                        "extra_env": {"A": "1"}, "warm": False, "python_interpreter": None}, **(session or {}))
        conn.get_option = options.get
        fallback = types.SimpleNamespace(exec_command=lambda cmd, **k: (0, b"via docker_api", b""))
        conn._docker_api = lambda: calls["docker_api"].append(1) or fallback
        return conn
    return make, calls


def test_a_command_goes_through_the_session(connection):
    make, calls = connection
    conn = make(WARM, [({"rc": 3, "stdout": 2}, b"okerr")])
    assert conn.exec_command("true") == (3, b"ok", b"err")
    assert calls["request"][0]["op"] == "exec" and calls["docker_api"] == []


@pytest.mark.parametrize("command", ["/bin/sh -c /usr/bin/python3", "/bin/sh -c '/usr/bin/python3 && sleep 0'"])
def test_a_pipelined_module_goes_to_the_warm_interpreter_directly(connection, command):
    # (ansible-core 2.21 sends the first, 2.19 the second; test_private_apis.py checks what each sends)
    make, calls = connection
    conn = make(WARM, [({"rc": 0, "stdout": 2}, b"{}"), ({"rc": 0, "stdout": 0}, b"")])
    conn.exec_command(command, in_data=b"module")
    conn.exec_command("/bin/sh -c 'FOO=1 /usr/bin/python3'", in_data=b"module")  # a task's environment: as it came
    assert [r.get("warm") for r in calls["request"]] == [True, None]


def test_a_lost_session_is_started_again(connection):
    make, calls = connection
    conn = make(WARM, [plugin.docker_session.SessionUnavailable("no socket"), ({"rc": 0, "stdout": 0}, b"")])
    assert conn.exec_command("true")[0] == 0
    # started in the background on the first use, then waited for by the command that found no session
    assert [c[-1] for c in calls["start"]] == [False, True]
    assert calls["start"][1][1:5] == ("arch-builder", "root", {"A": "1"}, "/usr/bin/python3")


def test_a_session_that_cannot_start_means_docker_api_once_with_one_warning(connection, monkeypatch):
    make, calls = connection
    conn = make(WARM, [plugin.docker_session.SessionUnavailable("no socket")])

    def cannot_start(*_args, **_kwargs):
        raise plugin.docker_session.SessionUnavailable("the warm interpreter did not start: Python 3.9 or newer is needed")

    monkeypatch.setattr(plugin.docker_session, "start", cannot_start)
    assert conn.exec_command("true") == (0, b"via docker_api", b"")
    assert len(calls["warnings"]) == 1 and "Python 3.9 or newer is needed" in calls["warnings"][0]
    again = make(WARM, [])  # the builder's next task: a new connection object, the marker file says it all
    assert again.exec_command("true") == (0, b"via docker_api", b"") and len(calls["warnings"]) == 1
    assert calls["request"] == []  # the session's start failed at the first use already: no request at all


@pytest.mark.parametrize("session", [{"warm": False, "python_interpreter": "/usr/bin/python3"},
                                     {"warm": True, "python_interpreter": "auto"}])
def test_without_a_session_it_is_docker_api_without_a_warning(connection, session):
    make, calls = connection
    conn = make(session)
    conn._connect()
    assert conn.exec_command("true") == (0, b"via docker_api", b"")
    assert calls["request"] == calls["start"] == calls["warnings"] == []


def test_agent_errors_fail_the_task(connection):
    make, _calls = connection
    conn = make(WARM, [({"error": "permission denied"}, b"")])
    with pytest.raises(AnsibleConnectionFailure, match="arch-builder: permission denied"):
        conn.exec_command("true")
    conn = make(WARM, [plugin.docker_session.SessionBroken("the builder's session ended")])
    with pytest.raises(AnsibleConnectionFailure, match="session ended"):
        conn.exec_command("true")


def test_a_builder_that_is_gone_fails_the_task_instead_of_being_unreachable(connection):
    """Unreachable, the only builder of a build stopped ansible-playbook before the finalize play (no summary); a
    failed task is what the provision role's rescue reports (tests/integration/test_failure_matrix.py[builder-gone])."""
    make, calls = connection
    calls["gone"] = "the builder arch-builder is gone: its container no longer exists"
    conn = make(WARM, [({"error": "No such container: arch-builder"}, b"")])
    with pytest.raises(AnsibleError) as failed:
        conn.exec_command("true")
    assert not isinstance(failed.value, AnsibleConnectionFailure) and failed.value.__cause__ is None
    assert str(failed.value).startswith("the builder arch-builder is gone: its container no longer exists "
                                        "(arch-builder: No such container: arch-builder)")


def test_the_first_use_starts_the_session_in_the_background_and_a_reset_again(connection, tmp_path, monkeypatch):
    make, calls = connection
    conn = make(WARM)
    conn._connect()
    assert [c[-1] for c in calls["start"]] == [False]  # wait=False: the command that needs it waits for it
    path = plugin.docker_session.socket_path(str(tmp_path), "arch-builder", "root")
    open(path, "w").close()  # a session runs: the next task's first use starts none
    make(WARM)._connect()
    assert len(calls["start"]) == 1
    stopped = []
    monkeypatch.setattr(plugin.docker_session, "stop", lambda p: stopped.append(p) or os.unlink(p))
    make(WARM).reset()  # the builder was replaced (layer cache swap) or reset_connection: the old session ends
    assert stopped == [path] and [c[-1] for c in calls["start"]] == [False, False]


def test_paths_are_relative_to_the_root():
    assert plugin.Connection._in_builder("tmp/x") == "/tmp/x"
    assert plugin.Connection._in_builder("/a/../b") == "/b"


def test_a_file_larger_than_the_sessions_limit_goes_through_an_exec_of_its_own(connection, tmp_path, monkeypatch):
    make, calls = connection
    monkeypatch.setattr(plugin, "SESSION_FILE_LIMIT", 4)
    streamed = []
    monkeypatch.setattr(plugin.DirectExec, "put_file", lambda self, src, dest: streamed.append(("put", src, dest)))
    monkeypatch.setattr(plugin.DirectExec, "fetch_file", lambda self, src, dest: streamed.append(("fetch", src, dest)))
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_bytes(b"1234")
    large.write_bytes(b"12345")
    conn = make(WARM, [({"rc": 0}, b""), ({"rc": 0, "large": True}, b"")])
    conn.put_file(str(small), "/opt/small")
    conn.put_file(str(large), "/opt/large")
    assert [h["op"] for h in calls["request"]] == ["put"] and calls["request"][0]["path"] == "/opt/small"
    assert streamed == [("put", str(large), "/opt/large")]
    # a fetch asks the agent with the limit; a larger file is not sent, and comes through the exec
    conn.fetch_file("/opt/large", str(tmp_path / "back"))
    assert calls["request"][1] == {"op": "fetch", "path": "/opt/large", "limit": 4}
    assert streamed[1] == ("fetch", "/opt/large", str(tmp_path / "back")) and calls["docker_api"] == []
    # without a session (warm false) it is docker_api's, which streams its own way
    conn = make()
    conn._docker_api = lambda: types.SimpleNamespace(put_file=lambda src, dest: streamed.append(("docker_api", src)))
    conn.put_file(str(large), "/opt/large")
    assert streamed[2] == ("docker_api", str(large))


def test_a_builder_that_ran_for_less_than_a_second_is_said_to_have_stopped_as_it_started():
    from ansible_collections.immutable.images.plugins.connection.docker_session import _ran_briefly

    assert _ran_briefly({"StartedAt": "2026-12-06T20:55:01.123456789Z", "FinishedAt": "2026-12-06T20:55:01.923456789Z"})
    assert not _ran_briefly({"StartedAt": "2026-12-06T20:55:01.123456789Z", "FinishedAt": "2026-12-06T20:55:02.5Z"})
    assert not _ran_briefly({"StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"})  # never started
    assert not _ran_briefly({})
