# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles a role of image_roles pulls in, whose content is an input of the build as its own is.

A role runs its meta/main.yml dependencies, and the roles its tasks and handlers include or import (include_role,
import_role). A shop's `roles/app` that depends on `roles/common` gets a new image when `common` changes only if
`common` counts. Found from the files as written, without running anything: the dependencies, and the include_role /
import_role tasks that name their role plainly (not through a template). Each name is looked up where ansible-core
looks when the role runs (RoleDefinition: the role's own collection first, then the playbook's roles/, the roles
path, the directory of the role that names it, the playbook's directory); a name found nowhere is left out (the run
reports it, or never includes it)."""

from __future__ import annotations

import hashlib
import json
import os

from ansible.parsing.splitter import parse_kv
from ansible.parsing.utils.yaml import from_yaml

from ansible_collections.immutable.images.plugins.module_utils._common.inputs import tree_digest
from ansible_collections.immutable.images.plugins.plugin_utils._definition.role_modules import task_files, task_lists

_INCLUDES = frozenset(prefix + name for prefix in ("", "ansible.builtin.", "ansible.legacy.")
                      for name in ("include_role", "import_role"))


def digest(role_path, pulled):
    """The role's digest: of its directory alone when it pulls in no role (as before they counted), else of its
    directory and those of the roles it pulls in (`pulled`: pulled_in()), in the order they are found."""
    own = tree_digest(role_path)
    if not pulled:
        return own
    text = json.dumps({"role": own, "pulls_in": [tree_digest(path) for path in pulled]}, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pulled_in(role_path, find):
    """Paths of the roles `role_path` pulls in, theirs after them, each once, the role itself never. find(name,
    parent_path): the path of the role `name` as named by the role at parent_path, or None."""
    found, queue = [], [role_path]
    while queue:
        parent = queue.pop(0)
        for name in names(parent):
            path = find(name, parent)
            if path and path != role_path and path not in found:
                found.append(path)
                queue.append(path)
    return found


def names(role_path):
    """The role names a role's meta dependencies and include_role/import_role tasks give plainly, in that order."""
    found = []
    meta = _load(next((p for p in task_files(os.path.join(role_path, "meta")) if _is_main(p)), None), "dependencies")
    for dep in (meta.get("dependencies") if isinstance(meta, dict) else None) or []:
        found.append(dep.get("role") or dep.get("name") if isinstance(dep, dict) else dep)
    for sub in ("tasks", "handlers"):
        for path in task_files(os.path.join(role_path, sub)):
            for task in task_lists(_load(path, "_role")):
                found.append(_included_role(task))
    plain = []
    for name in found:
        if isinstance(name, str) and name.strip() and "{{" not in name and name not in plain:
            plain.append(name.strip())
    return plain


def collection_of(role_path):
    """'namespace.name' of the collection a role lives in (…/ansible_collections/<ns>/<name>/roles/<role>), or None."""
    parts = os.path.normpath(role_path).split(os.sep)
    if len(parts) >= 5 and parts[-2] == "roles" and parts[-5] == "ansible_collections":
        return "%s.%s" % (parts[-4], parts[-3])
    return None


def _included_role(task):
    for key in _INCLUDES & set(task):
        args = task[key]
        if isinstance(args, str):  # the key=value form: include_role: name=common
            args = parse_kv(args)
        return args.get("name") if isinstance(args, dict) else None
    return None


def _is_main(path):
    return os.path.basename(path) in ("main.yml", "main.yaml", "main")


def _load(path, needs):
    """The data of a YAML file that contains the text `needs` (most task files include no role: not parsed), else
    None."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return from_yaml(text, file_name=path) if needs in text else None
    except Exception:  # noqa: BLE001 - unreadable or not YAML: the role's run reports it, not this
        return None
