# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/target_result.py: the provision_result of a failed provisioning, whose stage comes from the failed step or
the phase, not a task name (the targets' records: test_image_artifact_action.py)."""

from __future__ import annotations

import time

import pytest


def record(run_action, **args):
    result = run_action("target_result", args)
    assert not result.get("failed"), result
    return result


@pytest.mark.parametrize("action,failed,phase,stage", [
    ("immutable.images.builder_files", {"msg": "no", "stage": "upload"}, None, "upload"),
    ("immutable.images.package_inventory", {"msg": "no", "stage": "sbom"}, None, "sbom"),
    ("immutable.images.layer_cache", {"msg": "no", "stage": "cache"}, None, "provision"),  # as a role's task
    ("ansible.builtin.assert", {"msg": "no"}, "verify", "verify"),
    ("ansible.builtin.shell", {"msg": "no"}, "scrub", "scrub"),
    ("ansible.builtin.fail", {"msg": "no"}, None, "provision"),
])
def test_provision_failure_stage_from_the_failed_step_or_the_phase(run_action, action, failed, phase, stage):
    args = dict(record="provision_failed", failed_task={"name": "T", "action": action}, failed_result=failed,
                started=time.time() - 3)
    if phase:
        args["phase"] = phase
    result = record(run_action, **args)
    assert result["record"]["stage"] == stage
    assert 2.5 < result["record"]["duration"] < 10


def test_provision_failure_message_names_the_command_and_its_stderr(run_action):
    result = record(run_action, record="provision_failed", failed_task={"name": "Run", "action": "command"}, started=0,
                    failed_result={"msg": "non-zero return code", "cmd": ["ls", "/nope"], "stderr": "No such file"})
    assert result["record"]["message"] == "non-zero return code (command: ls /nope): No such file"
    assert list(result["record"]) == ["status", "stage", "task", "message", "duration"]


def test_only_the_provision_failure_is_recorded_here(run_action):
    assert run_action("target_result", {"record": "artifact"})["failed"]
