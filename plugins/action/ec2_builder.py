# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the ec2_builder module as a module. Its plugin names the connection of the builders it starts, which
ansible-playbook's process then loads once for every task on them (ActionModuleBase.CONNECTIONS), and with
`inventory` returns the builder's inventory entry with that connection (plugin_utils/_builder_inventory.py)."""

from __future__ import annotations

from ansible.plugins.loader import connection_loader
from ansible.utils.vars import merge_hash

from ansible_collections.immutable.images.plugins.plugin_utils import _builder_inventory as builder_inventory
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import (
    COLLECTION,
    ActionFailure,
    ActionModuleBase,
)

BUILDER_CONNECTION = "immutable.images.ssh"  # what the launch role gives its ec2 builders


class ActionModule(ActionModuleBase):
    _supports_check_mode = True
    VALIDATE = False  # the module validates its arguments itself (AnsibleAWSModule)
    CONNECTIONS = (BUILDER_CONNECTION,)  # every task on an ec2 builder runs through it

    def run_module(self, params, task_vars, result):
        # `inventory` is this plugin's: the builder's entry is made from the module's result (_builder_inventory.py)
        params = dict(params)
        inventory = params.pop("inventory", None)
        wrong = builder_inventory.problem(inventory, needs=("build", "target", "groups")) if inventory is not None else None
        if wrong:
            raise ActionFailure("%s.%s: %s" % (COLLECTION, self.module_name, wrong))
        if inventory is not None:
            inventory = builder_inventory.located(inventory, task_vars)
        if params.get("ssh_bastion_host") and params.get("ssh_bastion_host_key_checking") is None:
            params["ssh_bastion_host_key_checking"] = self._host_key_checking(task_vars)
        result = merge_hash(result, self.execute_module("immutable.images.ec2_builder", params, task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        if inventory is not None and not result.get("failed") and result.get("instance_id"):
            result["inventory_entry"] = builder_inventory.ec2_entry(result, inventory, BUILDER_CONNECTION)
        return result

    def _host_key_checking(self, task_vars):
        """Ansible's host_key_checking as its ssh connection resolves it (setting, environment, variables): the
        bastion's host key is checked as a host's would be."""
        connection = connection_loader.get("ansible.builtin.ssh", self._play_context)
        connection.set_options(var_options=task_vars)
        return connection.get_option("host_key_checking")
