# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate the image definition and turn it into a build plan, on the controller.

Runs as an action plugin because it needs what only the controller has: the raw (untemplated)
definition variables, the templar, the roles path and the current directory. Templating happens
twice: first with placeholders for image_build_id/image_build_hash to compute the hash (so the
hash cannot depend on itself), then with the real values.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.immutable.images.plugins.module_utils import build_inputs, definition, naming
from ansible_collections.immutable.images.plugins.module_utils import built_artifacts, provenance, sbom
from ansible_collections.immutable.images.plugins.plugin_utils import mitogen

try:  # private, but the only way to ask where a collection role lives
    from ansible.utils.collection_loader._collection_finder import _get_collection_role_path
except ImportError:  # pragma: no cover
    _get_collection_role_path = None

# Stand-ins while the hash is computed; valid wherever the real values are (tags, names, repositories).
PLACEHOLDERS = {"image_build_id": "00000000t0000z-000000", "image_build_hash": "000000000000"}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset()

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        cwd = os.getcwd()
        spec = definition.load_definition_spec()
        raw = {k: task_vars[k] for k in spec if k in task_vars}

        params, errors = self._validated(raw, task_vars, PLACEHOLDERS, spec)
        if not errors:
            errors = definition.check_definition(params, cwd) + provenance.check_sign_config(params.get("image_sign"), cwd)
        roles = []
        if not errors:
            roles, errors = self._resolve_roles(params, cwd)
        if errors:
            return dict(result, failed=True, stage="validate", errors=errors,
                        msg=str(definition.DefinitionError(errors)))

        check_mode = bool(self._task.check_mode)
        workdir = None if check_mode else tempfile.mkdtemp(prefix="immutable-images-")
        archive = os.path.join(workdir, "files.tar") if workdir and params["image_files"] else None
        files_digest = build_inputs.write_files_archive(params["image_files"], archive or os.devnull, cwd)
        definition_input = definition.hash_input(params, params["image_targets"])
        build_hash = build_inputs.short_hash({
            "definition": definition_input,
            "files": files_digest,
            "roles": [{"name": r["name"], "digest": r["digest"], "vars": r["vars"]} for r in roles],
        })
        build_id = naming.new_build_id()

        real = {"image_build_id": build_id, "image_build_hash": build_hash}
        params, errors = self._validated(raw, task_vars, real, spec)
        if errors:  # only a definition that templates differently with the real ids gets here
            return dict(result, failed=True, stage="validate", errors=errors, msg=str(definition.DefinitionError(errors)))
        started = naming.iso_utc()
        revision = _git_revision(cwd)
        targets = definition.plan_targets(params, build_id, build_hash, cwd, started, revision)
        for t in targets:  # this action runs in a worker forked from ansible-playbook: its parent is the build
            t["labels"].update({naming.LABEL_CONTROLLER: socket.gethostname(),
                                naming.LABEL_CONTROLLER_PID: str(os.getppid())})
        selected = [t for t in targets if t["selected"]]
        for t in selected:
            t["base"], t["reuse"], t["reuse_note"] = built_artifacts.check_target(
                t, params["image_name"], build_hash, force=params["image_force"])
        if workdir and not any(not t["reuse"] for t in selected):
            shutil.rmtree(workdir)  # nothing to build: no builder needs the files or role task files
            workdir = archive = None
        sbom_dir = os.path.dirname(os.path.join(cwd, params["image_manifest"])) if params.get("image_manifest") else cwd
        for t in targets:
            name = "%s-%s-%s.cdx.json" % (params["image_name"], params["image_version"], t["name"])
            t["sbom_path"] = os.path.join(sbom_dir, name)
        scanner = sbom.find_scanner()
        to_build = [t for t in selected if not t["reuse"]]
        strategy, mitogen_note = mitogen.plan(to_build, params["image_mitogen"])
        build = {
            "id": build_id,
            "hash": build_hash,
            "name": params["image_name"],
            "version": str(params["image_version"]),
            "started": started,
            "started_ts": time.time(),
            "revision": revision,
            "workdir": workdir,
            "files_archive": archive,
            "files_digest": files_digest,
            "roles": [{k: r[k] for k in ("name", "path", "digest")} for r in roles],
            "role_tasks": _write_role_tasks(workdir, roles) if workdir else [],
            "verify_tasks": _write_verify_tasks(workdir, params["image_verify"], cwd) if workdir else None,
            "verify_runs": [e["run"] for e in params["image_verify"] if definition.verify_kind(e) == "run"],
            "gather_facts": params["image_gather_facts"],
            "on_error": params["image_on_error"],
            "manifest": os.path.join(cwd, params["image_manifest"]) if params.get("image_manifest") else None,
            "cache": params["image_cache"],
            "warm_interpreter": params["image_warm_interpreter"],
            "strategy": strategy,
            "mitogen_note": mitogen_note,
            "force": params["image_force"],
            "scanner": scanner[1] if scanner else None,
            "scan_fail_on": params["image_scan_fail_on"],
            "definition_digest": provenance.sha256_json(definition_input),
            "target_names": [t["name"] for t in selected],
            "sign": _sign_plan(params.get("image_sign"), cwd),
            "keep": {k: v for k, v in (params.get("image_keep") or {}).items() if v is not None},
            "targets": to_build,
            "reused_targets": [t for t in selected if t["reuse"]],
            "base_id_label": built_artifacts.LABEL_BASE_ID,
            "skipped_targets": [t["name"] for t in targets if not t["selected"]],
        }
        result.update(changed=False, msg=_summary(build), build=build)
        return result

    def _validated(self, raw, task_vars, ids, spec):
        """Template the raw definition with `ids` bound, then type-check it with the role's spec."""
        templar = self._templar.copy_with_new_env(available_variables=dict(task_vars, **ids))
        values = {}
        try:
            for key, value in raw.items():
                values[key] = _template_roles(templar, value) if key == "image_roles" else templar.template(value)
        except AnsibleError as e:
            return {}, ["%s: %s" % (key, e.message if hasattr(e, "message") else e)]
        checked = ArgumentSpecValidator(spec).validate(values)
        return checked.validated_parameters, list(checked.error_messages)

    def _resolve_roles(self, params, cwd):
        search = [os.path.join(cwd, p) for p in params["image_roles_path"]] + [os.path.join(cwd, "roles")]
        search += list(C.DEFAULT_ROLES_PATH or [])  # the templated value (~/.ansible/roles, ...)
        roles, errors = [], []
        for i, (name, role_vars) in enumerate(definition.role_entries(params)):
            path, include_name = _find_role(name, search, cwd)
            if not path:
                errors.append("image_roles[%d]: role %r not found (searched %s and installed collections)"
                              % (i, name, ", ".join(search)))
                continue
            roles.append({"name": name, "include": include_name, "path": path, "vars": role_vars,
                          "digest": build_inputs.tree_digest(path)})
        return roles, errors


