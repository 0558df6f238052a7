# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-role layer cache steps for a docker builder (see plugin_utils/_docker/layer_cache.py), on the controller.

The cache state of a builder is kept on the controller, in a file of the build's work directory named
after the builder - never in the host's facts or variables, where the roles would see it (a role's
`setup: ... when: not ansible_facts` must find ansible_facts empty until facts are gathered):
  key    the key of the last role looked up (the next role's key chains it)
  layer  the image the builder should hold (the last hit or stored layer); None when the builder itself
         is ahead of every layer (a role ran and its layer could not be stored yet: handlers pending)
  at     the image the builder's container was created from (as launched: its base image, or the layer the plan
         expected the lookups to find, image_build.targets[].start_layer; until they find it, `layer` differs)
  base   the base image id (where the keys chain from, and where deferred facts are gathered)
  pin    a container that holds `layer` on the engine while the builder is not at it yet (LayerCache.pin):
         the janitor cannot prune a layer a running build has looked up
  ran    the role whose lookup missed last ({key, role}): it runs next, and its layer is stored by the step after
         it - the next role's lookup, or sync after the last role - as soon as it ran (one step fewer per role)
  facts  true once this step gathered the builder's facts (image_build.facts_deferred: at the first miss, before
         that role runs; a build whose every layer is cached gathers none)
  off    what changed on the builder before its roles ran (paths), found by the first of these steps: a play or
         pre_tasks of one's own did it. From then on no layer is stored from the builder and none taken for it (a
         layer holds what image_roles make, and its key says only that; a layer taken would replace the builder and
         lose those changes): its roles run, and its artifact is committed from the builder itself
  synced true once sync has run: the builder's filesystem is `layer` (the artifact's commit reuses it,
         layer_cache.builder_layer), or, with left_behind, the builder stayed at `at` and the artifact is made from
         `layer` (every role's layer was cached, nothing runs on the builder any more, and the layer's package
         inventory was recorded by an earlier build: no container of the layer is needed)

Sync also returns the package inventory of the layer for the SBOM (read on the builder, which it records, or the
record), unless checks run on the builder after it (then the provision role reads it after them).

