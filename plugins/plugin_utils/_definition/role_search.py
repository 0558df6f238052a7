# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the roles of a build are, found as ansible-core finds them when the roles' play runs: the roles of
image_roles (find_role) and the roles they pull in (pulled_in_finder, for role_dependencies). Their digests go into
the build hash, so a role found elsewhere than where the play will find it would hash the wrong files."""

from __future__ import annotations

import os

from ansible import constants as C

from ansible_collections.immutable.images.plugins.plugin_utils._definition import role_dependencies

try:  # private, but the only way to ask where a collection role lives
    from ansible.utils.collection_loader._collection_finder import _get_collection_role_path
except ImportError:  # pragma: no cover
    _get_collection_role_path = None


def find_role(name, search, cwd):
    """(path, name to include) of a role given by name, path or collection FQCN."""
    if name.count(".") == 2 and "/" not in name and _get_collection_role_path:
        found = _get_collection_role_path(name)
        if found:
            return found[1], name
    candidates = [os.path.join(cwd, os.path.expanduser(name))] if "/" in name or name.startswith(".") else \
        [os.path.join(base, name) for base in search]
    for path in candidates:
        if os.path.isdir(path):
            path = os.path.abspath(path)
            return path, _include_name(name, path, cwd)
    return None, None


def _include_name(name, path, cwd):
    """The name a role found at `path` is included by: the name itself when ansible-core finds that role by it, as it
    finds a play's `roles:` entry (the output and role_name then say `webapp`, not a path); else its path relative to
    the current directory (a role of image_roles_path that another of the same name shadows, or of a build_all
    definition's image_roles_path, which is not in the roles path; or a path as given), which names it by that path."""
    if "/" in name or name.startswith("."):
        return os.path.relpath(path, cwd)
    # RoleDefinition._load_role_path's order in the roles' play, whose base directory is the project directory
    for base in [os.path.join(cwd, "roles")] + list(C.DEFAULT_ROLES_PATH or []) + [cwd]:
        candidate = os.path.join(base, name)
        if os.path.exists(candidate):
            return name if os.path.realpath(candidate) == os.path.realpath(path) else os.path.relpath(path, cwd)
    return os.path.relpath(path, cwd)


def pulled_in_finder(basedir):
    """role_dependencies' find(name, parent): where ansible-core looks for a role that another role names when that
    role runs (RoleDefinition._load_role_path), `basedir` being the base directory of the roles' play."""
    def find(name, parent):
        fqcn = None
        if name.count(".") == 2 and "/" not in name:
            fqcn = name
        elif "." not in name and "/" not in name and role_dependencies.collection_of(parent):
            fqcn = "%s.%s" % (role_dependencies.collection_of(parent), name)  # a role of the same collection first
        found = _get_collection_role_path(fqcn) if fqcn and _get_collection_role_path else None
        if found:
            return os.path.abspath(found[1])
        search = [os.path.join(basedir, "roles")] + list(C.DEFAULT_ROLES_PATH or []) + [os.path.dirname(parent), basedir]
        for base in search:
            path = os.path.join(base, os.path.expanduser(name))
            if os.path.isdir(path):
                return os.path.abspath(path)
        return None
    return find