def _template_roles(templar, value):
    """Template role names but pass role vars on untemplated: they are templated on the builder,
    where facts and the role's own variables are defined (like vars of a role in a play)."""
    if not isinstance(value, list):
        return templar.template(value)
    out = []
    for entry in value:
        if isinstance(entry, dict):
            entry = dict(entry)
            for key in ("role", "name"):
                if key in entry:
                    entry[key] = templar.template(entry[key])
            out.append(entry)
        else:
            out.append(templar.template(entry))
    return out


def _find_role(name, search, cwd):
    """(path, name to include) of a role given by name, path or collection FQCN.

    A role outside collections is included by its path relative to the current directory: ansible
    then names it by its basename in the output ("webapp : task"), as it does for roles in a play.
    """
    if name.count(".") == 2 and "/" not in name and _get_collection_role_path:
        found = _get_collection_role_path(name)
        if found:
            return found[1], name
    candidates = [os.path.join(cwd, os.path.expanduser(name))] if "/" in name or name.startswith(".") else \
        [os.path.join(base, name) for base in search]
    for path in candidates:
        if os.path.isdir(path):
            path = os.path.abspath(path)
            return path, os.path.relpath(path, cwd)
    return None, None


def _write_role_tasks(workdir, roles):
    """The task file that runs the roles in order (in a list, empty without roles): per role an include_role
    with the role's vars, wrapped in layer cache steps that only docker builders with image_cache on take,
    and the upload of the image files after the first role's lookup.

    Written as JSON (valid YAML) because role vars may hold templates that must reach the builder
    untouched, and JSON keeps every string exactly as given. The lookup receives the same vars as
    the role, so the cache key covers their templated values.
    """
    cached = "image_target.type == 'docker' and image_build.cache"
    tasks = []
    for i, role in enumerate(roles, 1):
        title = "Role %s (%d of %d)" % (role["name"], i, len(roles))
        include = {"name": title, "ansible.builtin.include_role": {"name": role["include"]},
                   "when": "not (provision__cache.hit | default(false))"}
        if "/" in role["include"]:
            # resolve by path only, not inside this collection's namespace
            include["collections"] = ["ansible.legacy"]
        if role["vars"]:
            include["vars"] = role["vars"]
        tasks += [
            {"name": title + ": look up its layer", "immutable.images.layer_cache": {
                "role": role["name"], "digest": role["digest"], "vars": role["vars"]},
             "register": "provision__cache", "when": cached},
        ]
        if i == 1:
            # The first role's layer holds the files: when it comes from the cache, the upload is not needed.
            tasks.append({"name": "Upload the image files as one archive",
                          "immutable.images.builder_files": {"src": "{{ image_build.files_archive }}"},
                          "when": "image_build.files_archive is not none and not (provision__cache.hit | default(false))"})
        tasks += [
            include,
            {"name": title + ": run its handlers", "ansible.builtin.meta": "flush_handlers"},
            {"name": title + ": store its layer", "immutable.images.layer_cache": {
                "state": "store", "key": "{{ provision__cache.key }}"},
             "when": cached + " and not provision__cache.hit"},
        ]
    if not tasks:
        return []
    # One file for every role: one include for the whole list costs less than one per role.
    path = os.path.join(workdir, "roles.yml")
    with open(path, "w") as f:
        json.dump(tasks, f, indent=1, default=str)
    return [path]


