# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""YAML syntax errors in the files a role's include loads, found before any builder starts.

ansible-playbook parses the roles of a play before it runs a task, so a play with a broken role file stops before it
touches a host. A build includes each role when its turn comes: such a file stopped the whole run (rc 4) after the
builders had started. So the plan parses, for each image role and the roles it pulls in, what loading the role
parses: the main file of tasks/, handlers/ and meta/, the tasks files those import statically (import_tasks with a
plain name), and defaults/ and vars/ main (a file, or every file of a main/ directory). A file only an include_tasks
reaches is parsed when it is included, in a play as here. Parsed with the YAML parser ansible-core uses (PyYAML, on
libyaml when it has it), composing only: no values are built, so ansible-core's own tags (!vault, !unsafe) need
nothing here.
"""

from __future__ import annotations

import os

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAIN = ("main.yml", "main.yaml", "main.json", "main")
_IMPORTS = frozenset(prefix + "import_tasks" for prefix in ("", "ansible.builtin.", "ansible.legacy."))


def problems(role_paths, cwd):
    """'<file>:<line>:<column>: <problem>' for each file the roles at `role_paths` load that does not parse (its first
    error), the file relative to `cwd` when it is below it."""
    found = []
    for role_path in role_paths:
        for path, problem in _parsed(role_path):
            if problem:
                shown = os.path.relpath(path, cwd) if path.startswith(cwd.rstrip(os.sep) + os.sep) else path
                found.append("%s:%s" % (shown, problem))
    return found


def _parsed(role_path):
    """(file, its problem or None) for each file loading the role parses, each once."""
    files = []
    for sub in ("defaults", "vars"):
        directory = os.path.join(role_path, sub)
        files += _main(directory)
        for top, dirs, names in os.walk(os.path.join(directory, "main")):
            dirs.sort()
            files += [os.path.join(top, name) for name in sorted(names)]
    files += _main(os.path.join(role_path, "meta"))
    done = [(path, _parse(path)[0]) for path in files]
    queue = _main(os.path.join(role_path, "tasks")) + _main(os.path.join(role_path, "handlers"))
    while queue:
        path = queue.pop(0)
        if any(path == seen for seen, _problem in done):
            continue
        problem, imported = _parse(path)
        done.append((path, problem))
        queue += [p for p in (os.path.join(os.path.dirname(path), name) for name in imported) if os.path.isfile(p)]
    return done


def _main(directory):
    return [os.path.join(directory, name) for name in _MAIN if os.path.isfile(os.path.join(directory, name))][:1]


def _parse(path):
    """(its first error as 'line:column: problem', or None; the plain names of the task files it imports)."""
    try:
        with open(path, encoding="utf-8") as f:
            nodes = list(yaml.compose_all(f, Loader=_LOADER))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = "%d:%d: " % (mark.line + 1, mark.column + 1) if mark else " "
        return where + " ".join(part for part in (e.context, e.problem) if part), []
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        return " %s" % e, []
    except OSError:
        return None, []  # unreadable: ansible-core says so when it loads it
    return None, [name for node in nodes for name in _imports(node)]


def _imports(node):
    """The plain file names `import_tasks` is given anywhere in a composed document (blocks included)."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _imports(item)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value in _IMPORTS:
                if isinstance(value, yaml.MappingNode):  # import_tasks: {file: x.yml}
                    value = next((v for k, v in value.value if getattr(k, "value", None) == "file"), None)
                if isinstance(value, yaml.ScalarNode) and "{{" not in value.value:
                    yield value.value.strip()
            else:
                yield from _imports(value)