`expected` comes before the roles, on a builder launched at the layer the plan expected the first roles' lookups to
find (image_build.targets[].start_layer, of start_roles roles). The step runs with the target's build_env as its own
environment, as the lookups do; when nothing was looked up yet and no other environment is set around it, each of those
lookups would compute the plan's key and find its layer (the roles' vars and build_env hold no template, or the plan
would not have guessed). The step then takes those layers at once (`roles`: how many): their lookups are left out, and
the next role's lookup chains from the last one's key. A builder the plan expects to stay idle (every role's layer,
image_build.targets[].idle) is also synced where it is, with the layer's package inventory, as sync after the lookups
would leave it (`hit`): none of the roles' steps runs.
"""

from __future__ import annotations

import json
import os
import re

from ansible_collections.immutable.images.plugins.module_utils._docker.builder import DockerBuilder
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DockerFailure,
    RequestException,
    docker_errors,
    get_client,
)
from ansible_collections.immutable.images.plugins.plugin_utils._docker import layer_cache
from ansible_collections.immutable.images.plugins.plugin_utils._docker.layer_cache import (
    LayerCache,
    cache_key,
    key_values,
    read_state,
)
from ansible_collections.immutable.images.plugins.plugin_utils._docker.layer_cache import state_path as layer_state_path
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionFailure, ActionModuleBase


class ActionModule(ActionModuleBase):
    CHECK_MODE = dict(skipped=True, hit=False, msg="no layer cache in check mode")
    REQUIRED_IF = [("state", "lookup", ("role", "digest")), ("state", "store", ("key",))]

    def run_module(self, params, task_vars, result):
        args = params
        build = self._templar.template(task_vars["image_build"])
        target = self._templar.template(task_vars["image_target"])
        container = target["builder"]["name"]
        state_path = layer_state_path(build["workdir"], container)
        # Connected first: what the builder's connection sets up on its first use (its session) overlaps the lookup.
        # Not a builder the plan expects to stay idle (every lookup a hit): its session starts if a role runs after all.
        if not target.get("idle"):
            self._connection._connect()
        try:
            state = read_state(state_path)
            state.pop("synced", None)
            state.pop("left_behind", None)  # each sync says again whether the builder stays behind
            looked_up = bool(state)
            if not state:  # the builder as launched: from its base image, or from the layer the plan expected to be hit
                base = target["builder"].get("base_image_id") or target["builder"]["image_id"]
                state = {"key": base, "layer": base, "at": target["builder"]["image_id"], "base": base}
            step = args["state"]
            # The first of them, before any role ran, in a playbook of one's own (in build_image and build_all no play
            # but the provision role's runs on the builders): has anything else changed the builder?
            if not looked_up and step in ("expected", "lookup") and not build.get("provision_only"):
                changed = self._changed_before_the_roles(target, container)
                if changed:
                    state["off"] = changed
                    result["warnings"] = [_off_warning(target, changed)]
            if step == "expected":
                if looked_up or not self._as_planned(target):
                    if state.get("off"):
                        _write(state_path, state)
                    return dict(result, hit=False, roles=0, changed=False)  # the roles' steps look up their layers
                # the layers the builder was launched at hold what the first roles made, and nothing else: taken
                state.update(key=target["start_key"], layer=state["at"])
                result.update(hit=bool(target.get("idle")), roles=target["start_roles"], key=state["key"],
                              layer=state["layer"], changed=False)
                if result["hit"] and state.get("off"):  # nothing runs: the builder, with those changes, is the artifact's
                    state.update(synced=True, layer=None)
                    result["inventory"] = self._list_packages(task_vars)
                elif result["hit"]:
                    state["synced"] = True
                    result["inventory"] = self._layer_inventory(state["layer"], task_vars)
                _write(state_path, state)
                return result
            cache = LayerCache(self._client(target))
            if step == "lookup" and state.get("off"):
                result.update(self._without_the_cache(cache, container, state, build, task_vars, args))
            elif step == "lookup":
                # First the layer of the role that ran since the last lookup (it missed): stored before anything
                # else, right after that role, as a step of its own would have.
                result.update(self._store_ran(cache, container, state, build, target))
                role_vars, role_params = self._role_values(args, task_vars)
                key = cache_key(state["key"], build["files_digest"], args["role"], args["digest"], role_vars,
                                args.get("tags") or [], build.get("play"),
                                # the role's (build_env): hashed, never shown - a changed build env reuses no layer
                                self.task_environment(), target["name"], role_params)
                pinned = cache.pin(build["name"], key, target["labels"])
                hit = pinned[0] if pinned else None
                state["key"] = key
                if hit:
                    old_pin, state["pin"] = state.get("pin"), pinned[1]
                    state["layer"] = hit
                    cache.unpin(old_pin)  # the new layer is held now (and is a child of the old one)
                else:
                    state["ran"] = {"key": key, "role": args["role"]}  # the role runs now: its layer is stored next
                    if build.get("facts_deferred") and not state.get("facts"):
                        # The first role that runs: the facts a play gathers, on the builder as launched from the base
                        # image (before the swap to the cached layers and the upload), as main.yml gathers them when
                        # not deferred. A builder the plan started at its last layer (no role was expected to run)
                        # goes back to the base image for them first.
                        if state["at"] != state["base"]:
                            self._swap(cache, container, state["base"], target, build)
                            state["at"] = state["base"]
                        result["ansible_facts"] = self._gather_facts(build["facts"], task_vars)
                        # As ansible-core's own gathering does: -v and up show the step, not every fact (facts hold
                        # the environment, build_env values included).
                        result["_ansible_verbose_override"] = True
                        state["facts"] = True
                    if state["layer"] is not None and state["at"] != state["layer"]:  # a miss after hits
                        self._swap(cache, container, state["layer"], target, build)
                        state["at"] = state["layer"]
                uploaded = bool(args.get("upload")) and not hit
                if uploaded:  # the first role's miss: the builder needs the files its layer will hold
                    self._upload(cache, container, args["upload"])
                result.update(key=key, hit=bool(hit), uploaded=uploaded, changed=uploaded or result.get("changed", False))
            elif step == "store" and state.get("off"):
                result.update(changed=False, stored=False, msg="not stored: %s" % _OFF)
            elif step == "store":  # the layer of a role stored by a step of its own (the provision role stores at lookup/sync)
                if (state.get("ran") or {}).get("key") == args["key"]:
                    state.pop("ran")
                pending = _pending_handlers(self._task)
                if pending:
                    state["layer"] = None
                    result.update(_deferred(pending))
                else:
                    image = self._store(cache, container, args["key"], build, target)
                    state.update(layer=image, at=image)
                    result.update(changed=True, stored=True, layer=image)
            elif state.get("off"):  # sync: the builder is the artifact's filesystem (builder_layer: none)
                state.update(synced=True, layer=None)
                if not build.get("verify_tasks") and not target.get("squash"):
                    result["inventory"] = self._list_packages(task_vars)
                result.setdefault("changed", False)
            else:  # sync, after the handlers ran: the builder must hold the current layer before it is committed
                # Nothing runs on the builder after this step but the package inventory, unless there are checks
                # (they run on it, and then it is read after them) or the artifact is squashed (from the builder).
                last_use = not build.get("verify_tasks") and not target.get("squash")
                # the last role, if it ran, is stored under its key: the handlers have run by now
                if state.pop("ran", None) or state["layer"] is None:
                    image = self._store(cache, container, state["key"], build, target)
                    state.update(layer=image, at=image)
                    result.update(changed=True, layer=image)
                elif state["at"] != state["layer"]:
                    # left behind only when no play of one's own comes after: such a play must find every role's work
                    known = layer_cache.read_inventory(state["layer"]) if last_use and build.get("provision_only") else None
                    if known is not None:  # left where it is: the artifact is made from the layer
                        state["left_behind"] = True
                        result["inventory"] = known
                    else:
                        # no session started for what comes next: the artifact's commit may pause it at once
                        self._swap(cache, container, state["layer"], target, build, session_next=False)
                        state["at"] = state["layer"]
                        result["changed"] = True
                state["synced"] = True
                if last_use and "inventory" not in result:  # the builder is the layer now: its record, or read it
                    result["inventory"] = self._layer_inventory(state["layer"], task_vars)
                result.setdefault("changed", False)
        except DockerFailure as e:
            raise ActionFailure(str(e), stage="cache") from e
        if state.get("pin") and state["at"] == state["layer"]:  # the builder itself holds its layer now
            cache.unpin(state.pop("pin"))
        _write(state_path, state)
        return result

    def _client(self, target):
        return get_client(target.get("docker_host") or None, tls=target.get("tls"))

    def _changed_before_the_roles(self, target, container):
        """What changed in the builder since it was launched, before any role ran (paths, sorted, at most 5, without
        the directories they are in): nothing, unless a play or pre_tasks of one's own wrote to it. The engine's size of
        what the builder wrote says whether anything did (cheap: its own layer alone; its session and warm interpreter
        are in /dev/shm, a mount it does not count), then its list of changes says what (which compares the builder
        with its whole image: about 0.35 s for the Debian base image here). A play that only deleted files or made
        empty directories writes nothing that size counts."""
        try:
            client = self._client(target)
            # the engine's name filter is a regular expression: the one listed with exactly this name is the builder
            listed = client.api.containers(all=True, size=True, filters={"name": "^/%s$" % re.escape(container)})
            if not any(("/" + container) in (one.get("Names") or ()) and one.get("SizeRw") for one in listed):
                return []
            changes = client.api.diff(container) or []
        except (docker_errors.APIError, RequestException) as e:
            raise ActionFailure("cannot ask the engine what changed in the builder %s: %s" % (container, e),
                                stage="cache") from e
        paths = sorted(change.get("Path") or "" for change in changes)
        # each path once: not the directories whose change is that of a path under them
        return [path for i, path in enumerate(paths)
                if not (i + 1 < len(paths) and paths[i + 1].startswith(path.rstrip("/") + "/"))][:5] or ["(unnamed)"]

    def _without_the_cache(self, cache, container, state, build, task_vars, args):
        """A lookup on a builder changed before its roles ran (state off): the role runs where the builder is, with the
        facts gathered there (deferred ones) and the image files uploaded at the first role, as without the cache."""
        if state["at"] != state["layer"]:  # launched at layers the roles' lookups did not take: they would run twice
            raise ActionFailure("the builder %s was changed before its roles ran (%s) and was launched at a cached "
                                "layer that its roles' lookups do not take: set image_cache to false, or make that "
                                "change in a role of image_roles" % (container, ", ".join(state["off"])), stage="cache")
        result = {"key": None, "hit": False, "changed": False}
        if build.get("facts_deferred") and not state.get("facts"):
            result["ansible_facts"] = self._gather_facts(build["facts"], task_vars)
            result["_ansible_verbose_override"] = True
            state["facts"] = True
        if args.get("upload"):  # the first role's lookup
            self._upload(cache, container, args["upload"])
            result.update(uploaded=True, changed=True)
        return result

    def _store_ran(self, cache, container, state, build, target):
        """Stores the layer of the role that ran since its lookup missed (state["ran"]), unless the play has
        handlers by now: its layer might lack the effects of handlers that run at the end, so the builder goes on
        ahead of the cache and is stored under the last role's key by sync, once the handlers ran."""
        ran = state.pop("ran", None)
        if not ran:
            return {}
        pending = _pending_handlers(self._task)
        if pending:
            state["layer"] = None
            return _deferred(pending)
        try:
            image = self._store(cache, container, ran["key"], build, target)
        except DockerFailure as e:
            raise ActionFailure("storing the layer of role %s: %s" % (ran["role"], e), stage="cache") from e
        state.update(layer=image, at=image)
        return dict(changed=True, stored=True, layer=image)

    def _role_values(self, args, task_vars):
        """(vars, role parameters) of the role looked up, as its key counts them: given templated (O(vars), O(params)),
        or read untemplated from its entry in the plan (O(role_entry), a variable's name) and templated here one by one,
        so that one naming what is not defined yet counts by its text (key_values) as a play would not fail on it."""
        if not args.get("role_entry"):
            return args.get("vars") or {}, args.get("params")
        entry = task_vars[args["role_entry"]]
        return key_values(self._templar, entry.get("vars")), key_values(self._templar, entry.get("params"))

    def _as_planned(self, target):
        """Whether the builder is where the plan expected the first roles' lookups to end: launched from its
        start_layer, and the task's environment its own (the target's build_env, which the plan computed the keys
        with): a playbook of one's own may set one around the provision role, and the lookups' keys cover it.
        ansible-core puts a task's own environment last, after those of its blocks, role and play."""
        own = (self._task.environment or [])[-1:]
        own_env = {str(k): str(v) for k, v in (self._templar.template(own[0]) or {}).items()} if own else {}
        return bool(target.get("start_roles") and target.get("start_key")) \
            and target["builder"].get("image_id") == target.get("start_layer") \
            and sorted(own_env) == sorted(target.get("build_env") or []) and self.task_environment() == own_env

    def _layer_inventory(self, layer, task_vars):
        """The package inventory of the layer the builder is at: its record, or read on the builder and recorded."""
        known = layer_cache.read_inventory(layer)
        if known is None:
            known = self._list_packages(task_vars)
            layer_cache.write_inventory(layer, known)
        return known

    def _list_packages(self, task_vars):
        """The package inventory of the builder (the package_inventory module, as the provision role runs it)."""
        listed = self.execute_module("immutable.images.package_inventory", {}, task_vars)
        if listed.get("failed"):
            raise ActionFailure(listed.get("msg") or "cannot read the package inventory", stage=listed.get("stage") or "sbom")
        return {"os": listed.get("os"), "packages": listed.get("packages") or []}

    def _gather_facts(self, args, task_vars):
        gathered = self.run_action("ansible.builtin.gather_facts", dict(args or {}), task_vars)
        if gathered.get("failed"):
            raise ActionFailure("gathering facts on the builder failed: %s" % gathered.get("msg", ""), stage="provision")
        return gathered["ansible_facts"]

    def _upload(self, cache, container, archive):
        try:
            DockerBuilder(cache.client).upload(container, archive)
        except DockerFailure as e:
            raise ActionFailure(str(e), stage="upload") from e

    def _store(self, cache, container, key, build, target):
        """Commit the builder as the layer of `key`. A commit pauses the builder: first, a session of the builder that
        is still starting (in the background, since the lookup or a swap) must have made its execs (settle)."""
        getattr(self._connection, "settle", lambda: None)()
        return cache.store(container, key, build["name"], target["labels"])

    def _swap(self, cache, container, layer, target, build, session_next=True):
        # The new builder holds a lease like the first one (builder_lease.py), for our parent, ansible-playbook.
        cache.swap(container, layer, target, lease_pid=os.getppid())
        # Another container has the builder's name now: what the connection holds to the old one goes (as with
        # meta: reset_connection), and the next task's commands reach the new one; a new session starts at once
        # unless nothing is about to use it (session_next=False: one starts when a command needs it).
        if session_next or not hasattr(self._connection, "end_session"):
            self._connection.reset()
        else:
            self._connection.end_session()


