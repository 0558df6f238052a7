# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: definitions
short_description: One inventory host per image definition, for building a fleet of images
version_added: 0.2.0
description:
  - Reads image definition files (the files you pass to C(immutable.images.build_image) with C(-e @file))
    and makes one host per definition, named after its C(image_name), in the group C(image_definitions).
    The playbook C(immutable.images.build_all) builds every host of this inventory in parallel, each exactly
    as C(immutable.images.build_image) builds it.
  - The definition's variables are the variables of a group C(image_definition_<image_name>) that holds
    only that host (with C(ansible_group_priority) 100, so they win over the variables of other groups).
    The builders of the definition join the same group, so the image roles see the definition's variables
    as they see extra variables in C(build_image).
  - Every host runs on the controller (C(ansible_connection=local) with the playbook's Python).
  - The inventory file's name must end in C(.definitions.yml) or C(.definitions.yaml). The C(auto)
    inventory plugin, enabled by default, loads this plugin from the file's C(plugin) key; with a
    custom C(enable_plugins) list, add C(immutable.images.definitions) (or C(auto)) to it.
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: The name of this plugin; makes the file an inventory of this plugin.
    required: true
    type: str
    choices: [immutable.images.definitions]
  paths:
    description:
      - Definition files, or directories of them (every C(*.yml) and C(*.yaml) file directly in the
        directory, in name order, except inventory files C(*.definitions.yml)).
      - Relative paths resolve against the directory of the inventory file.
    required: true
    type: list
    elements: path
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
# images.definitions.yml: every definition in images/, plus one more file
plugin: immutable.images.definitions
paths:
  - images/
  - extra/legacy-app.yml

# Build them all, four at a time:
#   ansible-playbook -i images.definitions.yml immutable.images.build_all -f 4
# Only some of them:
#   ansible-playbook -i images.definitions.yml immutable.images.build_all --limit 'webapp,worker'

# Group definitions by a variable of theirs (constructed options), for --limit 'team_payments'
plugin: immutable.images.definitions
paths: [images]
keyed_groups:
  - key: image_labels.team | default('none')
    prefix: team
"""

import os
import re

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

try:  # ansible-core 2.19+ templates only strings marked as trusted templates
    from ansible.template import trust_as_template
except ImportError:  # pragma: no cover - older ansible-core templates every string
    def trust_as_template(value):
        return value

GROUP = "image_definitions"
INVENTORY_SUFFIXES = (".definitions.yml", ".definitions.yaml")
DEFINITION_SUFFIXES = (".yml", ".yaml")
DEFINITION_GROUP_PRIORITY = 100


def definition_group(image_name):
    """The group that carries one definition's variables (its host and its builders are in it)."""
    return "image_definition_%s" % re.sub(r"[^A-Za-z0-9_]", "_", image_name)


def definition_files(paths, base_dir):
    """Definition files named by `paths` (files, or directories of them), relative to base_dir."""
    found = []
    for path in paths:
        full = os.path.join(base_dir, os.path.expanduser(str(path)))
        if os.path.isdir(full):
            found += [os.path.join(full, n) for n in sorted(os.listdir(full))
                      if n.endswith(DEFINITION_SUFFIXES) and not n.endswith(INVENTORY_SUFFIXES)
                      and os.path.isfile(os.path.join(full, n))]
        elif os.path.isfile(full):
            found.append(full)
        else:
            raise AnsibleParserError("paths: %s does not exist (relative paths resolve against %s)" % (path, base_dir))
    return found


def read_definitions(loader, files):
    """[(image_name, variables, file)] of the definition files; a clear error for a file that is not one,
    or for two definitions of the same image_name."""
    seen, out = {}, []
    for def_file in files:
        variables = _load_definition(loader, def_file)
        name = variables["image_name"]
        if name in seen:
            raise AnsibleParserError("two definitions have image_name %r: %s and %s (each definition needs its own "
                                     "image_name, which names its inventory host)" % (name, seen[name], def_file))
        seen[name] = def_file
        out.append((name, variables, def_file))
    return out


def _load_definition(loader, def_file):
    try:
        try:  # values from the file may be templates, as in a file given with -e @file (ansible-core 2.19+ asks)
            data = loader.load_from_file(def_file, cache="none", trusted_as_template=True)
        except TypeError:  # pragma: no cover - ansible-core before 2.19 templates every string
            data = loader.load_from_file(def_file, cache="none")
    except AnsibleError as e:
        raise AnsibleParserError("definition file %s does not parse: %s" % (def_file, to_native(e)))
    if not isinstance(data, dict):
        raise AnsibleParserError("definition file %s is not a mapping of variables (an image definition)" % def_file)
    name = data.get("image_name")
    if not isinstance(name, str) or not name.strip():
        raise AnsibleParserError("definition file %s sets no image_name (it names the definition's inventory host)" % def_file)
    if "{{" in name or "{%" in name:
        raise AnsibleParserError("definition file %s: image_name %r is a template; in an inventory of definitions it "
                                 "must be a plain name (it names the host)" % (def_file, name))
    return data


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "immutable.images.definitions"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(INVENTORY_SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        base_dir = os.path.dirname(os.path.abspath(path))
        self.inventory.add_group(GROUP)
        for name, variables, def_file in read_definitions(self.loader, definition_files(self.get_option("paths") or [], base_dir)):
            self._add_definition(name, variables, def_file)

    def _add_definition(self, name, variables, def_file):
        # Not a child of image_definitions: the builders join this group, and must not become definition hosts.
        group = self.inventory.add_group(definition_group(name))
        host = self.inventory.add_host(name, group=GROUP)
        self.inventory.add_host(host, group=group)
        # The definition's variables win over those of other groups (image_definitions, keyed groups), as
        # extra vars would: a group's priority decides between groups of the same depth.
        self.inventory.set_variable(group, "ansible_group_priority", DEFINITION_GROUP_PRIORITY)
        # Host variables of the definition's host (above group_vars files, as extra vars are in build_image);
        # group variables for its builders.
        for key, value in variables.items():
            self.inventory.set_variable(host, key, value)
            self.inventory.set_variable(group, key, value)
        self.inventory.set_variable(host, "ansible_connection", "local")
        self.inventory.set_variable(host, "ansible_python_interpreter", trust_as_template("{{ ansible_playbook_python }}"))
        self.inventory.set_variable(host, "image_definition_file", def_file)
        self.inventory.set_variable(host, "image_builder_groups", [group])
        strict = self.get_option("strict")
        host_vars = dict(variables, image_definition_file=def_file)
        self._set_composite_vars(self.get_option("compose"), host_vars, host, strict=strict)
        self._add_host_to_composed_groups(self.get_option("groups"), host_vars, host, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, host, strict=strict)
