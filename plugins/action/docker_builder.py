# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the docker_builder module with ansible-playbook's pid as the builder's lease (module_utils/_docker/lease.py)."""

from __future__ import annotations

import os

from ansible.utils.vars import merge_hash

from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionModuleBase


class ActionModule(ActionModuleBase):
    _supports_check_mode = True
    VALIDATE = False  # the module validates its arguments itself (AnsibleModule, with its DOCUMENTATION's spec)

    def run_module(self, params, task_vars, result):
        # Workers are forks of ansible-playbook: the builder's lease lives as long as our parent does.
        args = dict(self._task.args, lease_pid=self._task.args.get("lease_pid") or os.getppid())
        result = merge_hash(result, self._execute_module(module_args=args, task_vars=task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
