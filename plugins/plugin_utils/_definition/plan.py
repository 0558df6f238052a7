# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The contract between the roles, declared once: the plan (image_build), each planned target (image_target)
and the result record finalize keeps per target (what build_manifest turns into the manifest).

In ansible-core's argument spec format, so that ArgumentSpecValidator checks a value against it (unknown keys,
types, nested keys). Imported by the unit tests (they validate what image_definition returns and what the
target_result action records) and by `return_doc`, from which the RETURN of modules/image_definition.py is made
(a unit test holds the two together). Controller only.
"""

from __future__ import annotations

import copy
import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.immutable.images.plugins.plugin_utils._definition import definition


def _opt(type_, description, **more):
    return dict(type=type_, description=description, **more)


_ENGINE = {
    "docker_host": _opt("str", "The engine's address, null for the default engine."),
    "tls": _opt("dict", "Its TLS settings (paths absolute), null without TLS."),
}

# What the plan computes for a target, beside the keys of its definition entry (image_targets).
_PLANNED_TARGET = {
    "definition_index": _opt("int", "Index of the target in image_targets (where no_log places read build_env, "
                                    "user_data, registry_auth and base_image_auth from)."),
    "build_env": _opt("list", "Names of the build_env variables (their values stay in the definition).", elements="str"),
    "user_data": _opt("bool", "Whether the definition gives user_data (its value stays in the definition)."),
    "selected": _opt("bool", "Whether image_only selects the target."),
    "builder_name": _opt("str", "Name of the builder (container or instance) of this build."),
    "host": _opt("str", "Inventory name of the builder, <image_name>-<target name>."),
    "labels": _opt("dict", "Labels of the builder and of everything else this build creates."),
    "artifact_labels": _opt("dict", "Labels of the artifact (build labels and OCI annotations)."),
    "repository": _opt("str", "docker: the repository of the local tags."),
    "image_refs": _opt("list", "docker: repository:tag of every local tag.", elements="str"),
    "push_refs": _opt("list", "docker: every reference pushed (each push repository with each tag).", elements="str"),
    "registry_auth": _opt("bool", "docker: whether the definition gives registry credentials (they stay there)."),
    "base_image_auth": _opt("bool", "docker: whether the definition gives credentials for the base image's registry "
                                    "(they stay there)."),
    "remote_engine": _opt("bool", "docker: whether the engine is remote (tcp://, ssh://)."),
    "engine_pool": _opt("list", "docker target of image_engines: the engines that answered, placed at launch.",
                        elements="dict", options=_ENGINE),
    "base": _opt("str", "The base the artifact is built from: image id (docker) or AMI id (ec2), when known."),
    "reuse": _opt("dict", "The artifact already built from the same inputs (reuse instead of a build), else null."),
    "reuse_note": _opt("str", "Why the artifact was or was not reused."),
    "python_note": _opt("str", "docker: what the plan found of the target's Python in the base image, when it is not "
                               "there: the Python ansible-core's interpreter discovery finds there instead (then "
                               "python_interpreter), or none."),
    "platform_note": _opt("str", "docker: when the base image is of another architecture than its engine, that the "
                                 "builder runs only where the engine emulates it; else none."),
    "start_layer": _opt("str", "docker, layer cache: the layer of the cache its builder starts from (image id), the "
                               "deepest one its lookups are expected to find; null: the base image. A guess: the "
                               "lookups decide."),
    "start_roles": _opt("int", "docker, layer cache: how many roles, in order, start_layer holds."),
    "start_key": _opt("str", "docker, layer cache: the cache key of start_layer (that of its last role)."),
    "idle": _opt("bool", "docker: whether nothing is expected to run on the builder (start_layer holds every role's layer, "
                         "no check runs on it, no squash). Its session then starts only if a step needs it, not as soon "
                         "as the builder runs."),
    "start_builder": _opt("bool", "docker: false when the builder is created at start_layer and never started: the target is "
                                  "idle, the layer's package inventory is recorded on this controller, and the launch "
                                  "role's launch_start_idle_builders is false (build_image.yml, build_all.yml). Its "
                                  "artifact is committed from that layer, and no play runs on it."),
    "sbom_path": _opt("str", "Where the target's CycloneDX SBOM is written."),
    "builder": _opt("dict", "Set by launch on the builder's image_target: what it learned about the builder "
                            "(container id, name, image id; instance id, address, key)."),
}
# Keys of the definition entry whose planned value has another type than in the definition.
_RETYPED = {"build_env", "user_data", "registry_auth", "base_image_auth"}


def target_spec():
    """The spec of one planned target: its definition entry's keys (as the launch role's argument spec declares
    them, normalized: paths absolute, secrets replaced by names or flags) and what the plan computes."""
    spec = {}
    for key, option in definition.load_definition_spec()["image_targets"]["options"].items():
        if key in _RETYPED:
            continue
        entry = {k: v for k, v in option.items() if k in ("type", "elements", "options", "choices")}
        if "default" not in option:  # an option left unset is null in the plan, which no choice names
            entry.pop("choices", None)
        entry["description"] = _text(option.get("description"), key)
        if entry.get("options"):
            entry["options"] = _loose(entry["options"])
        spec[key] = entry
    spec["tags"] = _opt("raw", "docker: the tags (a list); ec2: the tags of the AMI and snapshots (a mapping).")
    spec.update(copy.deepcopy(_PLANNED_TARGET))
    return spec


def _text(description, key):
    """A definition option's description as one string, its O() references (options of the launch role, not of the
    module whose RETURN shows it) as C()."""
    text = " ".join(description) if isinstance(description, list) else description or key
    return re.sub(r"\bO\(([^)]*)\)", r"C(\1)", text)


def _loose(options):
    """Nested options without required/defaults: a plan holds what the definition gave, normalized."""
    out = {}
    for key, option in options.items():
        entry = {k: v for k, v in option.items() if k in ("type", "elements", "options", "choices")}
        if "default" not in option:  # an option left unset is null in the plan, which no choice names
            entry.pop("choices", None)
        entry["description"] = _text(option.get("description"), key)
        if entry.get("options"):
            entry["options"] = _loose(entry["options"])
        out[key] = entry
    return out


_ROLE = {
    "name": _opt("str", "The role as image_roles names it."),
    "path": _opt("str", "Where the role was found."),
    "digest": _opt("str", "Digest of the role's files (part of the build hash and of its layer cache key)."),
}
_SIGN = {
    "key": _opt("str", "Absolute path of the signing key (never the key)."),
    "password_env": _opt("str", "Environment variable holding the key's password."),
    "builder_id": _opt("str", "The SLSA builder id of the provenance."),
}


def plan_spec():
    """The spec of image_build, the plan image_definition returns (launch adds controller_env and guard_pid and narrows
    engines)."""
    target = target_spec()
    return {
        "id": _opt("str", "Unique id of this run, starting with the UTC time.", required=True),
        "hash": _opt("str", "Short digest of the build inputs (definition, files, roles, facts and tags settings).",
                     required=True),
        "name": _opt("str", "image_name.", required=True),
        "version": _opt("str", "image_version.", required=True),
        "started": _opt("str", "When the build started (ISO 8601, UTC).", required=True),
        "started_ts": _opt("float", "The same as a Unix time.", required=True),
        "revision": _opt("str", "The git revision of the current directory, null outside a git work tree."),
        "workdir": _opt("str", "Private temporary directory of the build (files archive, role and check task files); "
                               "null in check mode and when nothing is built."),
        "files_archive": _opt("str", "The image_files archive, null without files or when nothing is built."),
        "files_digest": _opt("str", "Digest of the image_files' contents."),
        "roles": _opt("list", "The image roles in order.", elements="dict", options=_ROLE),
        "used_before_defined": _opt("list", "What an image role uses (in its entry's vars or its files) that only a "
                                            "later image role defines: variable names, and 'handler <name>'. With "
                                            "any, every role is loaded before the first runs, as a play loads its "
                                            "roles.", elements="str"),
        "role_tasks": _opt("list", "The task file that runs the roles in order (per role, its layer lookup and its "
                                   "include), a list of one (empty without roles or when nothing is built).",
                           elements="str"),
        "verify_tasks": _opt("str", "The task file of the image_verify checks that run on the builder, or null."),
        "verify_runs": _opt("list", "The run tests of image_verify, with the names of their env only.", elements="dict"),
        "gather_facts": _opt("bool", "Whether facts are gathered on the builders."),
        "facts": _opt("dict", "The gather_facts arguments, null when no facts are gathered."),
        "facts_deferred": _opt("bool", "Whether docker builders gather the facts at the first role whose layer is not "
                                       "in the layer cache (its lookup does) instead of before the roles: when the "
                                       "facts are gathered, the cache is on and no role vars, build_env or "
                                       "builder-side image_verify check holds a template."),
        "play": _opt("dict", "What decides how the roles behave besides the roles (facts, --tags, --skip-tags, the "
                             "run's variables).",
                     options={"facts": _opt("dict", "As facts."),
                              "tags": _opt("list", "--tags, or [all].", elements="str"),
                              "skip_tags": _opt("list", "--skip-tags.", elements="str"),
                              "vars": _opt("str", "A scrypt digest of the extra variables, the variables the "
                                                  "builders get from the inventory (and under build_all the "
                                                  "definition file's variables) but image_*, ansible_*, awx_* and "
                                                  "tower_*, as written; absent when there are none."),
                              "project": _opt("str", "A sha256 over the project directory's files/, templates/, "
                                                     "vars/ and plugin directories (library/, filter_plugins/, ...): "
                                                     "what a role finds there by a relative name, as from a playbook "
                                                     "there; absent when the project has none of them.")}),
        "on_error": _opt("str", "image_on_error.", choices=["cleanup", "keep"]),
        "manifest": _opt("str", "Absolute path of the manifest, or null."),
        "cache": _opt("bool", "image_cache."),
        "provision_only": _opt("bool", "Whether no play but the provision role's runs on the builders (the launch role's "
                                       "launch_start_idle_builders false: build_image.yml, build_all.yml). Only then "
                                       "is a docker artifact made from the last layer the cache stored instead of "
                                       "the builder, and may the builder stay at an earlier layer: plays of one's "
                                       "own on the builders find them holding every role's work, and what they "
                                       "change is committed."),
        "warm_interpreter": _opt("bool", "image_warm_interpreter."),
        "controller_modules": _opt("bool", "Whether the build runs modules on the controller as modules (an ec2 target, "
                                           "a push, a save, a reused image's missing tag, image_keep): launch starts "
                                           "the controller's warm interpreter only then."),
        "roles_to_run": _opt("list", "Paths of the roles some builder is expected to run: those after the layers the "
                                     "docker builders start at (start_roles; every role for an ec2 target or without "
                                     "the layer cache). Launch builds their modules' payloads in advance.",
                             elements="str"),
        "force": _opt("bool", "image_force."),
        "scanner": _opt("str", "The vulnerability scanner found on PATH (trivy, grype), or null."),
        "scan_fail_on": _opt("str", "image_scan_fail_on."),
        "definition_digest": _opt("str", "SHA-256 of the definition's hash input (provenance)."),
        "target_names": _opt("list", "Names of the selected targets.", elements="str"),
        "sign": _opt("dict", "image_sign with the key's absolute path, or null when nothing is signed.", options=_SIGN),
        "keep": _opt("dict", "image_keep without its unset keys."),
        "targets": _opt("list", "The selected targets to build.", elements="dict", options=target),
        "engines": _opt("list", "Every engine a builder can be on (launch narrows it to those the builders are on).",
                        elements="dict", options=_ENGINE),
        "engines_fixed": _opt("list", "The engines of the targets outside image_engines.", elements="dict", options=_ENGINE),
        "engine_notes": _opt("list", "Why engines of image_engines were skipped.", elements="str"),
        "reused_targets": _opt("list", "The selected targets whose artifact already exists.", elements="dict",
                               options=target),
        "base_id_label": _opt("str", "The label (docker) or tag (ec2) that records the base's id on the artifact."),
        "skipped_targets": _opt("list", "Names of the targets image_only does not select.", elements="str"),
        "guard_pid": _opt("int", "Set by launch: the process id of the build guard."),
        "controller_env": _opt("dict", "Set by launch: the environment that sends the controller-side modules of the "
                                       "launch and finalize roles to the controller's warm interpreter ({} without one)."),
    }


_SBOM = {
    "path": _opt("str", "The SBOM file."),
    "sha256": _opt("str", "Its SHA-256."),
    "packages": _opt("int", "How many packages it lists."),
    "scanner": _opt("str", "The scanner that ran, or null."),
    "findings": _opt("dict", "Findings by severity, or null."),
}
_ARTIFACT = {
    "sbom": _opt("dict", "The SBOM of the artifact, null when none was written.", options=_SBOM),
    "image_id": _opt("str", "docker: the image id."),
    "tags": _opt("list", "docker: the local tags.", elements="str"),
    "previous": _opt("dict", "docker: what each tag pointed at before (build_manifest turns it into tags_taken)."),
    "pushed": _opt("list", "docker: the references pushed, with their digests.", elements="dict"),
    "saved": _opt("str", "docker: the tar file the image was saved to, or null."),
    "tags_moved": _opt("dict", "docker: set by build_manifest: tags that no longer point at this image."),
    "tags_taken": _opt("dict", "docker: set by build_manifest: tags moved away from another build's image."),
    "name": _opt("str", "ec2: the AMI name."),
    "amis": _opt("dict", "ec2: the AMI id in each region."),
    "snapshots": _opt("dict", "ec2: the snapshot ids in each region."),
    "parameter": _opt("str", "ec2: the SSM parameter the AMI id was published to, or null."),
    "deprecation_time": _opt("str", "ec2: when the AMIs are deprecated, or null."),
    "attestations": _opt("list", "The signed attestations written or attached.", elements="dict"),
    "reused_from": _opt("str", "The build that made the artifact when it was reused, else null."),
}


def result_spec():
    """The spec of a target's result record: what finalize records per target, the input of build_manifest."""
    return {
        "status": _opt("str", "succeeded or failed.", required=True, choices=["succeeded", "failed"]),
        "stage": _opt("str", "failed: the stage that failed (upload, provision, verify, sbom, scrub, commit, push, save, "
                             "finalize, reuse, ... or what a task of the user recorded)."),
        "task": _opt("str", "failed: the name of the task that failed."),
        "message": _opt("str", "failed: why."),
        "duration": _opt("raw", "failed in provisioning: how long provisioning ran (seconds)."),
        "builder": _opt("str", "The builder's name, null for a reused artifact."),
        "instance_id": _opt("str", "ec2: the builder instance."),
        "connection": _opt("dict", "failed: how to reach the builder (ec2: instance_id, ssh_host, ssh_port, "
                                   "private_key_file, ssh_bastion), for the kept builder's hint."),
        "provision_duration": _opt("raw", "How long provisioning took (seconds), null when unknown."),
        "source_ami": _opt("dict", "ec2: the source AMI."),
        "artifact": _opt("dict", "succeeded: the artifact.", options=_ARTIFACT),
    }


def validate(spec, value):
    """Error messages of `value` against `spec` (empty when it conforms)."""
    return list(ArgumentSpecValidator(spec).validate(copy.deepcopy(value)).error_messages)


# Keys of the plan documented once: each of these has the same keys as the one it names.
RETURN_SAME_AS = {"reused_targets": "targets"}


def return_doc(spec, same_as=None):
    """`spec` as the `contains` of a RETURN entry (what modules/image_definition.py documents). A key of
    `same_as` refers to the entry it names instead of listing the same keys again."""
    out = {}
    for key, option in spec.items():
        entry = {"description": option["description"], "type": option["type"]}
        if option.get("elements"):
            entry["elements"] = option["elements"]
        if (same_as or {}).get(key):
            entry["description"] += " Each has the keys of RV(build.%s)." % same_as[key]
        elif option.get("options"):
            entry["contains"] = return_doc(option["options"])
        out[key] = entry
    return out
