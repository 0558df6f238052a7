# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compose and write the build manifest, with a summary that names each failed target, stage and cause."""

from __future__ import annotations

import time

from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import manifest as build_manifest
from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure, docker_errors, get_client
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionFailure, ActionModuleBase


class ActionModule(ActionModuleBase):

    def run_module(self, params, task_vars, result):
        build = self._templar.template(task_vars.get("image_build"))
        if not build:
            raise ActionFailure("image_build is not set: run the immutable.images.launch role first")
        results = params["results"] or {}
        for target in build["targets"]:
            artifact = (results.get(target["name"]) or {}).get("artifact")
            if target["type"] == "docker" and artifact and not self._task.check_mode:
                artifact["tags_moved"] = _moved_tags(target, artifact)
                artifact["tags_taken"] = _taken_tags(target, artifact, build)
        data = build_manifest.compose(build, results, time.time())
        if build.get("manifest") and not self._task.check_mode:
            build_manifest.write(data, build["manifest"])
        # Returned, not failed: the finalize role sets the manifest fact first, then fails on it.
        result.update(changed=False, msg=build_manifest.summary(data, bool(self._task.check_mode)),
                      manifest_path=build.get("manifest"), manifest=data)
        return result


def _moved_tags(target, artifact):
    """Tags that no longer point at this build's image: a concurrent build of the same version won the race."""
    try:
        client = get_client(target.get("docker_host"), tls=target.get("tls"))
        moved = {}
        for ref in artifact.get("tags") or []:
            try:
                current = client.images.get(ref).id
            except docker_errors.ImageNotFound:
                current = None
            if current != artifact["image_id"]:
                moved[ref] = current
        return moved
    except (DockerFailure, docker_errors.DockerException) as e:
        return {"error": str(e)}


def _taken_tags(target, artifact, build):
    """Tags this build moved away from another build's image of the same version (a concurrent build,
    or a rebuild of a version that was already built)."""
    taken = {}
    try:
        client = get_client(target.get("docker_host"), tls=target.get("tls"))
        for ref, old in (artifact.pop("previous", None) or {}).items():
            if not old or old == artifact["image_id"]:
                continue
            try:
                labels = client.images.get(old).labels or {}
            except docker_errors.ImageNotFound:
                labels = {}
            other = labels.get(naming.LABEL_BUILD_ID)
            if other and other != build["id"] and labels.get(naming.LABEL_IMAGE_VERSION) == build["version"]:
                taken[ref] = other
    except (DockerFailure, docker_errors.DockerException):
        pass
    return taken
