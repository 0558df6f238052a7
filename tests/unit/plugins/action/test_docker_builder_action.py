# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/docker_builder.py: the module gets ansible-playbook's pid as its lease; with warm_interpreter, the new
builder's connection (immutable.images.docker_session, which owns the session and the warm interpreter) is connected
once, as its first use would, with the builder's settings. The module and the engine: the integration tests."""

from __future__ import annotations

import os
import threading

import pytest

from ansible_collections.immutable.images.plugins.action import docker_builder as action


@pytest.fixture
def module_result(make_action, monkeypatch):
    prepared = []

    class Connection:
        def set_options(self, direct):
            prepared.append(direct)

        def _connect(self):
            prepared.append("connected")
            return self

    monkeypatch.setattr(action.connection_loader, "get", lambda name, *_a, **_k: prepared.append(name) or Connection())

    def run(args, returned, check_mode=False):
        act = make_action("docker_builder", args, check_mode=check_mode)
        sent = []
        act.execute_module = lambda name, module_args, task_vars: sent.append(module_args) or dict(returned)
        act._remove_tmp_path = lambda path: None
        return act.run(task_vars={}), sent
    run.prepared = prepared
    return run


def test_lease_is_ansible_playbook(module_result):
    result, sent = module_result({"name": "arch-b", "image": "x"}, {"changed": True, "container": {"name": "arch-b"}})
    assert sent == [{"name": "arch-b", "image": "x", "lease_pid": os.getppid()}]
    assert result["changed"] and result["container"] == {"name": "arch-b"}
    assert not hasattr(action, "docker_session") and module_result.prepared == []  # no warm_interpreter: nothing


def test_with_a_warm_interpreter_the_builder_connection_starts_at_once(module_result):
    placed = {"docker_host": "tcp://pool-1:2376", "tls": None}
    module_result({"name": "arch-b", "image": "x", "warm_interpreter": True, "python_interpreter": "/usr/bin/python3.11",
                   "engines": [placed]}, {"changed": True, "container": {"name": "arch-b"}, "placed": placed})
    assert module_result.prepared == [
        "immutable.images.docker_session",
        {"remote_addr": "arch-b", "remote_user": "root", "docker_host": "tcp://pool-1:2376", "tls": None, "warm": True,
         "python_interpreter": "/usr/bin/python3.11", "extra_env": {}},
        "connected"]
    module_result.prepared.clear()
    module_result({"name": "arch-b", "warm_interpreter": True}, {"changed": False, "container": {"name": "arch-b"}})
    assert module_result.prepared == []  # a builder that ran already has its connection


def test_a_given_lease_is_kept(module_result):
    _result, sent = module_result({"name": "arch-b", "lease_pid": 7}, {"container": {"name": "arch-b"}})
    assert sent[0]["lease_pid"] == 7


def test_the_module_validates_its_own_arguments(module_result):
    # VALIDATE = False: the arguments go to the module's work as given, which fails on what it does not know
    _result, sent = module_result({"nam": "typo"}, {"failed": True, "msg": "Unsupported parameters"})
    assert sent[0]["nam"] == "typo"


TARGETS = [{"name": "web", "host": "arch-web-host", "type": "docker", "builder_name": "arch-web", "base_image": "debian:12", "pull": "never",
            "platform": None, "network_mode": "host", "docker_host": None, "tls": None, "build_volumes": ["/c:/c"],
            "privileged": False, "labels": {"k": "v"}, "python_interpreter": "/usr/bin/python3", "engine_pool": []},
           {"name": "api", "host": "arch-api-host", "type": "docker", "builder_name": "arch-api", "base_image": "debian:11", "pull": "missing",
            "platform": "linux/arm64", "network_mode": None, "docker_host": "tcp://e:2376", "tls": {"verify": True},
            "build_volumes": [], "privileged": True, "labels": {}, "python_interpreter": "/usr/bin/python3.9",
            "engine_pool": None}]


class BuilderWork:
    """builder_module's interface (MODULE_ARGS, run(module)): each run waits until every builder of the task has
    started, so one builder at a time would wait for ever (the barrier's timeout fails it)."""

    MODULE_ARGS = {"argument_spec": {k: {"type": "raw"} for k in (
        "name", "image", "pull", "platform", "network_mode", "docker_host", "tls", "volumes", "privileged", "labels",
        "python_interpreter", "engines", "warm_interpreter", "lease_pid", "timeout", "from_layer", "start",
        "pull_auth")},
        "supports_check_mode": True}
    barrier = None
    runs = []
    status = None  # the builder's, when set

    @classmethod
    def run(cls, module):
        cls.barrier.wait()
        cls.runs.append(dict((k, v) for k, v in module.params.items() if v is not None))
        if module.params["name"] == "arch-broken":
            module.fail_json(msg="cannot start builder arch-broken from debian:12: no such network", stage="launch")
        if module.params["engines"]:  # as engine_pool places it: on the pool's last engine
            engine = module.params["engines"][-1]
            module.exit_json(changed=True, container={"name": module.params["name"]}, engine=engine,
                             placed=dict(engine, remote_engine=True), placement=["placed on %s" % engine["docker_host"]])
        container = {"name": module.params["name"]}
        if cls.status:
            container["status"] = cls.status
        module.exit_json(changed=True, container=container)


