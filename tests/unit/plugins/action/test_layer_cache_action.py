# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/layer_cache.py: the per-builder state file through lookup, store and sync (a recording stand-in for
the engine; the real engine: tests/unit/plugins/plugin_utils/_docker/test_layer_cache.py and the integration tests),
the layer of a role that ran stored by the next lookup or by sync (as the provision role runs them), and that an
unknown state syncs nothing."""

from __future__ import annotations

import json
import os
import shutil
import types

import pytest
from ansible.template import trust_as_template

from ansible_collections.immutable.images.plugins.action import layer_cache as action
from ansible_collections.immutable.images.plugins.plugin_utils._docker import layer_cache

from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure


class RecordingCache:
    """LayerCache's interface: layers by key in a dict; every call recorded."""

    layers = {}
    calls = []
    client = None

    def __init__(self, _client):
        pass

    def pin(self, image_name, key, labels):
        self.calls.append(("find", key))
        return (self.layers[key], "pin-" + key[:8]) if key in self.layers else None

    def unpin(self, pin):
        if pin:
            self.calls.append(("unpin", pin))

    def store(self, container, key, image_name, labels):
        self.calls.append(("store", key))
        if key == "broken":
            raise DockerFailure("cache", "cannot store the layer cache of %s: no space" % container)
        self.layers[key] = "sha256:layer-" + key[:8]
        return self.layers[key]

    def swap(self, container, layer, target, lease_pid=None):
        self.calls.append(("swap", layer))


class BuilderConnection:
    """The builder's connection: a swap resets it (its session belongs to the replaced container)."""

    transport = "immutable.images.docker_session"
    _shell = types.SimpleNamespace(tmpdir=None)

    def reset(self):
        RecordingCache.calls.append(("reset connection",))

    def end_session(self):
        RecordingCache.calls.append(("end session",))

    def settle(self):
        RecordingCache.calls.append(("settle",))

    connects = 0

    def _connect(self):  # the session starts (in the background) on the builder's first use
        BuilderConnection.connects += 1
        return self


class EngineClient:
    """What the engine says changed in the builder before its roles ran (the first lookup asks, in a playbook of one's
    own): RecordingCache.changed."""

    def __init__(self):
        self.api = self

    def containers(self, all=False, size=False, filters=None):  # noqa: A002 - the SDK's name
        assert all and size and filters == {"name": "^/arch\\-builder$"}
        RecordingCache.calls.append(("size", "arch-builder"))
        return [{"Names": ["/arch-builder"], "SizeRw": 120 if RecordingCache.changed else 0}]

    def diff(self, container):
        RecordingCache.calls.append(("diff", container))
        return [{"Path": path, "Kind": 1} for path in RecordingCache.changed] or None


REAL_LIST_PACKAGES = action.ActionModule._list_packages
INVENTORY = {"os": {"id": "debian", "version_id": "12"}, "packages": [{"name": "bash", "version": "5.2", "type": "deb"}]}


@pytest.fixture
def env(monkeypatch, tmp_path):
    RecordingCache.layers, RecordingCache.calls, RecordingCache.listed, RecordingCache.changed = {}, [], [], []
    monkeypatch.setattr(action, "LayerCache", RecordingCache)
    monkeypatch.setattr(action, "get_client", lambda *a, **k: EngineClient())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the inventory records (layer_cache.inventory_dir)

    def list_packages(self, task_vars):  # the package_inventory module on the builder
        RecordingCache.listed.append(task_vars["image_target"]["builder"]["name"])
        return dict(INVENTORY)
    monkeypatch.setattr(action.ActionModule, "_list_packages", list_packages)
    build = {"name": "arch-web", "workdir": str(tmp_path), "files_digest": "f", "play": {}, "provision_only": True}
    target = {"name": "container", "builder": {"name": "arch-builder", "image_id": "sha256:base"}, "labels": {}}
    return {"image_build": build, "image_target": target}


@pytest.fixture
def run(make_action):
    def run_step(args, task_vars, handlers=(), check_mode=False, environment=()):
        act = make_action("layer_cache", args, check_mode=check_mode, connection=BuilderConnection())
        act._task._play = types.SimpleNamespace(handlers=[types.SimpleNamespace(block=list(handlers))])
        act._task.environment = list(environment)  # its own and those around it (task_environment merges them)
        return act.run(task_vars=task_vars)
    return run_step


def state(task_vars):
    with open("%s/layers-arch-builder.json" % task_vars["image_build"]["workdir"]) as f:
        return json.load(f)


