# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an image role uses that only a later image role defines: variables and handlers.

A play loads every role of its `roles:` before it runs any, so each role sees the defaults and the vars/main.yml of
all of them from the first task on (ansible-core's VariableManager merges those of every public role of the play),
and can notify any role's handlers. DebOps' playbooks rely on it: they give a role a variable that refers to the
defaults of a role that runs after it (`etc_services__dependent_list: ['{{ memcached__etc_services__dependent_list }}']`).
A build includes each image role when its turn comes, so such a variable is undefined, and such a handler not found,
until then. When one is found, the roles' task file loads every image role before the first runs
(action/image_definition.py); otherwise none is loaded early, because a loaded role brings its handlers, and any
handler in the play keeps the layer cache from storing a layer per role (action/layer_cache.py).

Found from the files as written, without running or templating anything. Variables: the top-level names of the
defaults/ and vars/ main files of each role and of the roles it pulls in, against every word of the earlier roles'
entry vars and role parameters and of their (and their pulled-in roles') task, handler, template, defaults, vars and
meta files. Handlers: the names and `listen` topics of the handler files of each role and of the roles it pulls in, against the
text of the earlier roles' task and handler files. Something that only looks like a use (a word in a comment, a
module option) loads the roles early too: that costs caching, never correctness.
"""

from __future__ import annotations

import json
import os
import re

from ansible.parsing.utils.yaml import from_yaml

from ansible_collections.immutable.images.plugins.plugin_utils._definition.role_modules import task_files, task_lists

_READ_FROM = ("tasks", "handlers", "templates", "defaults", "vars", "meta")
_NOTIFY_FROM = ("tasks", "handlers")
_MAIN = ("main.yml", "main.yaml", "main.json", "main")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def used_before_defined(roles):
    """What a role of `roles` (the plan's, in order, each with its `path`, entry `vars` and role `params` and
    `pulled_in`: the roles it pulls in, role_dependencies) uses that only a role after it defines: variable names, and 'handler <name>' for
    handlers, sorted."""
    if len(roles) < 2:
        return []
    trees = [[role["path"]] + role["pulled_in"] for role in roles]
    # once per role: many roles pull in the same ones (DebOps' global_handlers)
    defines = {path: (_variables(path), _handlers(path)) for path in dict.fromkeys(p for tree in trees for p in tree)}
    variables = [_union(defines[path][0] for path in tree) for tree in trees]
    handlers = [_union(defines[path][1] for path in tree) for tree in trees]
    found = set()
    for k in range(len(roles) - 1):
        later = _union(variables[k + 1:]) - _union(variables[:k + 1])
        if later:
            found |= later & _words([roles[k].get("vars"), roles[k].get("params")], trees[k])
        later = _union(handlers[k + 1:]) - _union(handlers[:k + 1])
        if later:
            text = "\n".join(_text(path) for role_path in trees[k] for sub in _NOTIFY_FROM
                             for path in _files(os.path.join(role_path, sub)))
            found |= {"handler " + name for name in later if name in text}
    return sorted(found)


def _variables(role_path):
    """Top-level names of a role's defaults/ and vars/ main file (or main/ directory), as ansible-core loads them."""
    names = set()
    for sub in ("defaults", "vars"):
        directory = os.path.join(role_path, sub)
        paths = [os.path.join(directory, n) for n in _MAIN if os.path.isfile(os.path.join(directory, n))][:1]
        paths += _files(os.path.join(directory, "main"))
        for path in paths:
            data = _yaml(path)
            if isinstance(data, dict):
                names.update(str(key) for key in data)
    return names


def _handlers(role_path):
    """The names and listen topics of a role's handlers (every file of handlers/: main.yml may import the others)."""
    names = set()
    for path in task_files(os.path.join(role_path, "handlers")):
        for handler in task_lists(_yaml(path)):
            listen = handler.get("listen")
            for name in [handler.get("name")] + (listen if isinstance(listen, list) else [listen]):
                if isinstance(name, str) and name.strip() and "{{" not in name:
                    names.add(name.strip())
    return names


def _words(entry_values, tree):
    words = set(_WORD.findall(json.dumps(entry_values, default=str)))
    for role_path in tree:
        for sub in _READ_FROM:
            for path in _files(os.path.join(role_path, sub)):
                words.update(_WORD.findall(_text(path)))
    return words


def _union(sets):
    return set().union(*sets)


def _files(directory):
    found = []
    for top, dirs, names in os.walk(directory):
        dirs.sort()
        found += [os.path.join(top, name) for name in sorted(names)]
    return found


def _text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return ""  # unreadable or binary: nothing a role reads as a name


def _yaml(path):
    try:
        return from_yaml(_text(path), file_name=path)
    except Exception:  # noqa: BLE001 - not YAML: the role's run reports it, not this
        return None
