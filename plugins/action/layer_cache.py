# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-role layer cache steps for a docker builder (see module_utils/layer_cache.py), on the controller.

The cache state of a builder - the current layer and the image its container runs - is kept in the
host's facts under ansible_facts.immutable_images_layer.
"""

from __future__ import annotations

from ansible.constants import DEFAULT_LOCAL_TMP
from ansible.plugins.action import ActionBase

from ansible_collections.immutable.images.plugins.module_utils.docker_client import DockerFailure, get_client
from ansible_collections.immutable.images.plugins.module_utils.layer_cache import LayerCache, cache_key
from ansible_collections.immutable.images.plugins.plugin_utils import docker_session

FACT = "immutable_images_layer"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("state", "role", "digest", "vars", "key"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        if self._task.check_mode:
            return dict(result, skipped=True, hit=False, msg="no layer cache in check mode")
        build = self._templar.template(task_vars["image_build"])
        target = self._templar.template(task_vars["image_target"])
        container = target["builder"]["name"]
        try:
            cache = LayerCache(get_client(target.get("docker_host") or None))
            state = dict((task_vars.get("ansible_facts") or {}).get(FACT) or {})
            if not state:  # the builder as launched: base image plus the uploaded files
                base = target["builder"]["image_id"]
                state = {"layer": base, "at": base}
            step = args.get("state", "lookup")
            if step == "lookup":
                key = cache_key(state["layer"], build["files_digest"], args["role"], args["digest"], args.get("vars") or {},
                                self._task_environment())
                hit = cache.find(build["name"], key)
                if hit:
                    state["layer"] = hit
                elif state["at"] != state["layer"]:  # a miss after hits: continue from the last hit
                    self._swap(cache, container, state["layer"], target, build)
                    state["at"] = state["layer"]
                result.update(key=key, hit=bool(hit), changed=False)
            elif step == "store":
                image = cache.store(container, args["key"], build["name"], target["labels"])
                state = {"layer": image, "at": image}
                result.update(changed=True, layer=image)
            else:  # sync: the builder must hold the current layer before it is committed
                if state["at"] != state["layer"]:
                    self._swap(cache, container, state["layer"], target, build)
                    state["at"] = state["layer"]
                    result["changed"] = True
        except DockerFailure as e:
            return dict(result, failed=True, stage="cache", msg=str(e))
        result["ansible_facts"] = {FACT: state}
        return result

    def _task_environment(self):
        """The environment the role runs with (build_env, from the provision block): part of the key, hashed,
        never shown - a changed build env must not reuse layers made with the old one."""
        env = {}
        for layer in self._task.environment or []:
            env.update(self._templar.template(layer) or {})
        return {str(k): str(v) for k, v in env.items()}

    def _swap(self, cache, container, layer, target, build):
        # The builder's session (ours or Mitogen's) ends with its container: end it first, so that the next
        # task starts a session with the new container instead of meeting the old one's last moments.
        if self._connection.transport == "immutable.images.docker_session":
            docker_session.stop(docker_session.socket_path(DEFAULT_LOCAL_TMP, container,
                                                           self._connection.get_option("remote_user")))
        elif target.get("mitogen"):
            self._connection.reset()
        cache.swap(container, layer, target, build.get("warm_interpreter") and not target.get("mitogen"))
        if hasattr(self._connection, "prestart"):  # the new container's session starts while Ansible goes on
            self._connection.prestart()