@pytest.fixture
def start_targets(make_action, monkeypatch):
    prepared = []

    class Connection:
        def set_options(self, direct):
            prepared.append(direct["remote_addr"])

        def _connect(self):
            return self

    monkeypatch.setattr(action.connection_loader, "get", lambda name, *_a, **_k: Connection())

    def run(targets, warm=True, check_mode=False, task_vars=None, **options):
        BuilderWork.barrier, BuilderWork.runs = threading.Barrier(len(targets), timeout=5), []
        act = make_action("docker_builder", dict(options, targets=targets, warm_interpreter=warm), check_mode=check_mode)
        act._work_in_worker = lambda name: BuilderWork
        act._remove_tmp_path = lambda path: None
        return act.run(task_vars=task_vars or {})
    run.prepared = prepared
    return run


def test_the_builders_of_every_target_start_at_once_each_with_its_targets_settings(start_targets):
    result = start_targets(TARGETS)
    assert not result.get("failed") and result["changed"]
    assert [r["target"]["name"] for r in result["results"]] == ["web", "api"]  # in the plan's order
    assert [r["container"]["name"] for r in result["results"]] == ["arch-web", "arch-api"]
    runs = {run["name"]: run for run in BuilderWork.runs}
    assert runs["arch-web"] == {"name": "arch-web", "image": "debian:12", "pull": "never", "network_mode": "host",
                                "volumes": ["/c:/c"], "privileged": False, "labels": {"k": "v"},
                                "python_interpreter": "/usr/bin/python3", "warm_interpreter": True,
                                "lease_pid": os.getppid()}
    assert runs["arch-api"]["docker_host"] == "tcp://e:2376" and runs["arch-api"]["tls"] == {"verify": True}
    assert runs["arch-api"]["platform"] == "linux/arm64" and "engines" not in runs["arch-api"]
    assert sorted(start_targets.prepared) == ["arch-api", "arch-web"]  # each builder's session starts right away


def test_each_builder_gets_the_credentials_of_its_own_base_images_registry(start_targets):
    auth = {"username": "puller", "password": "secret"}
    result = start_targets(TARGETS, pull_auth_by_target={"api": auth})
    assert not result.get("failed")
    runs = {run["name"]: run for run in BuilderWork.runs}
    assert runs["arch-api"]["pull_auth"] == auth and "pull_auth" not in runs["arch-web"]


def test_a_builder_the_plan_expects_to_stay_idle_gets_no_session_ahead(start_targets):
    result = start_targets([dict(TARGETS[0], idle=True), TARGETS[1]])
    assert not result.get("failed") and start_targets.prepared == ["arch-api"]  # arch-web's starts if a step needs it


def test_a_builder_that_cannot_start_fails_the_task_naming_its_target_and_the_others_are_started(start_targets):
    broken = dict(TARGETS[0], name="broken", builder_name="arch-broken")
    result = start_targets([broken, TARGETS[1]], warm=False)
    assert result["failed"] and result["msg"] == "target broken: cannot start builder arch-broken from debian:12: no such network"
    assert [r.get("failed", False) for r in result["results"]] == [True, False]
    assert result["results"][0]["stage"] == "launch" and result["results"][1]["container"] == {"name": "arch-api"}
    assert start_targets.prepared == []  # no warm interpreter


def test_without_docker_targets_nothing_starts(start_targets, make_action):
    act = make_action("docker_builder", {"targets": []})
    act._remove_tmp_path = lambda path: None
    assert act.run(task_vars={}) == {"results": [], "changed": False}


BUILD = {"id": "b1", "warm_interpreter": True, "guard_pid": 4242, "engines_fixed": [], "engines": [],
         "targets": TARGETS + [{"name": "ami", "type": "ec2"}]}
INVENTORY = {"build": BUILD, "groups": ["image_builders", "webapp"], "inventory_dir": "/srv/defs",
             "inventory_file": "/srv/defs/hosts.yml"}


