# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record the result of one target (or the provision_result of a failed provisioning): the records are made by
plugin_utils/_artifacts/target_result.py, from the registered results of the steps, not assembled in the roles."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionFailure, ActionModuleBase
from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import target_result as records


class ActionModule(ActionModuleBase):

    def run_module(self, params, task_vars, result):
        kind, target = params["record"], params["target"] or {}
        if kind != "provision_failed" and not target.get("name"):
            raise ActionFailure("immutable.images.target_result: target is required for record=%s" % kind)
        record = None
        if kind == "provision_failed":
            record = records.provision_failure(params["failed_task"], params["failed_result"], params["started"],
                                               params["phase"])
        elif kind == "target_unprovisioned":
            if params["provision"].get("status") != "succeeded":
                record = records.provision_failed(target, params["builder"], params["provision"])
        elif kind == "artifact_failed":
            record = records.artifact_failed(target, params["builder"], params["provision"], params["failed_task"],
                                             params["failed_result"])
        elif kind == "reuse_failed":
            record = records.reuse_failed(params["failed_task"], params["failed_result"])
        elif kind == "reused_amis":
            if target.get("type") == "ec2":
                record = records.reused_amis(target, params["amis"], params["shared"], params["attestation"])
        elif target.get("type") == "docker":
            record = records.docker_image(target, params["provision"], params["sbom"], params["commit"], params["push"],
                                          params["attestation"])
        else:
            record = records.ec2_amis(target, params["builder"], params["provision"], params["sbom"], params["ami"],
                                      params["attestation"])
        results = dict(params["results"])
        if record is not None and kind != "provision_failed":
            results[target["name"]] = record
        result.update(changed=False, record=record, results=results)
        return result