@pytest.mark.parametrize("args", [{"state": "sink"}, {"state": "Sync"}, {"state": "lookup"}, {"state": "store"}])
def test_bad_arguments_touch_nothing(env, run, args):
    result = run(args, env)
    assert result["failed"] and result["msg"].startswith("immutable.images.layer_cache: ")
    assert RecordingCache.calls == []


def test_miss_store_hit_and_swap_before_the_first_miss_after_hits(env, run):
    first = run({"role": "a", "digest": "1"}, env)
    assert first["hit"] is False and RecordingCache.calls == [("find", first["key"])]
    stored = run({"state": "store", "key": first["key"]}, env)
    assert stored["stored"] and state(env)["layer"] == state(env)["at"] == stored["layer"]
    # a second build: the same role hits, the next one misses: the builder is swapped to the hit's layer once
    os.remove("%s/layers-arch-builder.json" % env["image_build"]["workdir"])
    RecordingCache.calls = []
    assert run({"role": "a", "digest": "1"}, env)["hit"] is True
    miss = run({"role": "b", "digest": "2"}, env)
    assert miss["hit"] is False
    # the hit's pin is removed once the builder runs from the layer (the builder holds it then)
    # and the builder's connection is reset right after the swap: the next task reaches the new container
    assert RecordingCache.calls == [("find", first["key"]), ("find", miss["key"]), ("swap", stored["layer"]),
                                    ("reset connection",), ("unpin", "pin-" + first["key"][:8])]


def test_a_lookup_templates_the_entrys_variables_one_by_one(env, make_action):
    """With role_entry (what the provision role gives), the lookup reads the role's vars and role parameters
    untemplated from the entry and templates them with the task's variables, one by one: one naming what is defined
    only when the role runs counts by its text instead of failing, as a play would not fail on it."""
    entry = {"vars": {"conf": trust_as_template("{{ home }}/conf"), "port": trust_as_template("{{ base + 80 }}")},
             "params": {"url": trust_as_template("http://localhost:{{ port }}/")}}
    task_vars = dict(env, base=8000, provision__role=entry)
    act = make_action("layer_cache", {"role": "a", "digest": "1", "role_entry": "provision__role"},
                      connection=BuilderConnection())
    act._templar.available_variables = task_vars  # as ansible-core gives an action plugin its task's variables
    result = act.run(task_vars=task_vars)
    assert not result.get("failed"), result
    counted_vars = {"conf": [layer_cache.UNDEFINED_AT_LOOKUP, "{{ home }}/conf"], "port": 8080}
    counted_params = {"url": [layer_cache.UNDEFINED_AT_LOOKUP, "http://localhost:{{ port }}/"]}
    assert result["key"] == layer_cache.cache_key("sha256:base", "f", "a", "1", counted_vars, [], {}, None,
                                                  "container", counted_params)


def test_a_builder_the_plan_expects_to_stay_idle_is_not_connected(env, run):
    """A lookup connects first, so that the builder's session comes up while it looks up (a role runs next if it
    misses); a builder whose every lookup the plan expects to hit gets a session only if a step needs it."""
    BuilderConnection.connects = 0
    run({"role": "a", "digest": "1"}, env)
    assert BuilderConnection.connects == 1
    os.remove("%s/layers-arch-builder.json" % env["image_build"]["workdir"])
    idle = dict(env, image_target=dict(env["image_target"], idle=True))
    assert run({"role": "a", "digest": "1"}, idle)["hit"] is False and run({"state": "sync"}, idle)["changed"]
    assert BuilderConnection.connects == 1


def test_pending_handlers_defer_the_layer_to_sync(env, run):
    first = run({"role": "a", "digest": "1"}, env)
    result = run({"state": "store", "key": first["key"]}, env,
                 handlers=[types.SimpleNamespace(get_name=lambda: "restart nginx")])
    assert result["stored"] is False and result["handlers"] == ["restart nginx"] and state(env)["layer"] is None
    synced = run({"state": "sync"}, env)
    assert synced["changed"] and ("store", first["key"]) in RecordingCache.calls


