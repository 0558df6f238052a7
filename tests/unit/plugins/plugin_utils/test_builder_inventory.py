# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugin_utils/_builder_inventory.py: the entry an ec2 builder is added to the inventory with, and the checks of the
`inventory` option (the docker side and the placements of an engine pool: test_docker_builder_action.py); the action
ec2_builder returns the entry from the module's result. The builds that use them: the integration tests."""

from __future__ import annotations

import os
import shlex

import pytest

from ansible_collections.immutable.images.plugins.module_utils._ec2 import bastion

from ansible_collections.immutable.images.plugins.plugin_utils import _builder_inventory as builder_inventory

TARGET = {"name": "aws", "host": "webapp-aws", "type": "ec2", "ssh_username": "admin",
          "python_interpreter": "/usr/bin/python3", "region": "eu-west-1"}
BUILD = {"id": "b1", "targets": [TARGET], "warm_interpreter": True}
INVENTORY = {"build": BUILD, "target": TARGET, "groups": ["image_builders"], "inventory_dir": "/srv/defs",
             "inventory_file": None}
STARTED = {"changed": True, "instance_id": "i-0abc", "ssh_host": "127.0.0.1", "ssh_port": 2222,
           "private_key_file": "/tmp/b1/keys-aws/key", "key_name": "immutable-webapp-aws", "security_group_id": "sg-1",
           "invocation": {"module_args": {"region": "eu-west-1"}}, "_ansible_parsed": True}


def test_an_ec2_builder_is_entered_over_ssh_with_the_builds_temporary_key():
    entry = builder_inventory.ec2_entry(STARTED, INVENTORY, "immutable.images.ssh")
    builder = {k: v for k, v in STARTED.items() if k not in ("changed", "invocation", "_ansible_parsed")}
    assert entry == {
        "name": "webapp-aws", "groups": ["image_builders"], "ansible_connection": "immutable.images.ssh",
        "ansible_host": "127.0.0.1", "ansible_port": 2222, "ansible_user": "admin",
        "ansible_ssh_private_key_file": "/tmp/b1/keys-aws/key", "ansible_ssh_common_args": builder_inventory.EC2_SSH_ARGS,
        "ansible_become": True, "ansible_pipelining": True, "ansible_python_interpreter": "/usr/bin/python3",
        "image_target": dict(TARGET, builder=builder), "image_build": BUILD, "ansible_immutable_images_warm": True,
        "inventory_dir": "/srv/defs", "inventory_file": None}
    assert "StrictHostKeyChecking=no" in builder_inventory.EC2_SSH_ARGS  # a fresh instance has a new host key
    root = builder_inventory.ec2_entry(STARTED, dict(INVENTORY, target=dict(TARGET, ssh_username="root")), "ssh")
    assert root["ansible_become"] is False


def test_an_ec2_builder_behind_a_bastion_is_entered_through_its_proxy_command():
    through = bastion.bastion("jump.example.com", 2200, "jump", "/keys/my jump%key", host_key_checking=False)
    entry = builder_inventory.ec2_entry(dict(STARTED, ssh_bastion=through), INVENTORY, "immutable.images.ssh")
    # Ansible splits ansible_ssh_common_args as a shell does: the ProxyCommand is one word after the builder's own
    words = shlex.split(entry["ansible_ssh_common_args"])
    assert words[:-1] == shlex.split(builder_inventory.EC2_SSH_ARGS)
    assert words[-1] == "-oProxyCommand=" + through["proxy_command"]
    # which ssh runs with /bin/sh after expanding %h and %p (a literal % is %%): ssh to the bastion with -W
    command = through["proxy_command"].replace("%h", "10.0.3.7").replace("%p", "22").replace("%%", "%")
    assert shlex.split(command) == bastion.ssh_argv(through) + ["-W", "10.0.3.7:22", "jump.example.com"]
    argv = bastion.ssh_argv(through)
    assert argv[argv.index("-i"):argv.index("-i") + 4] == ["-i", "/keys/my jump%key", "-o", "IdentitiesOnly=yes"]
    assert entry["image_target"]["builder"]["ssh_bastion"] == through


@pytest.mark.parametrize("inventory, needs, message", [
    ({"build": {}, "groups": []}, ("build", "groups"), None),
    ({"build": {}}, ("build", "groups"), "inventory needs groups (a list)"),
    ({"build": [], "groups": "image_builders"}, ("build", "groups"), "inventory needs build (a dict), groups (a list)"),
    ({"build": {}, "groups": []}, ("build", "target", "groups"), "inventory needs target (a dict)"),
    ("image_builders", ("build", "groups"), "inventory must be a dict"),
])
def test_the_inventory_option_is_checked(inventory, needs, message):
    assert builder_inventory.problem(inventory, needs) == message


