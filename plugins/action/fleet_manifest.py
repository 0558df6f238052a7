# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compose and write the fleet manifest of a build_all run from what each definition host recorded."""

from __future__ import annotations

import os

from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import fleet
from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import manifest as build_manifest
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionModuleBase


class ActionModule(ActionModuleBase):

    def run_module(self, params, task_vars, result):
        hostvars = task_vars.get("hostvars") or {}
        entries, started = [], []
        for host in params["hosts"] or []:
            seen = hostvars[host]
            build = seen.get("image_build") or {}
            started += [build["started"]] if build.get("started") else []
            entries.append(fleet.definition_entry(
                host, manifest=seen.get("image_build_manifest"), failure=seen.get("image_fleet_failure"),
                manifest_path=build.get("manifest"), definition_file=seen.get("image_definition_file")))
        data = fleet.compose(entries, min(started) if started else None)
        path = params["path"]
        if path:
            path = os.path.join(os.getcwd(), path)  # relative to the current directory, like image_manifest
        if path and not self._task.check_mode:
            build_manifest.write(data, path)
        result.update(changed=False, msg=fleet.summary(data, path), path=path, fleet=data)
        return result
