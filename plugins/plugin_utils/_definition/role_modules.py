# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules a build's roles name: what the controller's warm interpreter builds the payloads of in advance.

Read from the roles' own task and handler files, as written (every file of tasks/ and handlers/, included ones
too), without running or templating anything: a module named only through a variable, another role or a
dependency is not found, and is built on first use, as Ansible always does. Used only for speed: a name found
here that is no module costs a failed build attempt in the background, nothing else.
"""

from __future__ import annotations

import os

from ansible.parsing.utils.yaml import from_yaml
from ansible.playbook.block import Block
from ansible.playbook.task import Task

# ansible-core's action plugins that run modules, and the modules each runs (the rest, debug, set_fact, assert,
# include_*, ..., run none; a module without an action plugin of its own runs itself)
ACTION_MODULES = {
    "ansible.builtin.command": ("ansible.builtin.command",),
    "ansible.builtin.shell": ("ansible.builtin.command",),
    "ansible.builtin.copy": ("ansible.builtin.stat", "ansible.builtin.copy", "ansible.builtin.file"),
    "ansible.builtin.template": ("ansible.builtin.stat", "ansible.builtin.copy", "ansible.builtin.file"),
    "ansible.builtin.unarchive": ("ansible.builtin.stat", "ansible.builtin.unarchive"),
    "ansible.builtin.uri": ("ansible.builtin.uri",),
    "ansible.builtin.gather_facts": ("ansible.builtin.setup",),
}
# what the playbook parser itself handles: no module, no action plugin
_DIRECTIVES = frozenset(prefix + name for prefix in ("", "ansible.builtin.", "ansible.legacy.")
                        for name in ("include_role", "import_role", "include_tasks", "import_tasks", "include",
                                     "import_playbook", "meta"))
_KEYWORDS = frozenset(Task.fattributes) | frozenset(Block.fattributes) | {"local_action", "static"}


def action_names(role_path):
    """The actions the role's task and handler files name, in the order they first appear (tasks/main.yml first)."""
    names = []
    for sub in ("tasks", "handlers"):
        for path in task_files(os.path.join(role_path, sub)):
            try:
                with open(path, encoding="utf-8") as f:
                    data = from_yaml(f.read(), file_name=path)
            except Exception:  # noqa: BLE001 - unreadable or not YAML: the role's run reports it, not this
                continue
            for name in _actions(data):
                if name not in names:
                    names.append(name)
    return names


def modules(role_paths, resolve):
    """The modules to build for these roles, in order, each once. resolve(name): the FQCN of the action plugin
    `name` names, or None when it has none (then `name` is a module, or nothing)."""
    found = []
    for role_path in role_paths:
        for name in action_names(role_path):
            if name in _DIRECTIVES:
                continue
            plugin = resolve(name)
            for module in (ACTION_MODULES.get(plugin, ()) if plugin else (name,)):
                if module not in found:
                    found.append(module)
    return found


def task_files(directory):
    """The YAML files of a role's directory (tasks/, handlers/, meta/), its main file first, then the rest in order."""
    main = [os.path.join(directory, n) for n in ("main.yml", "main.yaml", "main")]
    rest = []
    for top, dirs, files in os.walk(directory):
        dirs.sort()
        rest += [os.path.join(top, n) for n in sorted(files) if n.endswith((".yml", ".yaml"))]
    return [p for p in main if os.path.isfile(p)] + [p for p in rest if p not in main]


def task_lists(data):
    """Every task of a task file's data, blocks' own tasks (block, rescue, always) included."""
    for task in data if isinstance(data, list) else []:
        if not isinstance(task, dict):
            continue
        for part in ("block", "rescue", "always"):
            if isinstance(task.get(part), list):
                yield from task_lists(task[part])
        yield task


def _actions(data):
    """Action names of a task list (blocks and their rescue/always included)."""
    for task in task_lists(data):
        name = _action(task)
        if name:
            yield name


def _action(task):
    for key in ("action", "local_action"):
        value = task.get(key)
        if isinstance(value, str) and value.split():
            return value.split()[0]
        if isinstance(value, dict) and isinstance(value.get("module"), str):
            return value["module"]
    candidates = [k for k in task if isinstance(k, str) and k not in _KEYWORDS and not k.startswith("with_")]
    return candidates[0] if len(candidates) == 1 else None
