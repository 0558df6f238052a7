# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The task file that runs the image roles in order, as a play runs its roles: entries (image_build.role_tasks).

Per role, a block of two steps: the lookup of its layer (the provision role's tasks/role_lookup.yml, which first
stores the layer of the role before, if it ran, and for the first role uploads the image files on a miss) and the
role's include. Written here rather than in the provision role because what a play gives a role ranks by where it
is written, and a task's `vars:` must be a mapping in the file (it cannot come from a variable):

- the entry's `vars` are vars of the block: the role sees them as a play's roles: entry's vars, below what it sets
  itself (set_fact, include_vars, registered results), above its vars/main.yml and defaults;
- its role parameters (the entry's other keys, `- role: x` with `x__list:` beside it) are vars of the include, so
  include params: above the entry's vars and what the role sets, in its tasks, its dependencies' and its handlers, as
  a play ranks role parameters;
- its keywords (when, become, environment, ...) reach its tasks and handlers through the include's `apply`, as a
  play gives a roles: entry's keywords to them; only those the entry has (each costs a template at every include).

Every value stays as written in the definition (untemplated, trusted as the definition is; a vault-encrypted one
encrypted: task_file.py): it is templated on the builder, where the facts and the role's own variables are.
"""

from __future__ import annotations

import os

from ansible_collections.immutable.images.plugins.plugin_utils._definition import task_file

# The role's layer was found: by its lookup, or, for the first roles, by the step before the roles (main.yml).
_HIT = "provision__cache.hit | default(provision__role.number <= provision__expected.roles | default(0))"


def write(workdir, roles, load_first, public):
    """The path of the task file that runs `roles` (the plan's resolved image roles) in order, in a list; empty
    without roles. `public`: whether later roles see a role's defaults and vars, as a play's roles: entries (unless
    private_role_vars). With `load_first` (a role uses a variable or handler only a later role defines: later_roles),
    the file first loads every role without running it, as a play loads its roles."""
    tasks = [_role_block(role, i, len(roles), public) for i, role in enumerate(roles, 1)]
    if not tasks:
        return []
    if load_first:
        tasks.insert(0, _load_every_role(roles))
    path = os.path.join(workdir, "roles.yml")
    task_file.write(path, tasks)
    return [path]


def _role_block(role, number, count, public):
    title = "Role %s (%d of %d)" % (role["name"], number, count)
    keywords = role.get("keywords") or {}
    params = role.get("params") or {}
    # what role_lookup.yml and the include's templates read of the role's entry in the plan
    plan = {"name": role["name"], "digest": role["digest"], "vars": role["vars"], "tags": role["tags"],
            "keywords": keywords, "number": number, "first": number == 1, "title": title}
    if params:
        plan["params"] = params  # in its layer key
    include = {"name": title,
               "ansible.builtin.include_role": {"name": role["include"], "public": public,
                                                "apply": _apply(keywords)},
               # resolve by FQCN, or by path and the roles path, never inside this collection's namespace
               "collections": ["ansible.legacy"],
               # our steps are tagged always, so that --tags/--skip-tags select among the roles' tasks only; the
               # entry's tags reach the role's tasks through apply (a dynamic include's tags are the include's alone)
               "tags": ["always"]}
    if params:
        include["vars"] = params
    # not tagged: a tag of the block would reach the role's tasks
    return {"name": title + ": its steps",
            "block": [{"name": "Look up the role's layer", "ansible.builtin.import_tasks": "role_lookup.yml"},
                      include],
            "vars": dict(role["vars"] or {}, provision__role=plan)}


def _apply(keywords):
    """The include's apply: what each task and handler of the role gets, templated once, when the role is included.
    A role whose layer came from the cache is still included, with its tasks left out (tagged never as well: Ansible
    leaves them out instead of starting each one to skip it; the condition skips those that still come, tagged always
    or named by --tags), so that later roles see its defaults and vars and can notify its handlers. Handlers are not
    flushed: they run once, at the end of provisioning, as at the end of a play."""
    apply = {
        "environment": "{{ provision__build_env | combine(provision__role.keywords.environment) }}"
                       if "environment" in keywords else "{{ provision__build_env }}",
        # the entry's `when` after the cache's condition
        "when": "{{ [not (%s)] + provision__role.keywords.when }}" % _HIT if "when" in keywords
                else "{{ not (%s) }}" % _HIT,
        "tags": "{{ provision__role.tags + (['never'] if %s else []) }}" % _HIT,
    }
    apply.update((key, "{{ provision__role.keywords.%s }}" % key)
                 for key in keywords if key not in ("environment", "when"))
    return apply


def _load_every_role(roles):
    """As a play loads its roles: every role's defaults and vars are there from the first role on. Their tasks are
    left out (tagged never; those that still come, tagged always or named by --tags, are skipped until the first
    role's lookup registered provision__cache). Their handlers stay runnable: a notification is of the last handler
    loaded by that name, a role's own include's once it ran."""
    return {"name": "Load every image role before the first runs, as a play does",
            "ansible.builtin.include_role": {"name": "{{ provision__role_first.include }}", "public": True,
                                             "apply": {"tags": ["never"], "when": "provision__cache is defined"}},
            "loop": [{"name": role["name"], "include": role["include"]} for role in roles],
            "loop_control": {"loop_var": "provision__role_first", "label": "{{ provision__role_first.name }}"},
            "collections": ["ansible.legacy"], "tags": ["always"]}