def test_the_next_lookup_stores_the_layer_of_the_role_that_ran_and_sync_the_last_one(env, run):
    first = run({"role": "a", "digest": "1"}, env)
    assert state(env)["ran"] == {"key": first["key"], "role": "a"}
    second = run({"role": "b", "digest": "2"}, env)
    # role a's layer is stored before role b is looked up, under a's key; the key chain is the one of store steps.
    # The commit pauses the builder: a session still starting (since the lookup's connect) has made its execs first.
    assert RecordingCache.calls == [("find", first["key"]), ("settle",), ("store", first["key"]), ("find", second["key"])]
    assert second["stored"] and second["changed"] and second["hit"] is False
    assert second["layer"] == state(env)["layer"] == state(env)["at"] == RecordingCache.layers[first["key"]]
    assert state(env)["ran"] == {"key": second["key"], "role": "b"}
    synced = run({"state": "sync"}, env)
    assert synced["changed"] and RecordingCache.calls[-1] == ("store", second["key"]) and "ran" not in state(env)
    assert state(env)["layer"] == state(env)["at"] == synced["layer"]
    # the same keys as lookup, store, lookup, store (layers stored that way hit)
    os.remove("%s/layers-arch-builder.json" % env["image_build"]["workdir"])
    RecordingCache.calls = []
    again = [run({"role": "a", "digest": "1"}, env), run({"role": "b", "digest": "2"}, env)]
    assert [r["key"] for r in again] == [first["key"], second["key"]] and all(r["hit"] for r in again)
    assert not any(r.get("stored") or r["changed"] for r in again) and "ran" not in state(env)
    shutil.rmtree(layer_cache.inventory_dir())  # without the record of the last layer's packages, sync swaps
    assert ("store", first["key"]) not in RecordingCache.calls and run({"state": "sync"}, env)["changed"]  # a swap
    # the session ends with the old container, and none starts: the artifact's commit may pause the builder next
    assert RecordingCache.calls[-3:] == [("swap", RecordingCache.layers[second["key"]]), ("end session",),
                                         ("unpin", "pin-" + second["key"][:8])]


def test_a_store_step_of_its_own_leaves_nothing_for_the_next_lookup(env, run):
    first = run({"role": "a", "digest": "1"}, env)
    run({"state": "store", "key": first["key"]}, env)  # a step of its own: nothing is left for the next lookup
    assert "ran" not in state(env)
    RecordingCache.calls = []
    run({"role": "b", "digest": "2"}, env)
    assert [c[0] for c in RecordingCache.calls] == ["find"]


def test_pending_handlers_at_the_next_lookup_defer_the_layer_to_sync(env, run):
    handler = types.SimpleNamespace(get_name=lambda: "restart nginx")
    first = run({"role": "a", "digest": "1"}, env)
    second = run({"role": "b", "digest": "2"}, env, handlers=[handler])
    assert second["stored"] is False and second["handlers"] == ["restart nginx"] and not second["changed"]
    assert "not stored yet" in second["msg"] and state(env)["layer"] is None
    assert ("store", first["key"]) not in RecordingCache.calls
    run({"role": "c", "digest": "3"}, env, handlers=[handler])
    synced = run({"state": "sync"}, env, handlers=[handler])
    # once, under the last role's key, after the handlers ran
    assert synced["changed"] and [c for c in RecordingCache.calls if c[0] == "store"] == [("store", state(env)["key"])]
    assert "ran" not in state(env) and state(env)["layer"] == synced["layer"]


def test_a_failed_store_at_the_next_lookup_names_the_role_and_is_the_cache_stage(env, run):
    run({"role": "a", "digest": "1"}, env)
    with open("%s/layers-arch-builder.json" % env["image_build"]["workdir"]) as f:
        saved = json.load(f)
    saved["ran"]["key"] = "broken"
    with open("%s/layers-arch-builder.json" % env["image_build"]["workdir"], "w") as f:
        json.dump(saved, f)
    result = run({"role": "b", "digest": "2"}, env)
    assert result == {"failed": True, "stage": "cache",
                      "msg": "storing the layer of role a: cannot store the layer cache of arch-builder: no space"}


def test_engine_failure_is_the_cache_stage(env, run):
    run({"role": "a", "digest": "1"}, env)
    result = run({"state": "store", "key": "broken"}, env)
    assert result == {"failed": True, "stage": "cache", "msg": "cannot store the layer cache of arch-builder: no space"}


