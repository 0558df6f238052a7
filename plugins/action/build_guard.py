# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Arm or disarm the build guard (see plugin_utils/_guard/build_guard.py) on the controller, or sweep what the guards
of ended builds left."""

from __future__ import annotations

import multiprocessing
import os
import shutil

from ansible.constants import DEFAULT_LOCAL_TMP

from ansible_collections.immutable.images.plugins.plugin_utils import _builder_inventory as builder_inventory
from ansible_collections.immutable.images.plugins.plugin_utils._guard import build_guard, private_log
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionFailure, ActionModuleBase


class ActionModule(ActionModuleBase):
    CHECK_MODE = dict(skipped=True, msg="the build guard is not needed in check mode")

    def run_module(self, params, task_vars, result):
        if params["state"] == "swept":
            messages = []
            swept = build_guard.sweep(params["image_names"], log=messages.append)
            return dict(result, changed=bool(swept), swept=swept, messages=messages)
        if params["state"] == "disarmed":
            build = (task_vars or {}).get("image_build") or {}
            build_id = self._templar.template(build.get("id"))
            # By its token, never by a signal to a pid that may since belong to another process (pid is ignored).
            changed = bool(build_id) and build_guard.disarm(build_id)
            remove = params["remove"]
            removed = None
            if remove and os.path.isdir(remove):  # after the disarm: the guard would remove it too
                try:
                    shutil.rmtree(remove)
                except OSError as e:
                    raise ActionFailure("cannot remove %s: %s" % (remove, e)) from e
                changed, removed = True, remove
            # the builders are gone: so are their facts (a persistent fact cache would keep them)
            forgotten = builder_inventory.forget_cached_facts(_builder_hosts(self._templar.template(build.get("targets"))))
            return dict(result, changed=changed, removed=removed, disarmed=build_id, facts_forgotten=forgotten)
        build = self._templar.template((task_vars or {}).get("image_build"))
        targets = build["targets"]
        spec = {
            "build_id": build["id"],
            "image_name": build["name"],  # for the janitor's sweep scoped to image names
            # every engine a builder of the build can be on (a target of an engine pool: each engine of the pool)
            "docker_hosts": sorted({e.get("docker_host") or "" for e in build["engines"]}),
            "docker_tls": {e.get("docker_host") or "": e.get("tls") for e in build["engines"] if e.get("tls")},
            # The regions AMIs are copied to too: an interrupted build rolls back the copies it made.
            "regions": sorted({r for t in targets if t["type"] == "ec2" for r in [t["region"]] + list(t.get("copy_to_regions") or [])}),
            "workdir": build.get("workdir"),
            # ansible-playbook's own temporary directories, which it removes only when it exits normally, not on
            # SIGTERM or SIGKILL (build_guard.PLAYBOOK_TMP)
            "local_tmp": DEFAULT_LOCAL_TMP,
            "multiprocessing_tmp": _multiprocessing_tmp(),
        }
        # Workers are forks of the ansible-playbook process: its pid is our parent's.
        watch = os.getppid()
        # The log lives outside the workdir, which the guard removes.
        pid = build_guard.arm(spec, watch, private_log.log_path(build["id"]))
        # before any builder joins the inventory: what an earlier build's builder of the same name left in a persistent
        # fact cache is not this builder's
        forgotten = builder_inventory.forget_cached_facts(_builder_hosts(targets))
        return dict(result, changed=True, pid=pid, watching=watch, spec=spec, facts_forgotten=forgotten)


def _builder_hosts(targets):
    """The builders' inventory names (the plan's target.host)."""
    return [t["host"] for t in targets or () if t.get("host")]


def _multiprocessing_tmp():
    """The temporary directory of ansible-playbook's multiprocessing (pymp-*: ansible-core 2.21's listener for its
    workers' requests), None if it made none. A worker is a multiprocessing child of that process: it holds a copy of
    its parent's process configuration (a private attribute of multiprocessing; docs/development.md)."""
    return (getattr(multiprocessing.current_process(), "_config", None) or {}).get("tempdir")
