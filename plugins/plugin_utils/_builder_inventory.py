# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The builders' inventory entries, as the launch role adds them with ansible.builtin.add_host.

The action that starts a builder (action/docker_builder.py, action/ec2_builder.py) knows its connection and what the
engine or AWS returned; with the task's `inventory` option ({build, groups, inventory_dir, inventory_file}, and for an
ec2 builder its plan `target`), it returns the builder's entry: its connection variables, `image_target` (the plan's
target, with what starting the builder learned under `builder`), `image_build` and the inventory_dir/inventory_file a
play would give a host of the inventory (located(), from the task's variables, unless the option gives them). Made
here instead of templated in the role: each templated variable was an expression compiled and rendered in the step's
worker."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping

from ansible import constants as C
from ansible.plugins.loader import cache_loader

# A fresh instance has a new host key every time: nothing to verify it against.
EC2_SSH_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes"
# What an ec2 builder's result holds besides the builder itself (left out of image_target.builder).
_NOT_THE_BUILDER = ("invocation", "changed", "failed", "warnings", "deprecations", "inventory_entry")


def problem(inventory, needs=("build", "groups")):
    """What is wrong with a task's `inventory` option (None: fine). Checked by hand, not with the argument spec's
    validator, which would copy the whole plan that `build` carries."""
    if not isinstance(inventory, dict):
        return "inventory must be a dict"
    kinds = {"build": dict, "target": dict, "groups": list}
    wrong = [key for key in needs if not isinstance(inventory.get(key), kinds[key])]
    if wrong:
        return "inventory needs %s" % ", ".join("%s (a %s)" % (key, kinds[key].__name__) for key in wrong)
    return None


def located(inventory, task_vars):
    """`inventory` with the builders' inventory_dir and inventory_file: as the option gives them, else as a play gives
    them to a host of the inventory - the play host's own when it has them (build_all: the inventory of definitions),
    else the first inventory source that exists, else the current directory (where ansible-playbook runs). Some roles
    need them (DebOps' secret role keeps its store beside inventory_dir: docs/roles-in-builders.md)."""
    if "inventory_dir" in inventory or "inventory_file" in inventory:
        return inventory
    if task_vars.get("inventory_dir") is not None:
        where = {"inventory_dir": task_vars["inventory_dir"], "inventory_file": task_vars.get("inventory_file")}
    else:
        sources = [source for source in task_vars.get("ansible_inventory_sources") or () if os.path.exists(source)]
        where = {"inventory_dir": os.path.realpath("."), "inventory_file": None} if not sources else {
            "inventory_dir": sources[0] if os.path.isdir(sources[0]) else os.path.dirname(sources[0]),
            "inventory_file": sources[0]}
    return dict(inventory, **where)


def placed_build(build, results):
    """The build once its docker builders started: a target an engine pool placed is on that engine from now on
    (provision, finalize and the manifest read its docker_host and tls there), and the build's engines are the ones its
    builders are on (the clean-up must not fail on an engine of the pool that died since). A target whose builder the
    plan did not start (start_builder false) but that was started after all (its layer was gone) is provisioned as any
    other from now on. Otherwise, as given."""
    changes = {one["target"]["name"]: dict(one["placed"]) for one in results if "placed" in one}
    engines = None
    if changes:
        engines = list(build["engines_fixed"])
        for one in results:
            if "engine" in one and one["engine"] not in engines:
                engines.append(one["engine"])
    for one in results:
        if started_after_all(one):
            changes.setdefault(one["target"]["name"], {}).update(start_builder=True, idle=False)
    if not changes:
        return build
    return dict(build, targets=[dict(target, **changes.get(target["name"], {})) for target in build["targets"]],
                engines=build["engines"] if engines is None else engines)


DOCKER_BUILDER_CONNECTION = "immutable.images.docker_session"  # the connection of docker builders (docker_entry)
DOCKER_BUILDER_USER = "root"  # their ansible_user


def started_after_all(result):
    """Whether a docker_builder result (with its plan's `target`) is of a builder the plan did not start, which was
    started because the layer it was to be created at was gone."""
    return result["target"].get("start_builder") is False and (result.get("container") or {}).get("status") == "running"


def docker_entry(result, build, inventory, connection, user):
    """A started docker builder (a result of docker_builder with `targets`: the plan's target under `target`): its
    connection, its target on the engine it was placed on, with the container under `builder`, and the build."""
    target = dict(result["target"], **(result.get("placed") or {}))
    entry = dict(_common(target, build, inventory), ansible_connection=connection, ansible_user=user,
                 ansible_host=result["container"]["name"], image_target=dict(target, builder=result["container"]),
                 # with it, the connection starts the builder's session and warm interpreter on its first use (if not
                 # yet); without, it is community.docker.docker_api (with an exec stream of its own on a remote
                 # engine, where docker_api's loses output over TLS)
                 immutable_images_warm=build["warm_interpreter"])
    if target.get("docker_host"):  # else the connection's own default (DOCKER_HOST, the local socket)
        entry["ansible_docker_docker_host"] = target["docker_host"]
    if target.get("tls"):
        entry["immutable_images_docker_tls"] = target["tls"]
    return entry


def ec2_entry(result, inventory, connection):
    """A started ec2 builder (an ec2_builder result): SSH as the target's user (become unless root) with the build's
    temporary key, and the instance, key pair and security group under image_target.builder."""
    target, build = inventory["target"], inventory["build"]
    builder = {key: value for key, value in result.items()
               if key not in _NOT_THE_BUILDER and not key.startswith("_ansible")}
    ssh_args = EC2_SSH_ARGS
    if result.get("ssh_bastion"):  # every connection to the builder goes through the bastion (module_utils/_ec2/bastion.py)
        ssh_args += " " + shlex.quote("-oProxyCommand=" + result["ssh_bastion"]["proxy_command"])
    return dict(_common(target, build, inventory), ansible_connection=connection,
                ansible_host=result["ssh_host"], ansible_port=result["ssh_port"], ansible_user=target["ssh_username"],
                ansible_ssh_private_key_file=result["private_key_file"], ansible_ssh_common_args=ssh_args,
                ansible_become=target["ssh_username"] != "root", image_target=dict(target, builder=builder),
                # with it, the connection runs the modules that run as root in a warm interpreter it installs on the
                # first (connection/ssh.py)
                ansible_immutable_images_warm=build["warm_interpreter"])


def forget_cached_facts(hosts):
    """Delete the builders' entries from a persistent fact cache (`fact_caching`: jsonfile, yaml, redis...). A builder is
    a new machine under a name every build of its image and target reuses (<image_name>-<target>): the cache would
    give it the facts an earlier build's builder left, under this builder's own (gathering merges them; a role's
    `cacheable` set_fact is among them), and would keep its facts after the build. Called when the build guard is
    armed, before any builder joins the inventory, and disarmed, once they are gone (action/build_guard.py). The
    memory cache, the default, is each process's own: nothing to do here (within one run, forget_finished_builders
    clears ansible-playbook's own copy). Returns the hosts it asked the cache to delete."""
    if not hosts or C.CACHE_PLUGIN in ("memory", "ansible.builtin.memory"):
        return []
    try:
        cache = cache_loader.get(C.CACHE_PLUGIN)
        for host in hosts:
            cache.delete(host)
    except Exception:  # noqa: BLE001 - a cache ansible-playbook could not load either (it fell back to memory) or cannot reach
        return []
    return list(hosts)


def forget_finished_builders(hostvars):
    """Take the builders of this run's builds that are over out of the inventory, and forget what they had gathered,
    set and registered. A playbook of one's own may run the three plays more than once (two versions of an image, two
    images): a builder of an earlier build stayed in `image_builders`, removed since, and a later provision play ran on
    it too; and a builder of the same name (<image_name>-<target>, as every build of that image and target names it)
    was the same inventory host to ansible-core, with the earlier one's facts, set_fact values (a role's "done" marker)
    and registered results. A build is over once its finalize wrote its manifest, or once no host holds it as its
    current `image_build` (the host that launched it launched another); builds under way keep their builders (several
    definitions' builders, launched by plays of their own before one provision play). Hosts of the inventory that are
    not builders are never touched.

    Runs in ansible-playbook's own process, where the inventory and the variables are (lookup/forget_builders.py, from
    a meta task of the launch role): `hostvars` is the run's (a lookup's `variables['hostvars']`). Returns the names it
    took out."""
    variable_manager = hostvars._variable_manager  # private: the run's VariableManager
    inventory = hostvars._inventory  # private: the run's InventoryManager
    facts = variable_manager._nonpersistent_fact_cache  # private: what set_fact and register gave each host
    running = {_key(host_facts.get("image_build"), "id") for host_facts in facts.values()}
    finished = {_key(host_facts.get("image_build_manifest"), "build_id") for host_facts in facts.values()}
    gone = [host for host in list(inventory.hosts.values())
            if "image_target" in host.vars and isinstance(host.vars.get("image_build"), Mapping)
            and (_key(host.vars["image_build"], "id") not in running or _key(host.vars["image_build"], "id") in finished)]
    for host in gone:
        inventory._inventory.remove_host(host)  # private: InventoryManager has no remove_host; from every group too
        facts.pop(host.name, None)
        variable_manager._vars_cache.pop(host.name, None)  # private: include_vars, by host
        variable_manager.clear_facts(host.name)  # gathered and cacheable facts (meta: clear_facts), a persistent cache's
    if gone:
        inventory.clear_caches()  # patterns resolved to hosts before
    return [host.name for host in gone]


def _key(value, key):
    return value.get(key) if isinstance(value, Mapping) else None


def _common(target, build, inventory):
    return {"name": target["host"], "groups": inventory["groups"], "ansible_pipelining": True,
            "ansible_python_interpreter": target["python_interpreter"], "image_build": build,
            "inventory_dir": inventory.get("inventory_dir"), "inventory_file": inventory.get("inventory_file")}