def test_deferred_facts_are_gathered_by_the_first_miss_before_its_swap_and_only_then(env, run, monkeypatch):
    def gather(self, name, args, task_vars):
        RecordingCache.calls.append(("gather", name, args))
        return {"ansible_facts": {"os_family": "Debian"}}
    monkeypatch.setattr(action.ActionModule, "run_action", gather)
    first = run({"role": "a", "digest": "1"}, env)  # no facts_deferred: gathered by main.yml, not here
    assert "ansible_facts" not in first and not any(c[0] == "gather" for c in RecordingCache.calls)
    run({"state": "sync"}, env)
    os.remove("%s/layers-arch-builder.json" % env["image_build"]["workdir"])
    RecordingCache.calls = []
    env["image_build"].update(facts_deferred=True, facts={"gather_subset": ["min"]})
    hit = run({"role": "a", "digest": "1"}, env)
    assert hit["hit"] and "ansible_facts" not in hit  # a cached layer needs no facts
    miss = run({"role": "b", "digest": "2"}, env)
    assert miss["ansible_facts"] == {"os_family": "Debian"}
    # shown at -v as ansible-core's gathering is: the step, not the facts (they hold build_env values)
    assert miss["_ansible_verbose_override"] is True and "_ansible_verbose_override" not in hit
    # on the builder as launched: before the swap to the hit's layer
    assert [c[0] for c in RecordingCache.calls] == ["find", "find", "gather", "swap", "reset connection", "unpin"]
    assert RecordingCache.calls[2] == ("gather", "ansible.builtin.gather_facts", {"gather_subset": ["min"]})
    later = run({"role": "c", "digest": "3"}, env)
    assert "ansible_facts" not in later and [c[0] for c in RecordingCache.calls].count("gather") == 1


def test_a_builder_started_at_the_last_layer_goes_back_to_the_base_image_for_deferred_facts(env, run, monkeypatch):
    """With facts, the plan starts a builder at a layer only when it expects every role's layer (no facts needed).
    A role that has to run after all gets the facts of the base image, as a play gathers them: the builder goes back to
    the base image first, then on to the layer the lookups found."""
    def gather(self, name, args, task_vars):
        RecordingCache.calls.append(("gather", name, args))
        return {"ansible_facts": {"os_family": "Debian"}}
    monkeypatch.setattr(action.ActionModule, "run_action", gather)
    key_a = run({"role": "a", "digest": "1"}, env)["key"]
    key_b = run({"role": "b", "digest": "2"}, env)["key"]
    run({"state": "sync"}, env)
    env["image_target"]["builder"].update(image_id=RecordingCache.layers[key_b], base_image_id="sha256:base")
    env["image_build"].update(facts_deferred=True, facts={})
    _new_build(env)
    assert run({"role": "a", "digest": "1"}, env)["hit"]
    miss = run({"role": "b", "digest": "changed"}, env)
    assert miss["ansible_facts"] == {"os_family": "Debian"}
    assert [c[:2] for c in RecordingCache.calls] == [
        ("find", key_a), ("find", miss["key"]), ("swap", "sha256:base"), ("reset connection",),
        ("gather", "ansible.builtin.gather_facts"), ("swap", RecordingCache.layers[key_a]), ("reset connection",),
        ("unpin", "pin-" + key_a[:8])]


def test_facts_that_cannot_be_gathered_fail_the_lookup(env, run, monkeypatch):
    monkeypatch.setattr(action.ActionModule, "run_action", lambda self, name, args, task_vars: {
        "failed": True, "msg": "setup timed out"})
    env["image_build"].update(facts_deferred=True, facts={})
    result = run({"role": "a", "digest": "1"}, env)
    assert result["failed"] and result["stage"] == "provision"
    assert result["msg"] == "gathering facts on the builder failed: setup timed out"


def test_check_mode_skips(env, run):
    result = run({"role": "a", "digest": "1"}, env, check_mode=True)
    assert result["skipped"] and result["hit"] is False and RecordingCache.calls == []


class RecordingBuilder:
    """DockerBuilder's upload, recorded (a builder named "full" has no room)."""

    uploads = []

    def __init__(self, _client):
        pass

    def upload(self, name, archive):
        if name == "full":
            raise DockerFailure("upload", "cannot upload files into %s: no space" % name)
        self.uploads.append((name, archive))


def test_the_first_roles_miss_uploads_the_files_and_a_hit_does_not(env, run, monkeypatch):
    RecordingBuilder.uploads = []
    monkeypatch.setattr(action, "DockerBuilder", RecordingBuilder)
    miss = run({"role": "a", "digest": "1", "upload": "/w/files.tar"}, env)
    assert miss["uploaded"] is True and miss["changed"] and RecordingBuilder.uploads == [("arch-builder", "/w/files.tar")]
    run({"state": "store", "key": miss["key"]}, env)
    os.remove("%s/layers-arch-builder.json" % env["image_build"]["workdir"])
    hit = run({"role": "a", "digest": "1", "upload": "/w/files.tar"}, env)
    assert hit["hit"] and hit["uploaded"] is False and len(RecordingBuilder.uploads) == 1
    assert run({"role": "b", "digest": "2"}, env)["uploaded"] is False  # later roles: no upload asked


