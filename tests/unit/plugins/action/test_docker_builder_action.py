# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/docker_builder.py: the module gets ansible-playbook's pid as its lease; with warm_interpreter, the new
builder's connection (immutable.images.docker_session, which owns the session and the warm interpreter) is connected
once, as its first use would, with the builder's settings. The module and the engine: the integration tests."""

from __future__ import annotations

import os

import pytest

from ansible_collections.immutable.images.plugins.action import docker_builder as action


@pytest.fixture
def module_result(make_action, monkeypatch):
    prepared = []

    class Connection:
        def set_options(self, direct):
            prepared.append(direct)

        def _connect(self):
            prepared.append("connected")
            return self

    monkeypatch.setattr(action.connection_loader, "get", lambda name, *_a, **_k: prepared.append(name) or Connection())

    def run(args, returned, check_mode=False):
        act = make_action("docker_builder", args, check_mode=check_mode)
        sent = []
        act.execute_module = lambda name, module_args, task_vars: sent.append(module_args) or dict(returned)
        act._remove_tmp_path = lambda path: None
        return act.run(task_vars={}), sent
    run.prepared = prepared
    return run


def test_lease_is_ansible_playbook(module_result):
    result, sent = module_result({"name": "arch-b", "image": "x"}, {"changed": True, "container": {"name": "arch-b"}})
    assert sent == [{"name": "arch-b", "image": "x", "lease_pid": os.getppid()}]
    assert result["changed"] and result["container"] == {"name": "arch-b"}
    assert not hasattr(action, "docker_session") and module_result.prepared == []  # no warm_interpreter: nothing


def test_with_a_warm_interpreter_the_builder_connection_starts_at_once(module_result):
    placed = {"docker_host": "tcp://pool-1:2376", "tls": None}
    module_result({"name": "arch-b", "image": "x", "warm_interpreter": True, "python_interpreter": "/usr/bin/python3.11",
                   "engines": [placed]}, {"changed": True, "container": {"name": "arch-b"}, "placed": placed})
    assert module_result.prepared == [
        "immutable.images.docker_session",
        {"remote_addr": "arch-b", "remote_user": "root", "docker_host": "tcp://pool-1:2376", "tls": None, "warm": True,
         "python_interpreter": "/usr/bin/python3.11", "extra_env": {}},
        "connected"]
    module_result.prepared.clear()
    module_result({"name": "arch-b", "warm_interpreter": True}, {"changed": False, "container": {"name": "arch-b"}})
    assert module_result.prepared == []  # a builder that ran already has its connection


def test_a_given_lease_is_kept(module_result):
    _result, sent = module_result({"name": "arch-b", "lease_pid": 7}, {"container": {"name": "arch-b"}})
    assert sent[0]["lease_pid"] == 7


def test_the_module_validates_its_own_arguments(module_result):
    # VALIDATE = False: the arguments go to the module's work as given, which fails on what it does not know
    _result, sent = module_result({"nam": "typo"}, {"failed": True, "msg": "Unsupported parameters"})
    assert sent[0]["nam"] == "typo"
