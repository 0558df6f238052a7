# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/docker_builder.py: the module gets ansible-playbook's pid as its lease, and nothing else happens (the
builder's session and warm interpreter belong to its connection, connection/docker_session.py). The module and the
engine: the integration tests."""

from __future__ import annotations

import os

import pytest

from ansible_collections.immutable.images.plugins.action import docker_builder as action


@pytest.fixture
def module_result(make_action):
    def run(args, returned, check_mode=False):
        act = make_action("docker_builder", args, check_mode=check_mode)
        sent = []
        act._execute_module = lambda module_args, task_vars: sent.append(module_args) or dict(returned)
        act._remove_tmp_path = lambda path: None
        return act.run(task_vars={}), sent
    return run


def test_lease_is_ansible_playbook(module_result):
    result, sent = module_result({"name": "arch-b", "image": "x"}, {"changed": True, "container": {"name": "arch-b"}})
    assert sent == [{"name": "arch-b", "image": "x", "lease_pid": os.getppid()}]
    assert result["changed"] and result["container"] == {"name": "arch-b"}
    assert not hasattr(action, "docker_session")  # the builder's session is its connection's business


def test_a_given_lease_is_kept(module_result):
    _result, sent = module_result({"name": "arch-b", "lease_pid": 7}, {"container": {"name": "arch-b"}})
    assert sent[0]["lease_pid"] == 7


def test_the_module_validates_its_own_arguments(module_result):
    # VALIDATE = False: the arguments go to the module as given, which fails on what it does not know
    _result, sent = module_result({"nam": "typo"}, {"failed": True, "msg": "Unsupported parameters"})
    assert sent[0]["nam"] == "typo"