def test_a_failed_upload_is_the_upload_stage(env, run, monkeypatch):
    monkeypatch.setattr(action, "DockerBuilder", RecordingBuilder)
    env["image_target"]["builder"]["name"] = "full"
    result = run({"role": "a", "digest": "1", "upload": "/w/files.tar"}, env)
    assert result["failed"] and result["stage"] == "upload" and "no space" in result["msg"]


def test_after_sync_the_builder_is_its_last_layer_and_the_artifact_commit_reuses_it(env, run):
    """layer_cache.builder_layer (what image_artifact passes to the commit as from_layer): the layer sync stored or
    swapped in, and nothing before sync or once a later step of the cache ran."""
    workdir, builder = env["image_build"]["workdir"], "arch-builder"
    first = run({"role": "a", "digest": "1"}, env)
    assert layer_cache.builder_layer(workdir, builder) == (None, False)  # role a is about to run
    synced = run({"state": "sync"}, env)
    assert layer_cache.builder_layer(workdir, builder) == (synced["layer"], False)
    assert synced["layer"] == RecordingCache.layers[first["key"]]
    run({"role": "b", "digest": "2"}, env)  # a step after sync (a second provisioning): no longer the builder's layer
    assert layer_cache.builder_layer(workdir, builder) == (None, False)
    assert layer_cache.builder_layer(workdir, "another-builder") == (None, False)  # no cache state at all


def _new_build(env):
    os.remove("%s/layers-arch-builder.json" % env["image_build"]["workdir"])
    RecordingCache.calls, RecordingCache.listed = [], []


def test_sync_lists_the_layers_packages_and_records_them_for_a_build_whose_every_layer_is_cached(env, run):
    workdir, builder = env["image_build"]["workdir"], "arch-builder"
    first = run({"role": "a", "digest": "1"}, env)
    synced = run({"state": "sync"}, env)  # stores role a's layer, then lists its packages on the builder
    assert synced["inventory"] == INVENTORY and RecordingCache.listed == ["arch-builder"]
    assert layer_cache.read_inventory(synced["layer"]) == INVENTORY
    assert layer_cache.read_inventory("sha256:another") is None
    # every layer cached and its inventory recorded: the builder stays where it is, the artifact is made of the layer
    _new_build(env)
    assert run({"role": "a", "digest": "1"}, env)["hit"]
    again = run({"state": "sync"}, env)
    assert again["inventory"] == INVENTORY and not again["changed"] and RecordingCache.listed == []
    assert [c[0] for c in RecordingCache.calls] == ["find"]  # no swap, and the pin holds the layer until the cleanup
    assert layer_cache.builder_layer(workdir, builder) == (synced["layer"], True)
    # without the record: swapped to the layer, listed there, recorded again
    for name in os.listdir(layer_cache.inventory_dir()):
        os.remove(os.path.join(layer_cache.inventory_dir(), name))
    _new_build(env)
    run({"role": "a", "digest": "1"}, env)
    swapped = run({"state": "sync"}, env)
    assert swapped["changed"] and swapped["inventory"] == INVENTORY and RecordingCache.listed == ["arch-builder"]
    assert [c[0] for c in RecordingCache.calls] == ["find", "swap", "end session", "unpin"]
    assert layer_cache.builder_layer(workdir, builder) == (synced["layer"], False)
    assert layer_cache.read_inventory(synced["layer"]) == INVENTORY


@pytest.mark.parametrize("later", [{"image_build": {"verify_tasks": "verify-1.yml"}}, {"image_target": {"squash": True}}])
def test_with_checks_on_the_builder_or_a_squash_sync_swaps_and_lists_nothing(env, run, later):
    first = run({"role": "a", "digest": "1"}, env)
    layer = run({"state": "sync"}, env)["layer"]  # recorded
    for key, value in later.items():
        env[key].update(value)
    _new_build(env)
    run({"role": "a", "digest": "1"}, env)
    synced = run({"state": "sync"}, env)
    # the checks run on the builder (the provision role lists its packages after them); a squash is of the builder
    assert "inventory" not in synced and RecordingCache.listed == []
    assert [c[0] for c in RecordingCache.calls] == ["find", "swap", "end session", "unpin"]
    assert layer_cache.builder_layer(env["image_build"]["workdir"], "arch-builder") == (layer, False)
    assert first["key"]


