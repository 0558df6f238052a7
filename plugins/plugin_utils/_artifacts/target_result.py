# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The result records of the build's targets, made from the results of the steps that produced them.

One record per target (declared by plugin_utils/_definition/plan.py result_spec): what build_manifest turns into
the manifest's entry of the target. And provision_result, the record of a failed provisioning. The failed stage
comes from the step that failed: the stage its module reports, else the stage of the phase the failure happened
in. Imported by action/target_result.py only (controller).
"""

from __future__ import annotations

import time

# What a kept builder's hint needs of an ec2 builder (docker builders have none of these).
CONNECTION_KEYS = ("instance_id", "ssh_host", "ssh_port", "private_key_file", "ssh_bastion")
# Stages that the collection's provisioning steps report when they fail (builder_files, package_inventory).
# A failure of any other task of provisioning (a role's, the layer cache's) is one of stage provision.
PROVISION_STEP_STAGES = ("upload", "sbom")
# A module of another collection that reports no stage, and the stage of its step.
STAGE_OF_MODULE = {"docker_image_export": "save"}


def provision_failure(failed_task, failed_result, started, phase=None):
    """provision_result of a builder whose provisioning failed. `phase` is verify or scrub once those started."""
    stage = phase or failed_result.get("stage")
    if stage not in PROVISION_STEP_STAGES + ("verify", "scrub"):
        stage = "provision"
    return {"status": "failed", "stage": stage, "task": failed_task.get("name"), "message": failure_message(failed_result),
            "duration": round(time.time() - float(started or 0), 2)}


def failure_message(failed_result):
    """The failed result's msg, with the command and its stderr when the task ran one."""
    message = _text(failed_result.get("msg", ""))
    cmd = failed_result.get("cmd")
    if cmd:
        message += " (command: %s)" % (cmd if isinstance(cmd, str) else " ".join(str(c) for c in cmd))
    if failed_result.get("stderr"):
        message += ": %s" % _text(failed_result["stderr"])
    return message


def _text(value):
    return "" if value is None else str(value)


def _failed_stage(failed_task, failed_result, default):
    if "stage" in failed_result:
        return failed_result["stage"]
    action = str(failed_task.get("action") or "")
    return next((stage for module, stage in STAGE_OF_MODULE.items() if action.rsplit(".", maxsplit=1)[-1] == module), default)


def _builder_fields(target, builder, provision):
    return {"builder": target["builder_name"], "instance_id": builder.get("instance_id"),
            "connection": {k: v for k, v in builder.items() if k in CONNECTION_KEYS},
            "provision_duration": provision.get("duration")}


def provision_failed(target, builder, provision):
    """The record of a target whose provisioning failed: its provision_result and how to reach its builder."""
    return dict(provision, **_builder_fields(target, builder, provision))


def artifact_failed(target, builder, provision, failed_task, failed_result):
    """The record of a target whose artifact could not be made (commit, push, save, sign, ...)."""
    record = {"status": "failed", "stage": _failed_stage(failed_task, failed_result, "finalize"),
              "task": failed_task.get("name"), "message": failed_result.get("msg", "")}
    record.update(_builder_fields(target, builder, provision))
    return record


def reuse_failed(failed_task, failed_result):
    """The record of a target whose existing artifact could not be reused (tagged, pushed, shared...)."""
    return {"status": "failed", "stage": _failed_stage(failed_task, failed_result, "reuse"),
            "task": failed_task.get("name"), "message": failed_result.get("msg", "")}


def _sbom(sbom):
    if "path" not in sbom:
        return None
    return {"path": sbom["path"], "sha256": sbom.get("sha256"), "packages": sbom.get("package_count"),
            "scanner": sbom.get("scanner"), "findings": sbom.get("findings")}


def docker_image(target, provision, sbom, commit, push, attestation):
    """The record of a docker target's image, made by this build or reused (target.reuse)."""
    reused_from = target["reuse"].get("build_id") if target.get("reuse") else commit.get("reused_from")
    return {"status": "succeeded",
            "builder": None if target.get("reuse") else target["builder_name"],
            "provision_duration": provision.get("duration"),
            "artifact": {"sbom": _sbom(sbom), "image_id": commit.get("image_id"), "tags": commit.get("tags"),
                         "previous": commit.get("previous"), "pushed": push.get("pushed", []), "saved": target.get("save"),
                         "attestations": attestation.get("attestations", []), "reused_from": reused_from}}


def ec2_amis(target, builder, provision, sbom, ami, attestation):
    """The record of an ec2 target's AMIs, made by this build."""
    return {"status": "succeeded", "builder": target["builder_name"], "instance_id": builder.get("instance_id"),
            "source_ami": builder.get("source_ami"), "provision_duration": provision.get("duration"),
            "artifact": {"sbom": _sbom(sbom), "name": ami.get("name"), "amis": ami.get("images"),
                         "snapshots": ami.get("snapshots"), "parameter": ami.get("parameter"),
                         "deprecation_time": ami.get("deprecation_time"),
                         "attestations": attestation.get("attestations", [])}}


def reused_amis(target, amis, shared, attestation):
    """The record of an ec2 target whose AMIs a build with the same inputs made."""
    return {"status": "succeeded", "source_ami": {"image_id": target.get("base")},
            "artifact": {"name": target["reuse"]["amis"][target["region"]]["name"], "amis": amis,
                         "parameter": shared.get("parameter"), "deprecation_time": shared.get("deprecation_time"),
                         "attestations": attestation.get("attestations", []), "reused_from": target["reuse"]["build_id"]}}
