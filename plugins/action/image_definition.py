# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate the image definition and turn it into a build plan, on the controller.

Runs as an action plugin because it needs what only the controller has: the raw (untemplated)
definition variables, the templar, the roles path and the current directory. Templating happens
twice: first with placeholders for image_build_id/image_build_hash to compute the hash (so the
hash cannot depend on itself), then with the real values.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

from ansible import constants as C
from ansible import context
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.loader import get_all_plugin_loaders
from ansible.utils.vars import load_extra_vars

from ansible_collections.immutable.images.plugins.module_utils._artifacts import reuse as built_artifacts
from ansible_collections.immutable.images.plugins.module_utils._common import inputs as build_inputs, naming
from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import sbom
from ansible_collections.immutable.images.plugins.plugin_utils._definition import builder_variables, definition
from ansible_collections.immutable.images.plugins.plugin_utils._definition import later_roles, role_dependencies, role_search
from ansible_collections.immutable.images.plugins.plugin_utils._definition import as_written, role_steps, role_syntax
from ansible_collections.immutable.images.plugins.plugin_utils._definition import verify_steps
from ansible_collections.immutable.images.plugins.plugin_utils._docker import layer_cache
from ansible_collections.immutable.images.plugins.module_utils._docker import engine_pool
from ansible_collections.immutable.images.plugins.module_utils._artifacts import provenance
from ansible_collections.immutable.images.plugins.module_utils._docker.engine import is_remote
from ansible_collections.immutable.images.plugins.module_utils._docker.builder import BUILD_TMPFS
from ansible_collections.immutable.images.plugins.module_utils._docker.client import RefusedEngine
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionModuleBase

# Stand-ins while the hash is computed; valid wherever the real values are (tags, names, repositories).
PLACEHOLDERS = {"image_build_id": "00000000t0000z-000000", "image_build_hash": "000000000000"}