def test_a_failed_package_listing_is_the_sbom_stage(env, run, monkeypatch):
    monkeypatch.setattr(action.ActionModule, "_list_packages", REAL_LIST_PACKAGES)  # the module's failure, as it comes
    monkeypatch.setattr(action.ActionModule, "execute_module", lambda self, name, args, task_vars: {
        "failed": True, "msg": "cannot read the package inventory: bad status file", "stage": "sbom"})
    run({"role": "a", "digest": "1"}, env)
    result = run({"state": "sync"}, env)
    assert result["failed"] and result["stage"] == "sbom"
    assert result["msg"] == "cannot read the package inventory: bad status file"
    assert result["changed"] and result["layer"]  # the layer was stored before: that stays reported


def test_a_builder_started_from_the_expected_layer_is_not_swapped_and_a_wrong_guess_goes_back(env, run, monkeypatch):
    """The plan's start_layer: the builder runs from the layer of its first roles (image_id), its base stays the
    base image (base_image_id, where the keys chain from). Lookups that find that layer leave it where it is; a lookup
    that misses before it sends the builder back to the layer it found, or to the base image (then with the files)."""
    RecordingBuilder.uploads = []
    monkeypatch.setattr(action, "DockerBuilder", RecordingBuilder)
    key_a = run({"role": "a", "digest": "1"}, env)["key"]
    key_b = run({"role": "b", "digest": "2"}, env)["key"]  # stores a's layer
    run({"state": "sync"}, env)  # stores b's
    layer_b = RecordingCache.layers[key_b]
    env["image_target"]["builder"].update(image_id=layer_b, base_image_id="sha256:base")
    _new_build(env)
    assert [run({"role": r, "digest": d}, env)["key"] for r, d in (("a", "1"), ("b", "2"))] == [key_a, key_b]
    miss = run({"role": "c", "digest": "3"}, env)
    assert miss["hit"] is False and not miss["uploaded"]
    assert [c[0] for c in RecordingCache.calls] == ["find", "find", "unpin", "unpin", "find"]  # no swap
    assert state(env)["at"] == state(env)["layer"] == layer_b
    # the guess was wrong: the first role is another one now
    _new_build(env)
    first = run({"role": "a", "digest": "changed", "upload": "/w/files.tar"}, env)
    assert first["hit"] is False and first["uploaded"]
    assert RecordingCache.calls == [("find", first["key"]), ("swap", "sha256:base"), ("reset connection",)]
    assert RecordingBuilder.uploads == [("arch-builder", "/w/files.tar")]


def test_a_builder_launched_where_the_plan_expected_every_lookup_to_end_runs_no_lookup(env, run):
    """expected: an idle target launched from its start_layer, whose step's environment is its own (the build_env the
    plan keyed with), is synced at that layer with the layer's inventory (listed once, then from the record), without
    a lookup, a pin, a swap or a session; builder_layer then gives the artifact's commit that layer."""
    workdir = env["image_build"]["workdir"]
    env["image_target"].update(idle=True, start_layer="sha256:layer-c", start_key="key-c", start_roles=3,
                               build_env=["N", "PROXY"])
    env["image_target"]["builder"].update(image_id="sha256:layer-c", base_image_id="sha256:base")
    BuilderConnection.connects = 0
    build_env = {"PROXY": "http://proxy.invalid:3128", "N": 2}
    taken = run({"state": "expected"}, env, environment=[{}, build_env])  # a play's empty one, then its own
    assert taken["hit"] is True and taken["roles"] == 3 and taken["key"] == "key-c" and taken["layer"] == "sha256:layer-c"
    assert not taken["changed"]
    assert taken["inventory"] == INVENTORY and RecordingCache.listed == ["arch-builder"]
    assert "proxy.invalid" not in str(taken)
    assert RecordingCache.calls == [] and BuilderConnection.connects == 0
    assert state(env) == {"key": "key-c", "layer": "sha256:layer-c", "at": "sha256:layer-c", "base": "sha256:base",
                          "synced": True}
    assert layer_cache.builder_layer(workdir, "arch-builder") == ("sha256:layer-c", False)
    _new_build(env)
    again = run({"state": "expected"}, env, environment=[build_env])
    assert again["hit"] and again["inventory"] == INVENTORY and RecordingCache.listed == []  # the record
    assert RecordingCache.calls == []


