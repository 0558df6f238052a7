# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compose and write the build manifest, with a summary that names each failed target, stage and cause."""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase

from ansible_collections.immutable.images.plugins.module_utils import manifest as build_manifest


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("results",))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        build = self._templar.template((task_vars or {}).get("image_build"))
        if not build:
            return dict(result, failed=True, msg="image_build is not set: run the immutable.images.launch role first")
        data = build_manifest.compose(build, self._task.args.get("results") or {}, time.time())
        if build.get("manifest") and not self._task.check_mode:
            build_manifest.write(data, build["manifest"])
        # Returned, not failed: the finalize role sets the manifest fact first, then fails on it.
        result.update(changed=False, msg=build_manifest.summary(data), manifest_path=build.get("manifest"),
                      manifest=data)
        return result