class ActionModule(ActionModuleBase):
    # One option of its own (start_idle_builders): the definition is read from the variables (image_*), validated by
    # _validated below.

    def run_module(self, params, task_vars, result):
        start_idle = params["start_idle_builders"]
        cwd = os.getcwd()
        spec = definition.load_definition_spec()
        raw = {k: task_vars[k] for k in spec if k in task_vars}

        params, errors = self._validated(raw, task_vars, PLACEHOLDERS, spec)
        if not errors:
            errors = definition.check_definition(params, cwd) + provenance.check_sign_config(params.get("image_sign"), cwd)
        if not errors:
            errors = _check_files_outside_tmpfs(params)
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
        play = _play_settings(params["image_gather_facts"], self._run_variables(task_vars, params),
                              build_inputs.directories_digest(cwd, _project_directories()))
        definition_input = definition.hash_input(params, params["image_targets"])
        hash_input = {
            "definition": definition_input,
            "files": files_digest,
            "roles": [_role_hash_input(r) for r in roles],
            # what changes the roles' behaviour (image_gather_facts is an operational key of the definition,
            # but the facts it resolves to are not: a role reads them)
            "play": play,
        }
        if start_idle:  # the roles in a playbook of one's own: its plays on the builders change the image too
            hash_input["playbooks"] = _playbooks_digest(context.CLIARGS.get("args") or (), cwd)
        build_hash = build_inputs.short_hash(hash_input)
        build_id = naming.new_build_id()

        real = {"image_build_id": build_id, "image_build_hash": build_hash}
        params, errors = self._validated(raw, task_vars, real, spec)
        if errors:  # only a definition that templates differently with the real ids gets here
            return dict(result, failed=True, stage="validate", errors=errors, msg=str(definition.DefinitionError(errors)))
        started = naming.iso_utc()
        revision = _git_revision(cwd)
        targets = definition.plan_targets(params, build_id, build_hash, cwd, started, revision)
        selected = [t for t in targets if t["selected"]]
        pool = engine_pool.normalize(params.get("image_engines"), cwd)
        client_for = _clients()
        # docker targets without their own docker_host go to the pool's engines (placed when their builders start)
        pooled = [t for t in selected if pool and t["type"] == "docker" and not t["docker_host"]]
        try:
            reachable, skipped = engine_pool.probe(pool) if pooled else ([], [])
        except RefusedEngine as e:
            return _refused(result, workdir, "image_engines: %s" % e)
        for t in selected:
            if t not in pooled:
                try:
                    t["base"], t["reuse"], t["reuse_note"] = built_artifacts.check_target(
                        t, params["image_name"], build_hash, force=params["image_force"], docker_client_for=client_for)
                except RefusedEngine as e:
                    return _refused(result, workdir, "target %s: %s" % (t["name"], e))
        engine_notes = [engine_pool.skipped_message(e, reason) for e, reason in skipped]
        if pooled and not reachable:
            if workdir:
                shutil.rmtree(workdir)
            return dict(result, failed=True, stage="launch", msg="image_engines: no engine of the pool answers: %s" % "; ".join(
                "%s: %s" % (e["docker_host"], reason) for e, reason in skipped))
        facts_deferred = _facts_deferred(play["facts"], params["image_cache"], raw, roles)
        for t in selected:
            if t in pooled:
                _check_pooled(t, reachable, params["image_name"], build_hash, params["image_force"])
                continue
            if not t["reuse"]:
                if workdir and params["image_cache"] and (play["facts"] is None or facts_deferred):
                    t["start_layer"], t["start_roles"], t["start_key"] = _start_layer(
                        t, params["image_name"], raw, roles, files_digest, play, client_for)
                    if play["facts"] is not None and t["start_roles"] < len(roles):
                        # facts are gathered on the base image at the first role that runs: a builder that starts at
                        # a layer would have to go back for them, so it does only when no role is expected to run
                        t["start_layer"], t["start_roles"], t["start_key"] = None, 0, None
        if workdir and not any(not t["reuse"] for t in selected):
            shutil.rmtree(workdir)  # nothing to build: no builder needs the files or role task files
            workdir = archive = None
        sbom_dir = os.path.dirname(os.path.join(cwd, params["image_manifest"])) if params.get("image_manifest") else cwd
        for t in targets:
            name = "%s-%s-%s.cdx.json" % (params["image_name"], params["image_version"], t["name"])
            t["sbom_path"] = os.path.join(sbom_dir, name)
        scanner = sbom.find_scanner()
        to_build = [t for t in selected if not t["reuse"]]
        # private_role_vars: a play's roles do not see each other's variables either
        used_early = later_roles.used_before_defined(roles) if workdir and not C.DEFAULT_PRIVATE_ROLE_VARS else []
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
            "used_before_defined": used_early,
            "role_tasks": role_steps.write(workdir, roles, bool(used_early), not C.DEFAULT_PRIVATE_ROLE_VARS)
            if workdir else [],
            "verify_tasks": verify_steps.write_tasks(workdir, params["image_verify"], cwd) if workdir else None,
            # without their env (it may hold secrets): the commit task reads it from image_verify, into a no_log option
            "verify_runs": [dict(e["run"], env=sorted(e["run"].get("env") or {})) for e in params["image_verify"]
                            if verify_steps.verify_kind(e) == "run"],
            "gather_facts": params["image_gather_facts"] is not False,
            "facts": play["facts"],
            "facts_deferred": facts_deferred,
            "play": play,
            "on_error": params["image_on_error"],
            "manifest": os.path.join(cwd, params["image_manifest"]) if params.get("image_manifest") else None,
            "cache": params["image_cache"],
            "warm_interpreter": params["image_warm_interpreter"],
            "controller_modules": _controller_modules(selected, params.get("image_keep")),
            "force": params["image_force"],
            "scanner": scanner[1] if scanner else None,
            "scan_fail_on": params["image_scan_fail_on"],
            "definition_digest": provenance.sha256_json(definition_input),
            "target_names": [t["name"] for t in selected],
            "sign": _sign_plan(params.get("image_sign"), cwd),
            "keep": {k: v for k, v in (params.get("image_keep") or {}).items() if v is not None},
            "targets": to_build,
            # every engine a builder can be on, for the cleanup and the build guard (a pooled one: every engine that answers)
            "engines": definition.engines([dict(t, **(_pool_engine(e) if t.get("engine_pool") else {}))
                                           for t in to_build for e in t.get("engine_pool") or [t]]),
            # ... and the engines of the targets outside the pool: with the engines the pool's builders went to, the
            # engines of the build once they started (launch narrows `engines` to them)
            "engines_fixed": definition.engines([t for t in to_build if not t.get("engine_pool")]),
            "engine_notes": engine_notes,
            "reused_targets": [t for t in selected if t["reuse"]],
            "base_id_label": built_artifacts.LABEL_BASE_ID,
            "skipped_targets": [t["name"] for t in targets if not t["selected"]],
        }
        # no play but the provision role's runs on the builders (build_image, build_all): the artifact may be made from
        # the last layer instead of the builder, which may then stay at an earlier one (layer_cache sync)
        build["provision_only"] = not start_idle
        build["roles_to_run"] = _expected_runs(to_build, roles, build["verify_tasks"], start_idle)
        for t in to_build:
            # before anything starts: a base without Python fails only at the first module (none runs on a builder
            # that is not started; a builder of the pool was looked at where it may go)
            if t["type"] == "docker" and t.get("start_builder") and not t.get("engine_pool"):
                t["python_interpreter"], t["python_note"] = built_artifacts.python_in_base(
                    t, docker_client_for=client_for, discover=C.INTERPRETER_PYTHON_FALLBACK)
                t["platform_note"] = built_artifacts.platform_note(t, docker_client_for=client_for)
        if params.get("image_mitogen") is not None:  # retired: a definition that still sets it builds as before
            result["deprecations"] = [{"msg": "image_mitogen has no effect: the Mitogen path was removed (the builders' own "
                                              "session is faster); remove the variable from the definition",
                                       "version": "2.0.0", "collection_name": "immutable.images"}]
        warnings = definition.definition_warnings(params)
        warnings += engine_notes
        if warnings:
            result["warnings"] = warnings
        result.update(changed=False, msg=_summary(build), build=build)
        return result

    def _validated(self, raw, task_vars, ids, spec):
        """Template the raw definition with `ids` bound, then type-check it with the role's spec."""
        templar = self._templar.copy_with_new_env(available_variables=dict(task_vars, **ids))
        values = {}
        try:
            for key, value in raw.items():
                if key == "image_roles":
                    values[key] = _template_roles(templar, value)
                elif key == "image_verify":
                    values[key] = verify_steps.template(templar, value)
                else:
                    values[key] = templar.template(value)
        except AnsibleError as e:
            message = str(e.message if hasattr(e, "message") else e)
            return {}, ["%s: %s%s" % (key, message, as_written.packer_function_hint(message))]
        checked = ArgumentSpecValidator(spec).validate(values)
        params = checked.validated_parameters
        if "image_gather_facts" in params:  # raw in the spec: text is read here, as a play reads it
            params["image_gather_facts"] = definition.gather_facts_setting(params["image_gather_facts"])
        # as written: the spec has made a string a list by then
        return params, list(checked.error_messages) + as_written.errors(values.get("image_targets"))

    def _run_variables(self, task_vars, params):
        """run_variables_digest of this run: its extra variables, the variables its builders will get from the
        inventory (of their groups, and each builder's own host_vars/) and, under build_all, the other variables of the
        definition file its inventory read (image_definition_file). From the lowest precedence to the highest, as the
        builders see them."""
        variable_manager = self._task.get_variable_manager()
        if variable_manager is None:  # every task of a play is loaded with one
            raise AnsibleError("the plan cannot see the run's inventory variables (the task has no variable manager)")
        groups = builder_variables.builder_groups(task_vars)
        # the project directory: the base directory of the roles' play (lookup/build_strategy)
        cwd = os.getcwd()
        sources = [builder_variables.inventory_variables(variable_manager, groups, cwd), load_extra_vars(self._loader)]
        if task_vars.get("image_definition_file"):
            sources.insert(0, self._loader.load_from_file(task_vars["image_definition_file"]))
        # every target's builder, selected or not (image_only leaves the hash as it is)
        hosts = [naming.builder_host(params["image_name"], t["name"]) for t in params["image_targets"]]
        own = builder_variables.own_variables(variable_manager, hosts, groups, cwd)
        return definition.run_variables_digest(*sources, builders=own)

    def _resolve_roles(self, params, cwd):
        search = [os.path.join(cwd, p) for p in params["image_roles_path"]] + [os.path.join(cwd, "roles")]
        # the templated value (~/.ansible/roles, ...), which the build_strategy lookup began with ./roles
        search += [path for path in C.DEFAULT_ROLES_PATH or [] if path not in search]
        roles, errors, parsed = [], [], set()
        find = role_search.pulled_in_finder(cwd)  # the base directory of the roles' play (lookup/build_strategy)
        entries = params.get("image_roles") or []
        for i, (name, role_vars, role_params) in enumerate(definition.role_entries(params)):
            path, include_name = role_search.find_role(name, search, cwd)
            if not path:
                errors.append("image_roles[%d]: role %r not found (searched %s and installed collections)"
                              % (i, name, ", ".join(search)))
                continue
            keywords = definition.role_keywords(entries[i])
            pulled = role_dependencies.pulled_in(path, find)
            # as a play parses its roles before it runs any: a broken file is refused before a builder starts
            unparsed = [p for p in [path] + pulled if p not in parsed]
            parsed.update(unparsed)
            errors += ["image_roles[%d] (%s): %s" % (i, name, problem) for problem in role_syntax.problems(unparsed, cwd)]
            digest = role_dependencies.digest(path, pulled)
            if keywords:  # they change what the role does: in its digest, so in the build hash and its layer key
                digest = provenance.sha256_json({"role": digest, "keywords": keywords})
            roles.append({"name": name, "include": include_name, "path": path, "vars": role_vars, "params": role_params,
                          "tags": definition.role_tags(entries[i]), "keywords": keywords, "digest": digest,
                          "pulled_in": pulled})
        return roles, errors


