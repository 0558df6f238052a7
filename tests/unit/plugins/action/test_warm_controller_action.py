# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/warm_controller.py: when it does not start a warm interpreter (check mode, not the controller, an
unknown interpreter), always with an empty environment, and never as a fact (a persistent fact cache would keep it after
the build). Starting one: tests/integration/test_warm_interpreter.py."""

from __future__ import annotations

import types


def test_check_mode(run_action):
    result = run_action("warm_controller", {}, check_mode=True)
    assert result["skipped"] and result["env"] == {} and "ansible_facts" not in result and not result["changed"]


def test_only_on_the_controller(run_action):
    result = run_action("warm_controller", {}, connection=types.SimpleNamespace(transport="ssh", _shell=types.SimpleNamespace(tmpdir=None)))
    assert result["skipped"] and result["env"] == {} and "ansible_facts" not in result and "controller" in result["msg"]


def test_interpreter_must_be_known(run_action):
    result = run_action("warm_controller", {}, {"ansible_python_interpreter": "auto_silent"})
    assert result["skipped"] and "auto_silent" in result["msg"]


def test_bad_arguments(run_action):
    result = run_action("warm_controller", {"preload": {"docker": 1}})
    assert result["failed"] and "preload" in result["msg"]


def test_no_server_when_no_module_runs_on_the_controller(run_action, monkeypatch, tmp_path):
    """serve: false (a docker build without a push, save or retention) starts nothing; the payloads are still built
    in advance, once per run; the environment is empty, so the tasks run their modules the usual way."""
    from ansible_collections.immutable.images.plugins.action import warm_controller

    monkeypatch.setattr(warm_controller, "DEFAULT_LOCAL_TMP", str(tmp_path))
    started, prebuilt = [], []
    monkeypatch.setattr(warm_controller.ActionModule, "_start", lambda self, *a: started.append(a))
    monkeypatch.setattr(warm_controller.ActionModule, "_prebuild", lambda self, *a: prebuilt.append(a))
    result = run_action("warm_controller", {"serve": False}, {"ansible_python_interpreter": "/usr/bin/python3"})
    assert result["env"] == {} and "ansible_facts" not in result and not result.get("failed") and "no server" in result["msg"]
    assert started == [] and len(prebuilt) == 1
    result = run_action("warm_controller", {"serve": True}, {"ansible_python_interpreter": "/usr/bin/python3"})
    assert len(started) == 1 and len(prebuilt) == 1  # a later definition of the run: the payloads are built
    assert result["env"]["IMMUTABLE_IMAGES_WARM"].startswith(str(tmp_path)) and "ansible_facts" not in result
