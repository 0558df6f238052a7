# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the docker_builder module, then starts the new builder's session in the background.

The session's relay takes a few tenths of a second to start (a Python with the Docker SDK). Started
here, it is ready by the builder's first task instead of making that task wait; the connection
(immutable.images.docker_session) finds it by the same socket path and starts one itself if this one
did not come up.
"""

from __future__ import annotations

import os

from ansible.constants import DEFAULT_LOCAL_TMP
from ansible.utils.vars import merge_hash

from ansible_collections.immutable.images.plugins.module_utils._warm.client import ENV_WARM
from ansible_collections.immutable.images.plugins.module_utils._warm import relay as docker_session
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionModuleBase

BUILDER_USER = "root"  # the ansible_user that launch gives its docker builders


class ActionModule(ActionModuleBase):
    _supports_check_mode = True
    VALIDATE = False  # the module validates its arguments itself (AnsibleModule, with its DOCUMENTATION's spec)

    def run_module(self, params, task_vars, result):
        # Workers are forks of ansible-playbook: the builder's lease lives as long as our parent does.
        args = dict(self._task.args, lease_pid=self._task.args.get("lease_pid") or os.getppid())
        result = merge_hash(result, self._execute_module(module_args=args, task_vars=task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        container = result.get("container") or {}
        warm = container.get("warm") or {}
        if warm.get("started") and not result.get("failed") and not self._task.check_mode:
            # the engine a pool placed the builder on, else the task's own
            engine = result.get("placed") or self._task.args
            env = {str(k): str(v) for k, v in (warm.get("env") or {}).items()}
            name = container["name"]
            try:
                docker_session.start(docker_session.socket_path(DEFAULT_LOCAL_TMP, name, BUILDER_USER), name,
                                     BUILDER_USER, env, env.get(ENV_WARM, "").partition("|")[2],
                                     engine.get("docker_host"), wait=False, tls=engine.get("tls"))
            except OSError:
                pass  # the builder's first task starts it, and says so if it cannot
        return result