def _controller_modules(targets, keep):
    """Whether the build runs modules on the controller as modules, which the controller's warm interpreter is for.
    A docker build otherwise runs them in its tasks' workers (builder, commit, clean-up) or on the builder."""
    if any(v is not None for v in (keep or {}).values()):
        return True  # image_retention
    return any(t["type"] != "docker" or t.get("push_refs") or t.get("save") is not None
               or (t["reuse"] or {}).get("missing_refs") for t in targets)


def _expected_runs(to_build, roles, verify_tasks, start_idle):
    """What the plan expects to run on the builders, from the layers they start at (a guess, as start_layer is):
    marks each target `idle` when nothing is - its builder starts at its last role's layer, with no check to run on
    it and no squash (which reads the packages on it) - and returns the paths of the roles some builder is expected
    to run. An idle builder's session starts only if a step needs it; a role that runs after all has its modules'
    payloads built on first use.

    Without start_idle (no play but the provision role's runs on the builders: the guess is then what the layer
    lookups would find), an idle target whose layer's package inventory is recorded gets `start_builder` false: its
    builder is created at that layer and never started."""
    for t in to_build:
        t["idle"] = t["type"] == "docker" and bool(roles) and t.get("start_roles") == len(roles) \
            and verify_tasks is None and not t.get("squash")
        if t["type"] == "docker":
            t["start_builder"] = start_idle or not t["idle"] or layer_cache.read_inventory(t["start_layer"]) is None
    first_to_run = min([t.get("start_roles") or 0 for t in to_build], default=len(roles))
    return [r["path"] for r in roles[first_to_run:]]