_OFF = ("the builder was changed before its roles ran, by tasks that are not image_roles' (a play or pre_tasks of "
        "your own): a layer holds only what image_roles make")


def _off_warning(target, changed):
    return ("target %s: the builder was changed before its roles ran (%s), by tasks that are not image_roles' (a play "
            "or pre_tasks of your own on image_builders). Its roles run without the layer cache: no layer is stored "
            "from this builder (its key would not say what else is in it) and none is taken for it (the builder would "
            "be replaced, and those changes lost). Make such changes in a role of image_roles to keep the cache."
            % (target["name"], ", ".join(changed)))


def _write(path, state):
    with open(path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(path + ".tmp", path)


def _deferred(pending):
    return dict(changed=False, stored=False, handlers=pending,
                msg="not stored yet: the play has handlers (%s), which run at the end; the layer is stored then, "
                    "under the last role's key" % ", ".join(pending))


def _pending_handlers(task):
    """Names of the play's handlers that may be pending: every handler the roles so far brought (when the build
    loaded every role first, every role's: a role may have notified a later one's).

    A play runs notified handlers at its end; a layer stored before them would lack their effects. Which
    handlers are notified is known only to the strategy's iterator in the ansible-playbook process, not to
    this action (it runs in a forked worker), so any handler defined counts as possibly pending. When the
    play cannot be found at all, the layer waits for the end too (safe, slower).
    """
    node, play = task, None
    while node is not None and play is None:
        play = getattr(node, "_play", None)
        node = getattr(node, "_parent", None)
    if play is None or not hasattr(play, "handlers"):
        return ["(unknown)"]
    return [h.get_name() for block in play.handlers for h in getattr(block, "block", [])]
