# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the docker_cleanup module: in this worker when the task is on the controller (ActionModuleBase.execute_module),
else as a module."""

from __future__ import annotations

from ansible.utils.vars import merge_hash

from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionModuleBase


class ActionModule(ActionModuleBase):
    _supports_check_mode = True
    VALIDATE = False  # the module's work validates its arguments itself (module_utils/_docker/cleanup_module.py)

    def run_module(self, params, task_vars, result):
        result = merge_hash(result, self.execute_module("immutable.images.docker_cleanup", params, task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
