# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The variables a build's builders will get from the inventory, known before any builder exists.

The launch role adds each builder to the groups image_builders and image_builder_groups at run time. From then on its
roles see the variables of those groups and of `all`: from the inventory sources (`[all:vars]`, a YAML group's `vars`)
and from group_vars/ files beside the inventory or in the project directory (the base directory of the roles' play, as
the build_strategy lookup makes it), and its own host_vars/ file there by its host name (<image_name>-<target name>).
A role that reads one of them directly makes it an input of the image, as an extra variable is. The plan asks
ansible-core's own VariableManager for the variables of stand-in hosts in those groups (the inventory is not changed),
so precedence, vars plugins and ansible.cfg are the run's own."""

from __future__ import annotations

from ansible.inventory.group import Group
from ansible.inventory.host import Host

BUILDERS_GROUP = "image_builders"
_STAND_IN_BUILDER = "immutable-images-builder-stand-in"
# What ansible-core gives every host about itself (its name, its groups, its facts: none yet), not the inventory.
_OF_THE_HOST = frozenset(("inventory_hostname", "inventory_hostname_short", "group_names", "ansible_facts",
                          "ansible_local"))


def builder_groups(task_vars):
    """The groups the launch role adds the builders to (roles/launch: ['image_builders'] + image_builder_groups)."""
    extra = task_vars.get("image_builder_groups") or []
    return [BUILDERS_GROUP] + [str(group) for group in extra if isinstance(extra, list)]


def inventory_variables(variable_manager, groups, play_basedir):
    """The variables a host in `groups` gets from the inventory, other than those every host of the run gets anyway
    (the extra variables, which win over the inventory's, and ansible-core's magic variables), in a play whose base
    directory is `play_basedir` (its group_vars/ count too). Values are as written, before templating."""
    everyone, builder = _variables_of(variable_manager, [None, _STAND_IN_BUILDER], groups, play_basedir)
    return {key: value for key, value in builder.items()
            if key not in _OF_THE_HOST and not _same(everyone, key, value)}


def own_variables(variable_manager, hosts, groups, play_basedir):
    """What each builder host in `hosts` (their inventory names) gets of its own beyond a host of `groups`: its
    host_vars/<name>.yml beside the inventory or beside the play, unless an extra variable wins over it. Only hosts
    with any are listed; values are as written."""
    found = _variables_of(variable_manager, [_STAND_IN_BUILDER] + list(hosts), groups, play_basedir)
    anyone = found[0]
    own = {}
    for host, variables in zip(hosts, found[1:]):
        mine = {key: value for key, value in variables.items()
                if key not in _OF_THE_HOST and not _same(anyone, key, value)}
        if mine:
            own[host] = mine
    return own


def _variables_of(variable_manager, names, groups, play_basedir):
    """The variables of a host named each of `names` (None: of no host) in `groups`, in a play whose base directory is
    `play_basedir`. The hosts are stand-ins: the inventory is not changed."""
    inventory = variable_manager._inventory  # private: the run's groups, with their own variables and parents
    # A group the inventory does not have yet (add_host makes it) can still have a group_vars/ file.
    in_groups = [inventory.groups.get(name) or Group(name) for name in groups]
    loader = variable_manager._loader  # private: the loader whose base directory get_vars reads group_vars/ beside
    basedir = loader.get_basedir()
    loader.set_basedir(play_basedir)  # in this task's worker only: where the roles' play reads *_vars/ beside it
    try:
        return [variable_manager.get_vars(host=_stand_in(name, in_groups) if name else None, include_hostvars=False)
                for name in names]
    finally:
        loader.set_basedir(basedir)


def _stand_in(name, groups):
    host = Host(name)
    for group in groups:
        host.add_group(group)
    return host


def _same(variables, key, value):
    return key in variables and (variables[key] is value or variables[key] == value)