_TASK_KEYWORDS = {"name", "when", "vars", "register", "changed_when", "failed_when", "become", "become_user",
                  "environment", "args", "retries", "delay", "until", "loop", "loop_control", "tags", "no_log",
                  "ignore_errors", "check_mode", "diff", "timeout"}


def _write_verify_tasks(workdir, entries, cwd):
    """The image_verify checks that run on the builder, as one task file (None when there are none).

    Kept raw like role vars: the checks are templated on the builder, where the roles' facts are.
    """
    tasks = []
    for i, entry in enumerate(entries, 1):
        kind = definition.verify_kind(entry)
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
    with open(path, "w") as f:
        json.dump(tasks, f, indent=1, default=str)
    return path


def _sign_plan(image_sign, cwd):
    """image_sign with the key as an absolute path (a path, never the key), or None when nothing is signed."""
    if not image_sign or not image_sign.get("key"):
        return None
    return {"key": os.path.join(cwd, os.path.expanduser(image_sign["key"])), "password_env": image_sign.get("password_env"),
            "builder_id": image_sign.get("builder_id")}


def _git_revision(cwd):
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _summary(build):
    lines = ["%s %s, build %s, hash %s" % (build["name"], build["version"], build["id"], build["hash"])]
    for t in build["targets"] + build["reused_targets"]:
        if t["type"] == "docker":
            line = "  %s (docker): %s -> %s" % (t["name"], t["base_image"], ", ".join(t["image_refs"]))
        else:
            line = "  %s (ec2): %s in %s -> AMI %s in %s" % (
                t["name"], t.get("source_ami") or "filter %s" % t.get("source_ami_filter"), t["region"],
                t["ami_name"], ", ".join([t["region"]] + list(t.get("copy_to_regions") or [])))
        lines.append(line)
        if t.get("base"):
            lines.append("    base: %s" % t["base"])
        if t["reuse"]:
            lines.append("    already built by build %s: %s (image_force: true rebuilds)" % (
                t["reuse"].get("build_id"), t["reuse_note"]))
        elif t.get("reuse_note"):
            lines.append("    %s" % t["reuse_note"])
    if build["scanner"]:
        lines.append("  scan gate: %s, fails on findings of severity %s or higher" % (build["scanner"], build["scan_fail_on"]))
    else:
        lines.append("  scan gate: no vulnerability scanner (trivy, grype) on PATH, so none runs; SBOMs are still written")
    if build["mitogen_note"]:
        lines.append("  " + build["mitogen_note"])
    for name in build["skipped_targets"]:
        lines.append("  %s: not selected by image_only" % name)
    return "\n".join(lines)
