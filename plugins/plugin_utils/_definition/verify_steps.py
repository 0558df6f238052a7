# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""image_verify: the kinds of its entries and their checks, and what the plan makes of them. A run test ({run: ...})
is templated on the controller and runs there at commit time; the other checks (a task, a role, a task file) run on
the builder after the roles, from one task file, templated there as role vars are."""

from __future__ import annotations

import os

from ansible_collections.immutable.images.plugins.plugin_utils._definition import task_file
from ansible_collections.immutable.images.plugins.plugin_utils._definition import as_written
from ansible_collections.immutable.images.plugins.plugin_utils._definition.target_checks import env_name_errors, value_kind


VERIFY_RUN_KEYS = {"port", "http", "command", "wait_for_command", "timeout", "env", "network_mode"}


def verify_kind(entry):
    """'run' (docker run test), 'role', 'tasks' (a task file) or 'task' (one inline task)."""
    for kind in ("run", "role", "tasks"):
        if kind in entry:
            return kind
    return "task"


def entry_errors(i, entry, cwd):
    """The errors of the entry image_verify[i] (relative paths from cwd)."""
    where = "image_verify[%d]" % i
    if not isinstance(entry, dict) or not entry:
        return ["%s: give a task, {role: ...}, {tasks: file.yml} or {run: {...}}, got %r" % (where, entry)]
    kind = verify_kind(entry)
    if kind == "run":
        run = entry["run"]
        if not isinstance(run, dict):
            return ["%s.run: must be a dict, got %s" % (where, value_kind(run))]
        unknown = set(run) - VERIFY_RUN_KEYS
        if unknown:
            return ["%s.run: unknown keys %s (known: %s)" % (where, ", ".join(sorted(unknown)), ", ".join(sorted(VERIFY_RUN_KEYS)))]
        if not (run.get("port") or run.get("command") or run.get("wait_for_command")):
            return ["%s.run: give a port to probe or a command to run in the test container" % where]
        if run.get("http") and not run.get("port"):
            return ["%s.run.http: needs run.port" % where]
        if run.get("env") is not None and not isinstance(run["env"], dict):
            return ["%s.run.env: must be a dict of variable names to values, got %s" % (where, value_kind(run["env"]))]
        # the run test's container gets them as text, as the image's own environment (as_written)
        return ["%s.run.env: %s" % (where, e) for e in env_name_errors(run.get("env") or {})] + [
            e for k, v in (run.get("env") or {}).items()
            for e in [as_written.text_value_error("%s.run.env.%s" % (where, k), v, shown=False)] if e]
    elif kind == "tasks":
        path = os.path.join(cwd, str(entry["tasks"]))
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            return ["%s.tasks: %s is not a readable file" % (where, entry["tasks"])]
    elif kind == "role" and not isinstance(entry["role"], str):
        return ["%s.role: must be a role name, got %s" % (where, value_kind(entry["role"]))]
    return []


def template(templar, value):
    """Template only the run tests (they run from the controller at commit time); checks that run on the
    builder stay raw and are templated there, where the roles' facts are (as documented)."""
    if not isinstance(value, list):
        return templar.template(value)
    return [templar.template(e) if isinstance(e, dict) and verify_kind(e) == "run" else e for e in value]


_TASK_KEYWORDS = {"name", "when", "vars", "register", "changed_when", "failed_when", "become", "become_user",
                  "environment", "args", "retries", "delay", "until", "loop", "loop_control", "tags", "no_log",
                  "ignore_errors", "check_mode", "diff", "timeout"}


def write_tasks(workdir, entries, cwd):
    """The image_verify checks that run on the builder, as one task file (None when there are none).

    Kept raw like role vars: the checks are templated on the builder, where the roles' facts are.
    """
    tasks = []
    for i, entry in enumerate(entries, 1):
        kind = verify_kind(entry)
        if kind == "run":
            continue  # a docker run test of the committed candidate, done at commit time
        if kind == "role":
            task = {"name": "Verify %d: role %s" % (i, entry["role"]),
                    "ansible.builtin.include_role": {"name": entry["role"]}}
            if entry.get("vars"):
                task["vars"] = entry["vars"]
        elif kind == "tasks":
            task = {"name": "Verify %d: %s" % (i, entry["tasks"]),
                    "ansible.builtin.include_tasks": os.path.join(cwd, str(entry["tasks"]))}
        else:
            action = next((k for k in entry if k not in _TASK_KEYWORDS), "check")
            task = dict(entry, name="Verify %d: %s" % (i, entry.get("name") or action))
        tasks.append(task)
    if not tasks:
        return None
    path = os.path.join(workdir, "verify.yml")
    task_file.write(path, tasks)
    return path
