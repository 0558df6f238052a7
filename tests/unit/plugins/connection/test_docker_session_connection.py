# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""connection/docker_session.py: which way a command goes (the session, a new session, or docker_api after a
warning, once per builder), what a reply becomes, and the paths. The session and the agent themselves:
tests/unit/plugins/module_utils/_warm/test_relay_and_agent.py; on a real engine: the integration tests."""

from __future__ import annotations

import types

import pytest
from ansible.errors import AnsibleConnectionFailure
from ansible.playbook.play_context import PlayContext

from ansible_collections.immutable.images.plugins.connection import docker_session as plugin

WARM = {"IMMUTABLE_IMAGES_WARM": "/dev/shm/w.sock|/usr/bin/python3"}


@pytest.fixture
def connection(monkeypatch, tmp_path):
    monkeypatch.setattr(plugin, "DEFAULT_LOCAL_TMP", str(tmp_path))
    calls = {"request": [], "start": [], "warnings": [], "docker_api": []}
    monkeypatch.setattr(plugin.display, "warning", calls["warnings"].append)

    def make(extra_env=None, replies=()):
        replies = list(replies)

        def request(path, header, payload=b""):
            calls["request"].append(header)
            reply = replies.pop(0)
            if isinstance(reply, Exception):
                raise reply
            return reply

        monkeypatch.setattr(plugin.docker_session, "request", request)
        monkeypatch.setattr(plugin.docker_session, "start", lambda *a, **k: calls["start"].append(a))
        conn = plugin.Connection(PlayContext(), None)
        options = {"remote_addr": "arch-builder", "remote_user": "root", "docker_host": None, "tls": None,
                   "extra_env": extra_env or {}}
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


def test_a_lost_session_is_started_again(connection):
    make, calls = connection
    conn = make(WARM, [plugin.docker_session.SessionUnavailable("no socket"), ({"rc": 0, "stdout": 0}, b"")])
    assert conn.exec_command("true")[0] == 0
    assert len(calls["start"]) == 1 and calls["start"][0][1:3] == ("arch-builder", "root")


def test_without_a_warm_interpreter_docker_api_once_with_one_warning(connection, tmp_path):
    make, calls = connection
    conn = make({}, [plugin.docker_session.SessionUnavailable("no socket")])
    assert conn.exec_command("true") == (0, b"via docker_api", b"")
    assert len(calls["warnings"]) == 1 and "the builder has no warm interpreter" in calls["warnings"][0]
    again = make({}, [])  # the builder's next task: a new connection object, the marker file says it all
    assert again.exec_command("true") == (0, b"via docker_api", b"") and len(calls["warnings"]) == 1
    assert len(calls["request"]) == 1


def test_agent_errors_fail_the_task(connection):
    make, _calls = connection
    conn = make(WARM, [({"error": "permission denied"}, b"")])
    with pytest.raises(AnsibleConnectionFailure, match="arch-builder: permission denied"):
        conn.exec_command("true")
    conn = make(WARM, [plugin.docker_session.SessionBroken("the builder's session ended")])
    with pytest.raises(AnsibleConnectionFailure, match="session ended"):
        conn.exec_command("true")


def test_prestart_needs_an_interpreter(connection):
    make, calls = connection
    make({}).prestart()
    assert calls["start"] == []
    make(WARM).prestart()
    assert len(calls["start"]) == 1


def test_paths_are_relative_to_the_root():
    assert plugin.Connection._in_builder("tmp/x") == "/tmp/x"
    assert plugin.Connection._in_builder("/a/../b") == "/b"