def _refused(result, workdir, msg):
    """The plan fails before anything is started (an engine nothing may be built on): its directory goes too."""
    if workdir:
        shutil.rmtree(workdir)
    return dict(result, failed=True, stage="validate", msg=msg)


def _pool_engine(engine):
    return {"docker_host": engine["docker_host"], "tls": engine["tls"]}


def _check_pooled(target, reachable, image_name, build_hash, force):
    """The reuse check of a target of the pool on every engine that answers: an artifact built from the same
    inputs on any of them is reused there; otherwise the target keeps the pool and is placed at launch."""
    found = None
    for engine, client in reachable:
        client.api.timeout = 60  # the probe's few seconds were for the connection
        on_engine = dict(target, **_pool_engine(engine))
        base, reuse, note = built_artifacts.check_target(on_engine, image_name, build_hash, force=force,
                                                         docker_client_for=lambda _host, _tls=None, c=client: c)
        if reuse:
            target.update(_pool_engine(engine), remote_engine=is_remote(engine["docker_host"]), base=base, reuse=reuse,
                          reuse_note=note)
            return
        if found is None or (found[0] is None and base):
            found = (base, note, client)
    target["base"], target["reuse"], target["reuse_note"] = found[0], None, found[1]
    target["engine_pool"] = [engine for engine, _client in reachable]
    target["python_interpreter"], target["python_note"] = built_artifacts.python_in_base(
        target, docker_client_for=lambda _host, _tls=None, c=found[2]: c, discover=C.INTERPRETER_PYTHON_FALLBACK)
    target["platform_note"] = built_artifacts.platform_note(target, docker_client_for=lambda _host, _tls=None, c=found[2]: c)


