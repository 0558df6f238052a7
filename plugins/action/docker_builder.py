# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the docker_builder module (in this worker on the controller: ActionModuleBase.execute_module) with
ansible-playbook's pid as the builder's lease (module_utils/_docker/lease.py), then lets the new builder's connection
set itself up at once (prepare_connection, the speed layer's one hook). With `targets` (the launch role's way), it runs
the module once per target of the plan, at once (execute_module_each)."""

from __future__ import annotations

import os

from ansible.plugins.loader import connection_loader
from ansible.utils.vars import merge_hash

from ansible_collections.immutable.images.plugins.plugin_utils import _builder_inventory as builder_inventory
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import (
    COLLECTION,
    ActionFailure,
    ActionModuleBase,
)

BUILDER_CONNECTION = builder_inventory.DOCKER_BUILDER_CONNECTION  # what the launch role gives its docker builders
BUILDER_USER = builder_inventory.DOCKER_BUILDER_USER  # their ansible_user


class ActionModule(ActionModuleBase):
    _supports_check_mode = True
    VALIDATE = False  # the module's work validates its arguments itself (module_utils/_docker/builder_module.py)
    CONNECTIONS = (BUILDER_CONNECTION,)  # every task on a docker builder runs through it

    def run_module(self, params, task_vars, result):
        # Workers are forks of ansible-playbook: the builder's lease lives as long as our parent does.
        args = dict(self._task.args, lease_pid=self._task.args.get("lease_pid") or os.getppid())
        if args.get("targets") is not None:
            return self.start_targets(args, task_vars, result)
        result = merge_hash(result, self.execute_module("immutable.images.docker_builder", args, task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        if result.get("changed") and not result.get("failed") and not self._task.check_mode and args.get("warm_interpreter"):
            self.prepare_connection(result, args)
        return result

    def start_targets(self, args, task_vars, result):
        """The builders of the plan's docker targets (`targets`), started at once: each takes the engine about 0.3 s,
        most of it the container's start, so a definition with four targets waits for one instead of four."""
        # before anything starts (each builder's own options are checked by the module that starts it)
        inventory = args.get("inventory")
        wrong = builder_inventory.problem(inventory) if inventory is not None else None
        if wrong:
            raise ActionFailure("%s.%s: %s" % (COLLECTION, self.module_name, wrong))
        if inventory is not None:
            inventory = builder_inventory.located(inventory, task_vars)
        common = {k: v for k, v in args.items() if k in ("warm_interpreter", "lease_pid", "timeout") and v is not None}
        each = [dict(builder_args(target), **common) for target in args["targets"]]
        # the base images' registry credentials: the definition's (the plan has only whether it gives them)
        auths = args.get("pull_auth_by_target") or {}
        for builder, target in zip(each, args["targets"]):
            if auths.get(target["name"]):
                builder["pull_auth"] = auths[target["name"]]

        # a builder the plan expects to stay idle (every layer cached) gets its session only if a step needs it; one
        # that is not even started (start_builder false) is in no group of the inventory: no play runs on it
        idle = {target["builder_name"] for target in args["targets"] if target.get("idle")}

        def then(builder, one):  # in the builder's thread: its session starts while the others start
            if one.get("changed") and not one.get("failed") and not self._task.check_mode and builder.get("warm_interpreter") \
                    and builder["name"] not in idle:
                self.prepare_connection(one, builder)
        started = self.execute_module_each("immutable.images.docker_builder", each, task_vars, then=then)
        self._remove_tmp_path(self._connection._shell.tmpdir)
        results = [dict(one, target=target) for target, one in zip(args["targets"], started)]
        failed = [one for one in results if one.get("failed")]
        result.update(results=results, changed=any(one.get("changed") for one in results))
        if failed:
            result.update(failed=True, msg="; ".join("target %s: %s" % (one["target"].get("name"), one.get("msg", ""))
                                                     for one in failed))
        elif inventory is not None and not self._task.check_mode:  # in check mode, no builder started
            result["build"] = builder_inventory.placed_build(inventory["build"], results)
            for one in results:
                if builder_inventory.started_after_all(one):
                    one["target"] = dict(one["target"], start_builder=True, idle=False)
                if one["target"].get("start_builder", True):
                    one["inventory_entry"] = builder_inventory.docker_entry(one, result["build"], inventory,
                                                                            BUILDER_CONNECTION, BUILDER_USER)
        return result

    def prepare_connection(self, result, args):
        """One of the speed layer's two hooks outside its owner: the builder's connection does now, in the background, what
        its first use would do (start the builder's session, which installs the warm interpreter), so that it is
        ready by the builder's first task instead of making it wait (measured: docs/development.md)."""
        engine = result.get("placed") or args  # the engine a pool placed the builder on, else the task's own
        options = {"remote_addr": (result.get("container") or {}).get("name") or args.get("name"), "remote_user": BUILDER_USER,
                   "docker_host": engine.get("docker_host"), "tls": engine.get("tls") or None, "warm": True,
                   "python_interpreter": args.get("python_interpreter") or "/usr/bin/python3", "extra_env": {}}
        try:
            connection = connection_loader.get(BUILDER_CONNECTION, self._play_context)
            connection.set_options(direct=options)
            connection._connect()
        except Exception:  # noqa: BLE001 - the builder's first task starts it then, and says so if it cannot
            pass


def builder_args(target):
    """The docker_builder options of a plan's docker target (plugins/plugin_utils/_definition/plan.py)."""
    args = {"name": target["builder_name"], "image": target["base_image"], "from_layer": target.get("start_layer"),
            "start": target.get("start_builder"), "pull": target.get("pull"),
            "platform": target.get("platform"), "network_mode": target.get("network_mode"),
            "docker_host": target.get("docker_host"), "tls": target.get("tls") or None,
            "volumes": target.get("build_volumes"), "privileged": target.get("privileged"), "labels": target.get("labels"),
            "python_interpreter": target.get("python_interpreter"), "engines": target.get("engine_pool") or None}
    return {k: v for k, v in args.items() if v is not None}
