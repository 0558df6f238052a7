# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the provision_result of a builder whose provisioning failed: the record is made by
plugin_utils/_artifacts/target_result.py (the stage that failed), not assembled in the provision role. The records of
the targets' artifacts are made by action/image_artifact.py."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionModuleBase
from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import target_result as records


class ActionModule(ActionModuleBase):

    def run_module(self, params, task_vars, result):
        record = records.provision_failure(params["failed_task"], params["failed_result"], params["started"],
                                           params["phase"])
        result.update(changed=False, record=record)
        return result