def _clients():
    """docker_client_for of the plan's engine look-ups: one client per engine and TLS settings (each new one asks the
    engine its API version first)."""
    clients = {}

    def client_for(docker_host, tls=None):
        key = (docker_host, json.dumps(tls, sort_keys=True))
        if key not in clients:
            clients[key] = built_artifacts.docker_client(docker_host, tls)
        return clients[key]
    return client_for


def _start_layer(target, image_name, raw, roles, files_digest, play, client_for):
    """(layer, roles, key): the layer a docker target's builder starts from, how many roles it holds and its key, the
    deepest layer of the cache its lookups are expected to find (layer_cache.expected_layer), or (None, 0, None): the
    base image.

    Guessed only where the plan computes the keys the lookups will, and where starting at a layer changes nothing but
    the time: one engine, a base image that is not pulled again, and a build_env without templates (it is the lookups'
    task environment; a playbook of one's own that sets `environment` around the provision role makes the guess miss,
    and the builder is swapped, as without it). Facts (a play gathers them on the base image) are the caller's
    concern."""
    entries = raw.get("image_targets")
    entry = entries[target["definition_index"]] if isinstance(entries, list) else None
    if target["type"] != "docker" or target.get("engine_pool") or not target.get("base") or target.get("pull") == "always" \
            or not isinstance(entry, dict) or not isinstance(entry.get("build_env") or {}, dict) \
            or _holds_template(entry.get("build_env")):
        return None, 0, None
    environment = {str(k): str(v) for k, v in (entry.get("build_env") or {}).items()}
    keyed = [{"name": r["name"], "digest": r["digest"], "tags": r["tags"],
              "vars": None if _holds_template(r["vars"]) else r["vars"] or {},
              "params": None if _holds_template(r["params"]) else r["params"]} for r in roles]
    try:
        client = client_for(target.get("docker_host"), target.get("tls"))
        return layer_cache.expected_layer(client, image_name, target["base"], files_digest, keyed, play, environment,
                                          target["name"])
    except Exception:  # noqa: BLE001 - a guess: the builder starts from the base image, and the lookups find the layers
        return None, 0, None


def _check_files_outside_tmpfs(params):
    """image_files cannot go where docker builders mount a tmpfs: the engine's archive upload writes under
    the mount, where the roles cannot see the files and the committed image would keep them."""
    if not any(t.get("type") == "docker" for t in params.get("image_targets") or []):
        return []
    errors = []
    for i, entry in enumerate(params.get("image_files") or []):
        dest = os.path.normpath("/" + str(entry.get("dest") or "").lstrip("/"))
        for mount in sorted(BUILD_TMPFS) + ["/var/run"]:
            if dest == mount or dest.startswith(mount + "/"):
                errors.append("image_files[%d].dest: %s is under %s, a tmpfs in docker builders (the build's runtime "
                              "state never reaches the image); upload to another directory" % (i, entry.get("dest"), mount))
                break
    return errors


def _project_directories():
    """The directories of the project (the roles' play's base directory) whose files a role uses as a playbook there
    would, without a path: where ansible-core looks after the role's own directories for a relative `src` of copy,
    template, script or unarchive, for include_vars and the file and template lookups (files, templates, vars), and
    the plugin directories it loads beside a playbook (library, filter_plugins, ...)."""
    return ["files", "templates", "vars"] + [loader.subdir for _name, loader in get_all_plugin_loaders() if loader.subdir]


def _role_hash_input(role):
    """What of a resolved image role goes into the build hash: its role parameters only when it has any, so that the
    hash of a definition without them stays what it was."""
    data = {"name": role["name"], "digest": role["digest"], "vars": role["vars"], "tags": role["tags"]}
    if role["params"]:
        data["params"] = role["params"]
    return data


def _playbooks_digest(playbooks, cwd):
    """A sha256 over the playbook files ansible-playbook runs (their names as given and their contents; a name that is
    not a file, a collection's playbook, by its name): the roles in a playbook of one's own, whose plays of its own on
    the builders, before or after the provision role, make the image as much as the roles do. Only a layer of the layer
    cache is the roles' alone (a builder changed before its roles stores none: action/layer_cache.py)."""
    hasher = hashlib.sha256()
    for name in playbooks:
        hasher.update(json.dumps(str(name)).encode())
        try:
            with open(os.path.join(cwd, str(name)), "rb") as f:
                hasher.update(hashlib.sha256(f.read()).digest())
        except OSError:
            pass
    return hasher.hexdigest()