@pytest.mark.parametrize("case", ["launched from the base", "an environment around it", "looked up already",
                                  "no key", "no layer guessed", "not its build_env"])
def test_a_builder_not_where_the_plan_expected_goes_through_the_lookups(env, run, case):
    """expected leaves everything to the roles' lookups (none taken, no state written) unless the plan's guess holds:
    it guessed a layer, its builder was launched from that start_layer (the layer may have gone since the plan looked),
    the task's environment is its own, the target's build_env (a playbook's own `environment` around the provision
    role is in the lookups' keys), and nothing was looked up yet."""
    env["image_target"].update(idle=True, start_layer="sha256:layer-c", start_roles=0 if case == "no layer guessed" else 3,
                               start_key=None if case == "no key" else "key-c")
    env["image_target"]["builder"].update(image_id="sha256:base" if case == "launched from the base" else "sha256:layer-c",
                                          base_image_id="sha256:base")
    environment = {"an environment around it": [{"http_proxy": "http://p"}, {}],
                   "not its build_env": [{"http_proxy": "http://p"}]}.get(case, [{}])
    if case == "looked up already":
        run({"role": "a", "digest": "1"}, env)
        before = state(env)
    result = run({"state": "expected"}, env, environment=environment)
    assert result["hit"] is False and result["roles"] == 0 and not result["changed"] and "inventory" not in result
    assert RecordingCache.listed == []
    if case == "looked up already":
        assert state(env) == before
    else:
        assert RecordingCache.calls == [] and not os.path.exists("%s/layers-arch-builder.json" % env["image_build"]["workdir"])


def test_the_layers_of_the_first_roles_are_taken_and_the_next_lookup_chains_from_them(env, run, monkeypatch):
    """When only the last role changed, the builder starts at the layer of the roles before it (start_roles): expected
    takes those layers without their lookups (the builder holds the last one: no pin), syncs nothing and lists nothing,
    and the next role's lookup chains from the plan's key, as if their lookups had found them."""
    RecordingBuilder.uploads = []
    monkeypatch.setattr(action, "DockerBuilder", RecordingBuilder)
    key_a = run({"role": "a", "digest": "1"}, env)["key"]
    key_b = run({"role": "b", "digest": "2"}, env)["key"]
    key_c = run({"role": "c", "digest": "3"}, env)["key"]
    run({"state": "sync"}, env)
    layer_b = RecordingCache.layers[key_b]
    env["image_target"].update(start_layer=layer_b, start_key=key_b, start_roles=2, idle=False)
    env["image_target"]["builder"].update(image_id=layer_b, base_image_id="sha256:base")
    _new_build(env)
    BuilderConnection.connects = 0
    taken = run({"state": "expected"}, env, environment=[{}])
    assert taken["hit"] is False and taken["roles"] == 2 and taken["key"] == key_b and "inventory" not in taken
    assert RecordingCache.calls == [] and RecordingCache.listed == [] and BuilderConnection.connects == 1
    assert state(env) == {"key": key_b, "layer": layer_b, "at": layer_b, "base": "sha256:base"}
    assert layer_cache.builder_layer(env["image_build"]["workdir"], "arch-builder") == (None, False)  # not synced
    last = run({"role": "c", "digest": "3", "upload": "/w/files.tar"}, env)
    assert last["key"] == key_c and last["hit"] is True and not last["uploaded"]
    assert [c[0] for c in RecordingCache.calls] == ["find"] and key_a


def test_in_a_playbook_of_ones_own_the_builder_is_never_left_behind(env, run):
    """Plays of one's own may run on the builders after the provision role (provision_only false): every layer cached
    and recorded, sync still brings the builder to the last one, where such a play finds every role's work."""
    first = run({"role": "a", "digest": "1"}, env)
    layer = run({"state": "sync"}, env)["layer"]  # stored and recorded
    env["image_build"]["provision_only"] = False
    _new_build(env)
    assert run({"role": "a", "digest": "1"}, env)["hit"]
    synced = run({"state": "sync"}, env)
    assert synced["changed"] and synced["inventory"] == INVENTORY
    assert [c[0] for c in RecordingCache.calls] == ["size", "find", "swap", "end session", "unpin"]
    assert layer_cache.builder_layer(env["image_build"]["workdir"], "arch-builder") == (layer, False)
    assert first["key"]


