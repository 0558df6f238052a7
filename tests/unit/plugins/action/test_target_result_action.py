# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/target_result.py: each record it makes has the shape the finalize role recorded before (the manifest
reads them), conforms to plan.result_spec(), and the failed stage comes from the failed step, not a task name."""

from __future__ import annotations

import time

import pytest

from ansible_collections.immutable.images.plugins.plugin_utils._definition import plan

DOCKER = {"name": "container", "type": "docker", "builder_name": "web-container-b1", "reuse": None, "save": None}
EC2 = {"name": "aws", "type": "ec2", "builder_name": "web-aws-b1", "region": "eu-west-1", "base": "ami-1",
       "reuse": {"build_id": "b0", "amis": {"eu-west-1": {"name": "web-1.0.0-b0", "image_id": "ami-9"}}}}
EC2_BUILDER = {"instance_id": "i-1", "ssh_host": "198.51.100.7", "ssh_port": 22, "private_key_file": "/k", "name": "x",
               "source_ami": {"image_id": "ami-1", "name": "debian"}}
SBOM = {"path": "/out/web.cdx.json", "sha256": "ab", "package_count": 3, "scanner": None, "findings": None}
RECORD = plan.result_spec()


def record(run_action, **args):
    result = run_action("target_result", args)
    assert not result.get("failed"), result
    return result


def test_artifact_of_a_docker_target(run_action):
    commit = {"image_id": "sha256:new", "tags": ["web:1"], "previous": {"web:1": None}}
    result = record(run_action, record="artifact", results={"other": {"status": "failed"}}, target=DOCKER,
                    provision={"status": "succeeded", "duration": 1.5}, sbom=SBOM, commit=commit,
                    push={"skipped": True}, attestation={"skipped": True})
    assert result["results"]["other"] == {"status": "failed"}
    assert result["results"]["container"] == result["record"] == {
        "status": "succeeded", "builder": "web-container-b1", "provision_duration": 1.5,
        "artifact": {"sbom": {"path": "/out/web.cdx.json", "sha256": "ab", "packages": 3, "scanner": None, "findings": None},
                     "image_id": "sha256:new", "tags": ["web:1"], "previous": {"web:1": None}, "pushed": [], "saved": None,
                     "attestations": [], "reused_from": None}}
    assert plan.validate(RECORD, result["record"]) == []


def test_artifact_of_a_reused_docker_target_has_no_builder_nor_sbom(run_action):
    target = dict(DOCKER, reuse={"build_id": "b0", "image_id": "sha256:old"})
    result = record(run_action, record="artifact", target=target, commit={"image_id": "sha256:old", "tags": ["web:1"],
                                                                          "previous": {}})
    assert result["record"]["builder"] is None and result["record"]["provision_duration"] is None
    assert result["record"]["artifact"]["sbom"] is None and result["record"]["artifact"]["reused_from"] == "b0"


def test_artifact_of_an_ec2_target(run_action):
    ami = {"name": "web-1.0.0-b1", "images": {"eu-west-1": "ami-2"}, "snapshots": {"eu-west-1": ["snap-1"]},
           "parameter": None, "deprecation_time": None}
    result = record(run_action, record="artifact", target=dict(EC2, reuse=None), builder=EC2_BUILDER,
                    provision={"status": "succeeded", "duration": 2.0}, sbom=SBOM, ami=ami, attestation={"attestations": [{"a": 1}]})
    assert list(result["record"]) == ["status", "builder", "instance_id", "source_ami", "provision_duration", "artifact"]
    assert result["record"]["artifact"]["amis"] == {"eu-west-1": "ami-2"} and result["record"]["instance_id"] == "i-1"
    assert plan.validate(RECORD, result["record"]) == []


def test_reused_amis_and_nothing_for_a_reused_docker_target(run_action):
    result = record(run_action, record="reused_amis", target=EC2, amis={"eu-west-1": "ami-9"}, shared={"skipped": True})
    assert result["record"] == {"status": "succeeded", "source_ami": {"image_id": "ami-1"},
                                "artifact": {"name": "web-1.0.0-b0", "amis": {"eu-west-1": "ami-9"}, "parameter": None,
                                             "deprecation_time": None, "attestations": [], "reused_from": "b0"}}
    assert plan.validate(RECORD, result["record"]) == []
    nothing = record(run_action, record="reused_amis", target=DOCKER, results={"container": {"status": "succeeded"}})
    assert nothing["record"] is None and nothing["results"] == {"container": {"status": "succeeded"}}


def test_a_target_that_did_not_provision_keeps_its_provision_result_and_how_to_reach_its_builder(run_action):
    provision = {"status": "failed", "stage": "scrub", "task": "Scrub", "message": "find: exit 3", "duration": 4.2}
    result = record(run_action, record="target_unprovisioned", target=EC2, builder=EC2_BUILDER, provision=provision)
    assert result["record"] == dict(provision, builder="web-aws-b1", instance_id="i-1", provision_duration=4.2,
                                    connection={"instance_id": "i-1", "ssh_host": "198.51.100.7", "ssh_port": 22,
                                                "private_key_file": "/k"})
    assert plan.validate(RECORD, result["record"]) == []
    ok = record(run_action, record="target_unprovisioned", target=DOCKER, provision={"status": "succeeded"})
    assert ok["record"] is None and ok["results"] == {}


@pytest.mark.parametrize("action,failed,stage", [
    ("immutable.images.docker_image_publish", {"msg": "denied", "stage": "push"}, "push"),
    ("community.docker.docker_image_export", {"msg": "no space"}, "save"),
    ("ansible.builtin.command", {"msg": "boom"}, "finalize"),
])
def test_artifact_failed_stage_from_the_failed_step(run_action, action, failed, stage):
    result = record(run_action, record="artifact_failed", target=DOCKER, provision={"status": "succeeded", "duration": 1},
                    failed_task={"name": "Push every tag", "action": action}, failed_result=failed)
    assert result["record"] == {"status": "failed", "stage": stage, "task": "Push every tag", "message": failed["msg"],
                                "builder": "web-container-b1", "instance_id": None, "connection": {}, "provision_duration": 1}
    assert plan.validate(RECORD, result["record"]) == []
    reuse = record(run_action, record="reuse_failed", target=DOCKER, failed_task={"name": "t", "action": action},
                   failed_result=failed)
    assert reuse["record"] == {"status": "failed", "stage": stage if stage != "finalize" else "reuse", "task": "t",
                               "message": failed["msg"]}


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
    assert result["record"]["stage"] == stage and result["results"] == {}
    assert 2.5 < result["record"]["duration"] < 10


def test_provision_failure_message_names_the_command_and_its_stderr(run_action):
    result = record(run_action, record="provision_failed", failed_task={"name": "Run", "action": "command"}, started=0,
                    failed_result={"msg": "non-zero return code", "cmd": ["ls", "/nope"], "stderr": "No such file"})
    assert result["record"]["message"] == "non-zero return code (command: ls /nope): No such file"
    assert list(result["record"]) == ["status", "stage", "task", "message", "duration"]


def test_a_record_needs_its_target(run_action):
    result = run_action("target_result", {"record": "artifact"})
    assert result["failed"] and "target is required" in result["msg"]
    assert run_action("target_result", {"record": "guess"})["failed"]