def _play_settings(gather_facts, run_variables=None, project=None):
    """What decides how the roles behave, besides the roles themselves: the facts, the tags selected on the
    command line, (`vars`, only when there are any) the digest of the run's variables (run_variables_digest) and
    (`project`, only when the project has any of them) the digest of the project's directories a role can use
    (_project_directories).
    facts is None (gather nothing) or the arguments of the gather_facts task: {} gathers what a play with
    gather_facts: true gathers (older ansible-core: the ansible.cfg gather settings, as a play)."""
    if gather_facts is False:
        facts = None
    elif gather_facts is True:
        facts = {}
        for option, setting in (("gather_subset", "DEFAULT_GATHER_SUBSET"), ("gather_timeout", "DEFAULT_GATHER_TIMEOUT"),
                                ("fact_path", "DEFAULT_FACT_PATH")):
            value = getattr(C, setting, None)  # gone from ansible-core 2.18 on: the setup module's defaults apply
            if value is not None:
                facts[option] = value
    else:
        facts = {"gather_subset": [str(v) for v in gather_facts]}
    cli = context.CLIARGS
    play = {"facts": facts,
            "tags": sorted(set(cli.get("tags") or ())) or ["all"],
            "skip_tags": sorted(set(cli.get("skip_tags") or ()))}
    if run_variables:  # absent without any: the hashes of builds that have none stay as they were
        play["vars"] = run_variables
    if project:  # the same
        play["project"] = project
    return play


def _facts_deferred(facts, cache, raw, roles):
    """Whether docker builders gather the facts at the first role whose layer is not in the cache (in its layer
    lookup, on the builder as launched, where a play gathers them) instead of before the roles: a build whose every
    layer is cached gathers none. Only when nothing that is templated on the builder before that role could refer
    to facts: no role entry's vars, target build_env or builder-side image_verify check holds a template."""
    if facts is None or not cache or not roles:
        return False
    targets, verify = raw.get("image_targets"), raw.get("image_verify") or []
    builder_side = [[r["vars"], r["params"]] for r in roles]
    builder_side += [t.get("build_env") if isinstance(t, dict) else t for t in targets] \
        if isinstance(targets, list) else [targets]
    builder_side += [e for e in verify if not (isinstance(e, dict) and verify_steps.verify_kind(e) == "run")] \
        if isinstance(verify, list) else [verify]
    return not _holds_template(builder_side)


def _holds_template(value):
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_holds_template(k) or _holds_template(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_template(v) for v in value)
    return False


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
        for note in ("platform_note", "python_note"):
            if t.get(note):
                lines.append("    %s" % t[note])
        if t.get("start_builder") is False:
            lines.append("    builder: not started; every role's layer is cached: the image is made of the last layer")
        elif t.get("start_layer"):
            lines.append("    builder: starts from the layer cache, at the layer of its first %d role%s"
                         % (t["start_roles"], "" if t["start_roles"] == 1 else "s"))
        if t.get("engine_pool"):
            lines.append("    engine: the least busy of image_engines when its builder starts (%s)"
                         % ", ".join(e["docker_host"] for e in t["engine_pool"]))
        elif t.get("reuse") and t.get("docker_host"):
            lines.append("    engine: %s" % t["docker_host"])
        if t.get("ssh_bastion_host") and not t["reuse"]:
            lines.append("    reached through the bastion %s%s:%s" % (
                t["ssh_bastion_username"] + "@" if t.get("ssh_bastion_username") else "", t["ssh_bastion_host"],
                t.get("ssh_bastion_port") or 22))
        if t["reuse"]:
            lines.append("    already built by build %s: %s (image_force: true rebuilds)" % (
                t["reuse"].get("build_id"), t["reuse_note"]))
        elif t.get("reuse_note"):
            lines.append("    %s" % t["reuse_note"])
    if build["scanner"]:
        lines.append("  scan gate: %s, fails on findings of severity %s or higher" % (build["scanner"], build["scan_fail_on"]))
    else:
        lines.append("  scan gate: no vulnerability scanner (trivy, grype) on PATH, so none runs; SBOMs are still written")
    for name in build["skipped_targets"]:
        lines.append("  %s: not selected by image_only" % name)
    return "\n".join(lines)