def test_the_builders_have_the_inventory_dir_and_file_a_play_gives_a_host_of_the_inventory(tmp_path, monkeypatch):
    given = {"build": BUILD, "groups": ["image_builders"]}
    hosts, directory, gone = tmp_path / "hosts.yml", tmp_path / "inventory", str(tmp_path / "gone.yml")
    hosts.write_text("all: {}\n")
    directory.mkdir()
    # the option's own, even none
    assert builder_inventory.located(dict(given, inventory_file=None), {"inventory_dir": "/x"}) == dict(given, inventory_file=None)
    # the task host's own (a definition of the inventory of definitions)
    own = {"inventory_dir": "/srv/defs", "inventory_file": "/srv/defs/hosts.yml", "ansible_inventory_sources": [str(hosts)]}
    assert builder_inventory.located(given, own) == dict(given, inventory_dir="/srv/defs", inventory_file="/srv/defs/hosts.yml")
    # else the first inventory source that exists: the directory a file is in, or the directory it is
    first = builder_inventory.located(given, {"ansible_inventory_sources": [gone, str(hosts), str(directory)]})
    assert first == dict(given, inventory_dir=str(tmp_path), inventory_file=str(hosts))
    a_directory = builder_inventory.located(given, {"ansible_inventory_sources": [str(directory)]})
    assert a_directory == dict(given, inventory_dir=str(directory), inventory_file=str(directory))
    # else the directory ansible-playbook runs in
    monkeypatch.chdir(directory)
    assert builder_inventory.located(given, {"ansible_inventory_sources": [gone]}) == dict(
        given, inventory_dir=os.path.realpath(str(directory)), inventory_file=None)
    assert given == {"build": BUILD, "groups": ["image_builders"]}  # the option as it was


class Ec2Run:
    def __init__(self, make_action, args, returned, task_vars=None):
        self.sent = []
        act = make_action("ec2_builder", args)
        act.execute_module = lambda name, module_args, task_vars: self.sent.append(module_args) or dict(returned)
        act._remove_tmp_path = lambda path: None
        self.result = act.run(task_vars=task_vars or {})


def test_the_ec2_action_returns_the_entry_and_keeps_the_option_from_the_module(make_action):
    run = Ec2Run(make_action, {"region": "eu-west-1", "build_id": "b1", "inventory": INVENTORY}, STARTED)
    assert run.sent == [{"region": "eu-west-1", "build_id": "b1"}]
    assert run.result["inventory_entry"]["ansible_connection"] == "immutable.images.ssh"
    assert run.result["inventory_entry"]["image_target"]["builder"]["instance_id"] == "i-0abc"
    assert "inventory_entry" not in Ec2Run(make_action, {"build_id": "b1"}, STARTED).result  # only when asked
    failed = Ec2Run(make_action, {"inventory": INVENTORY}, {"failed": True, "msg": "no such AMI"}).result
    assert failed["failed"] and "inventory_entry" not in failed
    unlocated = {k: v for k, v in INVENTORY.items() if not k.startswith("inventory_")}
    located = Ec2Run(make_action, {"inventory": unlocated}, STARTED, task_vars={"inventory_dir": "/srv/defs"}).result
    assert (located["inventory_entry"]["inventory_dir"], located["inventory_entry"]["inventory_file"]) == ("/srv/defs", None)


def test_the_ec2_action_refuses_a_bad_inventory_before_anything_starts(make_action):
    run = Ec2Run(make_action, {"build_id": "b1", "inventory": {"build": BUILD, "groups": []}}, STARTED)
    assert run.sent == [] and run.result["failed"]
    assert run.result["msg"] == "immutable.images.ec2_builder: inventory needs target (a dict)"