def test_with_inventory_each_builder_comes_with_its_add_host_entry(start_targets):
    result = start_targets(TARGETS, inventory=INVENTORY)
    assert result["build"] == BUILD  # no pool: the build as it was
    web, api = (one["inventory_entry"] for one in result["results"])
    assert web == {"name": "arch-web-host", "groups": ["image_builders", "webapp"],
                   "ansible_connection": "immutable.images.docker_session", "ansible_user": "root",
                   "ansible_pipelining": True, "immutable_images_warm": True, "ansible_host": "arch-web",
                   "ansible_python_interpreter": "/usr/bin/python3",
                   "image_target": dict(TARGETS[0], builder={"name": "arch-web"}), "image_build": BUILD,
                   "inventory_dir": "/srv/defs", "inventory_file": "/srv/defs/hosts.yml"}
    # the engine and its TLS only where the target names them: else the connection's default engine
    assert api["ansible_docker_docker_host"] == "tcp://e:2376" and api["immutable_images_docker_tls"] == {"verify": True}
    assert api["ansible_python_interpreter"] == "/usr/bin/python3.9"
    assert start_targets(TARGETS)["results"][0].get("inventory_entry") is None  # only when asked
    # without inventory_dir and inventory_file, those a play gives a host of the inventory (the task host's own here)
    unlocated = {"build": BUILD, "groups": ["image_builders"]}
    located = start_targets(TARGETS, inventory=unlocated, task_vars={"inventory_dir": "/srv/defs"})["results"][0]
    assert (located["inventory_entry"]["inventory_dir"], located["inventory_entry"]["inventory_file"]) == ("/srv/defs", None)
    in_check_mode = start_targets(TARGETS, check_mode=True, inventory=INVENTORY)  # nothing started: nothing to add
    assert "build" not in in_check_mode and all("inventory_entry" not in one for one in in_check_mode["results"])


def test_a_builder_an_engine_pool_placed_is_on_that_engine_in_the_build_and_its_entry(start_targets):
    pool = [{"docker_host": "tcp://pool-1:2376", "tls": None}, {"docker_host": "tcp://pool-2:2376", "tls": None}]
    pooled = dict(TARGETS[1], engine_pool=pool, docker_host=None, tls=None)
    build = dict(BUILD, engines_fixed=[{"docker_host": "unix:///var/run/docker.sock", "tls": None}],
                 targets=[TARGETS[0], pooled, BUILD["targets"][2]])
    result = start_targets([TARGETS[0], pooled], inventory=dict(INVENTORY, build=build))
    placed = {"docker_host": "tcp://pool-2:2376", "tls": None, "remote_engine": True}
    assert result["build"]["targets"] == [TARGETS[0], dict(pooled, **placed), BUILD["targets"][2]]
    assert result["build"]["engines"] == build["engines_fixed"] + [pool[1]]  # the fixed ones and where it went
    assert result["build"]["guard_pid"] == 4242 and build["targets"][1] is pooled  # the given build is left as it was
    entry = result["results"][1]["inventory_entry"]
    assert entry["ansible_docker_docker_host"] == "tcp://pool-2:2376" and "immutable_images_docker_tls" not in entry
    assert entry["image_target"] == dict(pooled, builder={"name": "arch-api"}, **placed)
    assert entry["image_build"] is result["build"]


def test_a_builder_the_plan_does_not_start_is_created_at_its_layer_and_gets_no_inventory_entry(start_targets):
    """start_builder false: the module creates it at start_layer without starting it; no play runs on it, so it is not
    added to the inventory, and it gets no session."""
    unstarted = dict(TARGETS[0], idle=True, start_builder=False, start_layer="sha256:last")
    result = start_targets([unstarted, dict(TARGETS[1], start_builder=True)], inventory=INVENTORY)
    assert not result.get("failed") and start_targets.prepared == ["arch-api"]
    runs = {run["name"]: run for run in BuilderWork.runs}
    assert (runs["arch-web"]["start"], runs["arch-web"]["from_layer"]) == (False, "sha256:last")
    assert runs["arch-api"]["start"] is True
    web, api = result["results"]
    assert "inventory_entry" not in web and api["inventory_entry"]["name"] == "arch-api-host"


def test_a_builder_the_plan_did_not_start_that_was_started_after_all_is_provisioned_as_any_other(start_targets):
    """Its layer was gone: the module started it from the base image (status running). The build's target, and its
    inventory entry's, say it is started and not idle: the provision play runs its roles, finalize reads its result."""
    unstarted = dict(TARGETS[0], idle=True, start_builder=False, start_layer="sha256:gone")
    build = dict(BUILD, targets=[unstarted, TARGETS[1]], engines=[{"docker_host": None}])
    BuilderWork.status = "running"
    try:
        result = start_targets([unstarted, TARGETS[1]], inventory=dict(INVENTORY, build=build))
    finally:
        BuilderWork.status = None
    assert not result.get("failed")
    web = result["results"][0]
    assert (web["target"]["start_builder"], web["target"]["idle"]) == (True, False)
    assert web["inventory_entry"]["image_target"]["start_builder"] is True
    assert [t.get("start_builder") for t in result["build"]["targets"]] == [True, None]
    assert result["build"]["engines"] == [{"docker_host": None}]  # no pool: the plan's engines


def test_a_bad_inventory_fails_before_any_builder_starts(start_targets):
    result = start_targets(TARGETS, inventory={"build": BUILD})
    assert result["failed"] and "groups" in result["msg"] and result["msg"].startswith("immutable.images.docker_builder: ")
    assert BuilderWork.runs == [] and "results" not in result


def test_when_a_builder_failed_there_are_no_entries_to_add(start_targets):
    broken = dict(TARGETS[0], name="broken", builder_name="arch-broken")
    result = start_targets([broken, TARGETS[1]], inventory=INVENTORY)
    assert result["failed"] and "build" not in result
    assert all("inventory_entry" not in one for one in result["results"])