def test_a_builder_changed_before_its_roles_ran_neither_stores_nor_takes_a_layer(env, run, monkeypatch):
    """A play or pre_tasks of one's own changed the builder before the provision role (the engine's list of its
    changes is not empty at the first lookup): a warning names them, and from then on the roles run without the cache,
    as without it (the deferred facts gathered and the files uploaded where the builder is), nothing is stored and
    nothing taken; sync lists the builder's packages and leaves no layer for the artifact's commit (builder_layer)."""
    RecordingBuilder.uploads = []
    monkeypatch.setattr(action, "DockerBuilder", RecordingBuilder)
    monkeypatch.setattr(action.ActionModule, "_gather_facts", lambda self, args, task_vars: {"distribution": "Debian"})
    key = run({"role": "a", "digest": "1"}, env)["key"]
    run({"state": "sync"}, env)  # role a's layer is in the cache
    env["image_build"].update(provision_only=False, facts_deferred=True, facts={})
    _new_build(env)
    RecordingCache.changed = ["/etc/apt/sources.list.d", "/etc/apt/sources.list.d/internal.list"]
    first = run({"role": "a", "digest": "1", "upload": "/w/files.tar"}, env)
    assert first["hit"] is False and first["uploaded"] and first["ansible_facts"] == {"distribution": "Debian"}
    assert "/etc/apt/sources.list.d/internal.list" in first["warnings"][0]
    assert "target container" in first["warnings"][0] and "without the layer cache" in first["warnings"][0]
    second = run({"role": "b", "digest": "2"}, env)
    assert second["hit"] is False and "warnings" not in second and "ansible_facts" not in second
    assert not run({"state": "store", "key": key}, env)["stored"]
    synced = run({"state": "sync"}, env)
    assert synced["inventory"] == INVENTORY and RecordingCache.listed == ["arch-builder"] and not synced["changed"]
    assert RecordingCache.calls == [("size", "arch-builder"), ("diff", "arch-builder")]  # asked once; no find, store or swap
    assert RecordingBuilder.uploads == [("arch-builder", "/w/files.tar")]
    assert layer_cache.builder_layer(env["image_build"]["workdir"], "arch-builder") == (None, False)


def test_nothing_changed_before_the_roles_in_a_playbook_of_ones_own_keeps_the_cache(env, run):
    run({"role": "a", "digest": "1"}, env)
    run({"state": "sync"}, env)
    env["image_build"]["provision_only"] = False
    _new_build(env)
    assert run({"role": "a", "digest": "1"}, env)["hit"]
    assert run({"role": "b", "digest": "2"}, env)["hit"] is False
    assert [c[0] for c in RecordingCache.calls][:3] == ["size", "find", "find"]  # asked at the first lookup only; no list


def test_a_builder_changed_before_its_roles_keeps_the_layers_it_was_launched_at(env, run):
    """Launched at the layers of its first roles (what those roles alone made): they stay taken; the roles after them run
    without the cache. An idle one is synced where it is, with its own packages and no layer for the commit."""
    env["image_build"]["provision_only"] = False
    env["image_target"].update(start_layer="sha256:layer-b", start_key="key-b", start_roles=2, idle=False)
    env["image_target"]["builder"].update(image_id="sha256:layer-b", base_image_id="sha256:base")
    RecordingCache.changed = ["/root/.bashrc"]
    taken = run({"state": "expected"}, env, environment=[{}])
    assert taken["roles"] == 2 and "/root/.bashrc" in taken["warnings"][0]
    assert run({"role": "c", "digest": "3"}, env)["hit"] is False
    assert RecordingCache.calls == [("size", "arch-builder"), ("diff", "arch-builder")]
    env["image_target"]["idle"] = True
    _new_build(env)
    idle = run({"state": "expected"}, env, environment=[{}])
    assert idle["hit"] and idle["inventory"] == INVENTORY and RecordingCache.listed == ["arch-builder"]
    assert layer_cache.builder_layer(env["image_build"]["workdir"], "arch-builder") == (None, False)


def test_a_builder_changed_before_its_roles_at_a_layer_its_lookups_do_not_take_fails(env, run):
    env["image_build"]["provision_only"] = False
    env["image_target"]["builder"].update(image_id="sha256:layer-b", base_image_id="sha256:base")
    RecordingCache.changed = ["/root/.bashrc"]
    result = run({"role": "a", "digest": "1"}, env)
    assert result["failed"] and result["stage"] == "cache" and "image_cache to false" in result["msg"]