def test_the_builders_entries_of_a_persistent_fact_cache_are_forgotten(monkeypatch, tmp_path):
    """With fact_caching: jsonfile (ansible-core's own plugin, through its configuration), the builders' entries are
    deleted and no other host's; with the memory cache, the default, nothing is asked of any cache."""
    from ansible import constants as C
    from ansible.plugins.loader import cache_loader

    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path))
    monkeypatch.setattr(C, "CACHE_PLUGIN", "jsonfile")
    cache = cache_loader.get("jsonfile")
    for host in ("webapp-container", "webapp-aws", "web1.example.com"):
        cache.set(host, {"ansible_distribution_release": "bookworm", "marker_installed": True})
    assert builder_inventory.forget_cached_facts(["webapp-container", "webapp-aws"]) == ["webapp-container", "webapp-aws"]
    files = cache_loader.get("jsonfile")  # a new instance: what the files hold
    assert [files.contains(host) for host in ("webapp-container", "webapp-aws", "web1.example.com")] == [False, False, True]
    assert builder_inventory.forget_cached_facts(["webapp-container"]) == ["webapp-container"]  # none there: fine

    monkeypatch.setattr(C, "CACHE_PLUGIN", "memory")
    monkeypatch.setattr(builder_inventory, "cache_loader", None)  # not even loaded
    assert builder_inventory.forget_cached_facts(["web1.example.com"]) == []
    assert len(os.listdir(tmp_path)) == 1


def test_a_fact_cache_that_cannot_be_used_is_left_alone(monkeypatch):
    """A cache ansible-playbook could not load either (it fell back to memory, with a warning) fails no build."""
    from ansible import constants as C

    monkeypatch.setattr(C, "CACHE_PLUGIN", "no.such.cache")
    assert builder_inventory.forget_cached_facts(["webapp-container"]) == []


def _run_with_builders():
    """ansible-core's own inventory and variables, as a run has them after two builds were launched from localhost (the
    first finished) and one from a definition host (under way), with one host of the inventory beside them."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.hostvars import HostVars
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[])
    variable_manager = VariableManager(loader=loader, inventory=inventory)
    inventory.add_group("image_builders")
    inventory.add_host("localhost")
    inventory.add_host("web1.example.com", group="image_builders")  # the inventory's own, whatever its group
    for name, build_id in (("webapp-container", "b1"), ("webapp-aws", "b1"), ("api-container", "b2")):
        inventory.add_host(name, group="image_builders")
        host = inventory.get_host(name)
        host.set_variable("image_build", {"id": build_id})
        host.set_variable("image_target", {"host": name})
        variable_manager.set_nonpersistent_facts(name, {"app_installed": True, "provision__sync": {"changed": True}})
        variable_manager.set_host_facts(name, {"distribution": "Debian"})
        variable_manager.set_host_variable(name, "included", 1)
    inventory.add_host("defs")
    finished = {"image_build": {"id": "b1"}, "image_build_manifest": {"build_id": "b1"}}
    variable_manager.set_nonpersistent_facts("localhost", finished)
    variable_manager.set_nonpersistent_facts("defs", {"image_build": {"id": "b2"}})
    return inventory, variable_manager, HostVars(inventory=inventory, variable_manager=variable_manager, loader=loader)


def test_the_builders_of_finished_builds_leave_the_inventory_with_their_variables():
    """A finished build's builders (its manifest written) are taken out of the inventory and every group, with what
    they had gathered, set and registered: a later builder of the same name starts with nothing of theirs. A build
    under way keeps its builders; the inventory's own hosts stay, whatever their group."""
    inventory, variable_manager, hostvars = _run_with_builders()
    assert builder_inventory.forget_finished_builders(hostvars) == ["webapp-container", "webapp-aws"]
    assert sorted(h.name for h in inventory.get_hosts("image_builders")) == ["api-container", "web1.example.com"]
    assert inventory.get_host("webapp-container") is None
    assert "webapp-container" not in variable_manager._nonpersistent_fact_cache
    assert "webapp-container" not in variable_manager._vars_cache
    under_way = variable_manager.get_vars(host=inventory.get_host("api-container"), include_hostvars=False)
    assert under_way["app_installed"] is True and under_way["ansible_facts"] == {"distribution": "Debian"}

    inventory.add_host("webapp-container", group="image_builders")  # the next build's builder, as add_host adds it
    own = variable_manager.get_vars(host=inventory.get_host("webapp-container"), include_hostvars=False)
    assert "app_installed" not in own and "included" not in own and not own["ansible_facts"], own
    assert builder_inventory.forget_finished_builders(hostvars) == []  # not a builder of any build


def test_the_builders_of_a_build_its_host_launched_again_leave_the_inventory():
    """The host that launched a build launched another (no finalize in between, or it failed before the manifest): the
    earlier build is over too."""
    inventory, variable_manager, hostvars = _run_with_builders()
    variable_manager.set_nonpersistent_facts("defs", {"image_build": {"id": "b3"}})
    assert builder_inventory.forget_finished_builders(hostvars) == ["webapp-container", "webapp-aws", "api-container"]
    assert [h.name for h in inventory.get_hosts("image_builders")] == ["web1.example.com"]
