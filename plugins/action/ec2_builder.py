# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the ec2_builder module as a module. Its plugin names the connection of the builders it starts, which
ansible-playbook's process then loads once for every task on them (ActionModuleBase.CONNECTIONS)."""

from __future__ import annotations

from ansible.utils.vars import merge_hash

from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionModuleBase

BUILDER_CONNECTION = "immutable.images.ssh"  # what the launch role gives its ec2 builders


class ActionModule(ActionModuleBase):
    _supports_check_mode = True
    VALIDATE = False  # the module validates its arguments itself (AnsibleAWSModule)
    CONNECTIONS = (BUILDER_CONNECTION,)  # every task on an ec2 builder runs through it

    def run_module(self, params, task_vars, result):
        result = merge_hash(result, self.execute_module("immutable.images.ec2_builder", params, task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
