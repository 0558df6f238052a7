# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Semantic checks and normalization of an image definition.

Types and defaults are checked first with the launch role's argument spec (the single source of
truth); this module then checks what a type system cannot (unique names, syntax of versions and
references, which keys belong to which target type, files that must exist) and turns the
definition into the build plan the roles use. Every error names the variable it is about.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat

from ansible.module_utils.parsing.convert_bool import BOOLEANS, boolean
from ansible.parsing.vault import VaultHelper
from ansible.playbook.role.include import RoleInclude

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._common import references as ref
from ansible_collections.immutable.images.plugins.plugin_utils._definition import shared_names, target_checks, verify_steps

TARGET_TYPES = ("docker", "ec2")
COMMON_TARGET_KEYS = {"name", "type", "python_interpreter", "build_env", "tags"}
DOCKER_KEYS = {
    "base_image", "pull", "base_image_auth", "platform", "network_mode", "docker_host", "tls", "privileged", "build_volumes",
    "repository", "config", "push", "registry_auth", "save", "squash",
}
EC2_KEYS = {
    "region", "source_ami", "source_ami_filter", "instance_type", "ssh_username", "ami_name",
    "ami_description", "copy_to_regions", "share_with_accounts", "share_with_organizations",
    "share_with_ous", "subnet_id", "iam_instance_profile", "root_volume", "extra_volumes", "allowed_cidrs",
    "ssh_interface", "ssh_host", "ssh_port", "ssh_keypair_name", "ssh_private_key_file",
    "ssh_timeout", "user_data", "spot", "scrub", "force_deregister", "deprecate_after",
    "publish_parameter", "watchdog_timeout", "allow_open_ssh",
    "ssh_bastion_host", "ssh_bastion_port", "ssh_bastion_username", "ssh_bastion_private_key_file",
    "region_kms_key_ids", "security_group_ids", "associate_public_ip_address", "share_snapshots", "imds_support",
    "subnet_filter", "security_group_filter", "run_tags", "metadata_options", "aws_polling",
}
KEYS_BY_TYPE = {"docker": DOCKER_KEYS, "ec2": EC2_KEYS}

# Definition keys that change how a build runs, not what it produces: left out of the build hash
# so that, for example, building with image_only or another manifest path gives the same hash.
OPERATIONAL_KEYS = {
    "image_only", "image_on_error", "image_manifest", "image_cache", "image_force", "image_keep",
    "image_scan_fail_on", "image_gather_facts", "image_roles_path", "image_warm_interpreter", "image_mitogen",
    "image_sign",  # signing says who built an artifact, it does not change it
    "image_engines",  # where a build runs, as a target's docker_host
}
OPERATIONAL_TARGET_KEYS = {"push", "registry_auth", "base_image_auth", "save", "docker_host", "tls", "ssh_host", "ssh_port",
                           "ssh_keypair_name", "ssh_private_key_file", "allowed_cidrs", "ssh_timeout",
                           "share_with_accounts", "share_with_organizations", "share_with_ous",
                           "copy_to_regions", "region_kms_key_ids", "security_group_ids", "associate_public_ip_address",
                           "subnet_filter", "security_group_filter", "run_tags", "metadata_options", "aws_polling",
                           "share_snapshots",
                           "publish_parameter", "force_deregister", "deprecate_after",
                           "watchdog_timeout", "allow_open_ssh",
                           # how the builder is reached, as ssh_host
                           "ssh_bastion_host", "ssh_bastion_port", "ssh_bastion_username", "ssh_bastion_private_key_file"}

# Target options that count in the build hash only when set: those added since the hash was first documented, so
# that a definition that leaves them out builds what it built before (the same hash: after an upgrade, its images,
# AMIs and layers are reused). An option added later that changes what is built joins them.
HASHED_WHEN_SET = {"extra_volumes", "imds_support"}
# The same for options of a target option's dicts (of a dict, or of each dict of a list)
HASHED_WHEN_SET_WITHIN = {"root_volume": {"iops", "throughput"}, "extra_volumes": {"iops", "throughput"}}


SPEC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "roles", "launch", "meta",
                         "argument_specs.yml")


def load_definition_spec(path=SPEC_PATH):
    """The definition variables' argument spec, read from the launch role (controller side only)."""
    import yaml  # only the controller needs this, and ansible-core brings PyYAML

    # libyaml's loader when PyYAML has it: the spec is read at every build, and the pure-Python one takes ~15x longer.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path) as f:
        return yaml.load(f, Loader=loader)["argument_specs"]["definition"]["options"]


class DefinitionError(Exception):
    """Raised with every problem found, one message per line."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("Invalid image definition:\n" + "\n".join("  - " + e for e in self.errors))


def check_definition(params, cwd):
    """Return the list of semantic errors of a type-checked definition (empty when it is valid)."""
    errors = []
    name, version = params.get("image_name"), params.get("image_version")
    if name is not None and not ref.is_image_name(name):
        errors.append("image_name: %r is not a valid image name (at most 128 of a-z 0-9 and separators . _ -, "
                      "starting and ending with a letter or digit, no '..')" % (name,))
    if version is not None and not ref.is_semver(version):
        errors.append("image_version: %r is not a semantic version like 1.4.2" % (version,))
    elif version is not None and len(naming.docker_tag_safe(version)) + 13 > 128:
        errors.append("image_version: %r is too long: the tag <version>-<build hash> must fit Docker's 128 characters"
                      % (version,))
    for key, value in (params.get("image_keep") or {}).items():
        if value is not None and value < 0:
            errors.append("image_keep.%s: %r must not be negative" % (key, value))

    for i, entry in enumerate(params.get("image_files") or []):
        errors.extend(_check_file(i, entry, cwd))
    for i, entry in enumerate(params.get("image_roles") or []):
        if not _role_name(entry):
            errors.append("image_roles[%d]: give a role name or a dict with a 'role' key, got %r" % (i, entry))
        elif isinstance(entry, dict):
            refused = sorted(set(entry) & _ROLE_KEYWORDS - _ROLE_ENTRY_KEYS - set(ROLE_TASK_KEYWORDS))
            if refused:
                errors.append("image_roles[%d]: %s: these keywords of a play's roles: entry would run the role "
                              "elsewhere than on its builder; a build does not take them" % (i, ", ".join(refused)))
            environment = entry.get("environment")
            if environment is not None and not (isinstance(environment, dict) or
                                                (isinstance(environment, str) and "{{" in environment)):
                errors.append("image_roles[%d].environment: must be a dict or a template that gives one, got %s"
                              % (i, target_checks.value_kind(environment)))
            if entry.get("vars") is not None and not isinstance(entry.get("vars"), dict):
                errors.append("image_roles[%d].vars: must be a dict, got %s" % (i, target_checks.value_kind(entry["vars"])))
            if entry.get("tags") is not None and not _tag_list(entry["tags"]):
                errors.append("image_roles[%d].tags: must be a tag or a list of tags (strings), got %r" % (i, entry["tags"]))
    errors.extend(_check_gather_facts(params.get("image_gather_facts", True)))

    for i, entry in enumerate(params.get("image_verify") or []):
        errors.extend(verify_steps.entry_errors(i, entry, cwd))

    targets = params.get("image_targets") or []
    if not targets:
        errors.append("image_targets: at least one target is required")
    seen = set()
    for i, target in enumerate(targets):
        where = "image_targets[%d]" % i
        tname = target.get("name")
        if tname in seen:
            errors.append("%s.name: %r is used by more than one target" % (where, tname))
        seen.add(tname)
        if tname is not None and not ref.TARGET_NAME_RE.match(str(tname)):
            errors.append("%s.name: %r is not a valid target name ([a-z0-9][a-z0-9_-]*)" % (where, tname))
        ttype = target.get("type")
        if ttype not in KEYS_BY_TYPE:
            continue  # the argument spec has said so already
        foreign = _foreign_keys(target, ttype)
        if foreign:
            errors.append("%s: %s not valid for type %s" % (where, ", ".join(sorted(foreign)), ttype))
        errors.extend(target_checks.target_errors(where, target, cwd))

    if not errors:  # names compared once each target's are valid
        errors.extend(shared_names.errors(params, cwd))
    errors.extend(target_checks.engines_errors(params.get("image_engines"), cwd))

    for only in params.get("image_only") or []:
        if only not in seen:
            errors.append("image_only: %r names no target (targets: %s)" % (only, ", ".join(sorted(map(str, seen))) or "none"))
    manifest = params.get("image_manifest")
    if manifest and os.path.isdir(os.path.join(cwd, manifest)):
        errors.append("image_manifest: %r is a directory; give the path of the JSON file to write" % (manifest,))
    elif manifest:
        errors.extend(target_checks.writable_parent_errors("image_manifest", manifest, cwd))
    return errors


def definition_warnings(params):
    """Things a valid definition asks for that deserve a word on the output (never an error)."""
    warnings = []
    for i, t in enumerate(params.get("image_targets") or []):
        open_cidrs = [c for c in t.get("allowed_cidrs") or [] if target_checks.is_open_cidr(c)]
        if open_cidrs and t.get("allow_open_ssh"):
            warnings.append("image_targets[%d].allowed_cidrs: %s opens SSH of the builder to the whole internet "
                            "(allow_open_ssh: true)" % (i, ", ".join(open_cidrs)))
    return warnings


def _foreign_keys(target, ttype):
    other = set().union(*(keys for t, keys in KEYS_BY_TYPE.items() if t != ttype)) - KEYS_BY_TYPE[ttype]
    return {k for k in other if k in target and not _is_empty(target[k]) and not _is_default(k, target[k])}


def _is_empty(value):
    """None, [], {} or a dict of such (what the argument spec fills in for an unset dict option)."""
    if isinstance(value, dict):
        return all(_is_empty(v) for v in value.values())
    return value is None or value == []


# Defaults that the argument spec fills in for every target, whatever its type.
_SPEC_DEFAULTS = {"pull": "missing", "privileged": False, "squash": False, "instance_type": "t3.micro",
                  "ssh_interface": "public_ip", "ssh_port": 22, "ssh_timeout": 300, "spot": False, "scrub": True,
                  "force_deregister": False, "watchdog_timeout": 1800, "allow_open_ssh": False,
                  "ssh_bastion_port": 22, "share_snapshots": False}


def _is_default(key, value):
    return key in _SPEC_DEFAULTS and _SPEC_DEFAULTS[key] == value


# Directories that hold credentials: never copied into an image, wherever they sit in a source.
CREDENTIAL_DIRS = {".ssh", ".aws", ".docker", ".gnupg", ".kube"}


def _check_file(i, entry, cwd):
    errors = []
    where = "image_files[%d]" % i
    src = os.path.join(cwd, os.path.expanduser(entry["src"]))
    if not os.path.exists(src):
        errors.append("%s.src: %r does not exist (relative to %s)" % (where, entry["src"], cwd))
    elif not os.access(src, os.R_OK):
        errors.append("%s.src: %r is not readable" % (where, entry["src"]))
    else:
        errors.extend("%s.src: %s" % (where, e) for e in _source_errors(entry["src"], src))
    dest = str(entry["dest"])
    if not dest.startswith("/"):
        errors.append("%s.dest: %r must be an absolute path" % (where, entry["dest"]))
    elif ".." in dest.split("/"):
        errors.append("%s.dest: %r must not contain '..'" % (where, entry["dest"]))
    return errors


def _source_errors(given, src):
    """Why a source must not be copied: it is a home directory, holds credentials, or has entries a tar
    cannot carry as content (sockets, devices, fifos). A symlinked source is followed (its content is
    copied and hashed); links below a source directory are copied as links."""
    real = os.path.realpath(src)
    homes = {os.path.realpath(os.path.expanduser("~"))}
    if os.environ.get("HOME"):
        homes.add(os.path.realpath(os.environ["HOME"]))
    if real in homes:
        return ["%r is a home directory: copy the files the image needs, not your home" % (given,)]
    if CREDENTIAL_DIRS & set(real.split(os.sep)):
        return ["%r is in a credentials directory (%s): it is never copied into an image"
                % (given, ", ".join(sorted(CREDENTIAL_DIRS & set(real.split(os.sep)))))]
    if not os.path.isdir(real):
        return [] if stat.S_ISREG(os.stat(real).st_mode) else ["%r is not a regular file or directory" % (given,)]
    for dirpath, dirnames, filenames in os.walk(real):
        found = CREDENTIAL_DIRS & set(dirnames)
        if found:
            return ["%r contains a credentials directory %s: it is never copied into an image"
                    % (given, os.path.relpath(os.path.join(dirpath, sorted(found)[0]), real))]
        for name in filenames + dirnames:
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                return ["%r contains %s, a socket, device or fifo: only files, directories and links are copied"
                        % (given, os.path.relpath(os.path.join(dirpath, name), real))]
    return []


# A play's roles: entry: its keywords (ansible-core's RoleInclude attributes) and, as any other key, role parameters.
# Of the keywords, a build takes role, name, vars and tags, and those a play gives the role's tasks and handlers
# (ROLE_TASK_KEYWORDS, given through the role's include: role_steps.py); the others would run the role elsewhere
# than on its builder (connection, delegate_to, ...) and are refused, rather than taken for parameters.
_ROLE_KEYWORDS = frozenset(RoleInclude.fattributes)
_ROLE_ENTRY_KEYS = frozenset(("role", "name", "vars", "tags"))
ROLE_TASK_KEYWORDS = ("when", "become", "become_user", "become_method", "become_flags", "become_exe", "environment",
                      "check_mode", "diff", "no_log", "ignore_errors", "ignore_unreachable", "module_defaults",
                      "timeout", "any_errors_fatal", "run_once", "throttle", "debugger")


def _role_name(entry):
    if isinstance(entry, str):
        return entry.strip()
    if isinstance(entry, dict):
        value = entry.get("role") or entry.get("name")
        return value.strip() if isinstance(value, str) else None
    return None


def _tag_list(value):
    """The tags of an image_roles entry as a list of strings (a play's roles: entry takes a string or a list),
    or None when they are neither."""
    if isinstance(value, str):
        value = [t.strip() for t in value.split(",")]
    if isinstance(value, list) and all(isinstance(t, (str, int)) and not isinstance(t, bool) for t in value):
        return [str(t) for t in value if str(t)]
    return None


_SUBSET_RE = re.compile(r"^!?\w+\Z")  # a gather_subset entry: min, hardware, !facter, distribution, ...


def gather_facts_setting(value):
    """image_gather_facts given as text (`-e image_gather_facts=false`, an AWX survey) read as a play reads its
    gather_facts and gather_subset: a boolean word is that boolean, other text a comma-separated gather_subset."""
    if not isinstance(value, str):
        return value
    if value.strip().lower() in BOOLEANS:
        return boolean(value.strip(), strict=True)
    return [part.strip() for part in value.split(",") if part.strip()] or value


def _check_gather_facts(value):
    """image_gather_facts is true, false or a gather_subset list (of strings, like a play's gather_subset)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, list) and value and all(isinstance(v, str) and _SUBSET_RE.match(v) for v in value):
        return []
    return ["image_gather_facts: must be true (the facts a play gathers), false (none) or a gather_subset list "
            "such as [min, hardware, network] (or min,hardware,network), got %r" % (value,)]


def role_entries(params):
    """[(role name, vars dict, role parameters dict)] from image_roles: an entry's `vars`, and its role parameters (its
    other keys, as on a play's roles: entry), which a play ranks above them and above what the role sets itself."""
    return [(_role_name(e), _role_vars(e), _role_params(e)) for e in params.get("image_roles") or []]


def _role_vars(entry):
    return (entry.get("vars") or {}) if isinstance(entry, dict) else {}


def _role_params(entry):
    return {k: v for k, v in entry.items() if k not in _ROLE_KEYWORDS} if isinstance(entry, dict) else {}


def role_keywords(entry):
    """The keywords of an image_roles entry that its role's tasks and handlers get (ROLE_TASK_KEYWORDS), as written;
    `when` as a list. Empty without any."""
    if not isinstance(entry, dict):
        return {}
    keywords = {key: entry[key] for key in ROLE_TASK_KEYWORDS if entry.get(key) is not None}
    if "when" in keywords and not isinstance(keywords["when"], list):
        keywords["when"] = [keywords["when"]]
    return keywords


def role_tags(entry):
    """The tags of an image_roles entry (a list, empty without tags)."""
    return (_tag_list(entry.get("tags")) or []) if isinstance(entry, dict) and entry.get("tags") is not None else []


def docker_config(config):
    """Normalize a target's `config` (ports, healthcheck durations) for the commit module."""
    config = dict(config or {})
    if config.get("expose") is not None:
        config["expose"] = [ref.normalize_port(p) for p in config["expose"]]
    if config.get("env") is not None:
        config["env"] = {str(k): str(v) for k, v in config["env"].items()}
    if config.get("labels") is not None:
        config["labels"] = {str(k): str(v) for k, v in config["labels"].items()}
    hc = config.get("healthcheck")
    if hc:
        config["healthcheck"] = {k: (ref.parse_duration_ns(v) if k in ("interval", "timeout", "start_period") else v)
                                 for k, v in hc.items() if v is not None}
    return {k: v for k, v in config.items() if v is not None}


# Variables of a run that are not roles' inputs of their own: the definition's keys (image_*, hashed by their own
# rules above), Ansible's connection and behaviour settings, and the job metadata AWX passes to every job.
NOT_RUN_VARIABLES = ("image_", "ansible_", "awx_", "tower_")


# The digest is shown (the plan at -v, layer tags on the engine) and the variables may hold secrets, a registry
# password for instance: scrypt, as for a stored password, makes each guess at them cost 50 ms instead of a microsecond.
# A fixed salt: the same variables must give the same digest on any machine, or nothing would be reused.
RUN_VARIABLES_SCRYPT = dict(salt=b"immutable.images run variables", n=2 ** 14, r=8, p=1, dklen=32)


def run_variables_digest(*sources, builders=None):
    """A scrypt digest (hex) of the variables of the run that roles can read besides the definition's keys - the
    extra variables, the variables the builders get from the inventory, and under build_all the definition file's
    other variables - as written (before templating);
    None when there are none. It goes into the plan's `play`, so into the build hash and every layer key: a changed
    `-e app_version=...` builds again instead of reusing an image or a layer made with the old value. Only the digest
    is kept. `sources` go from the lowest precedence to the highest (a later one's value wins). `builders` maps a
    builder's host name to the variables it has of its own (host_vars/)."""
    merged = {}
    for source in sources:
        merged.update((str(k), v) for k, v in (source or {}).items() if not str(k).startswith(NOT_RUN_VARIABLES))
    own = {}
    for host, variables in sorted((builders or {}).items()):
        mine = {str(k): v for k, v in variables.items() if not str(k).startswith(NOT_RUN_VARIABLES)}
        if mine:
            own[str(host)] = mine
    if not merged and not own:
        return None
    # the builders' own only when there are any: the digest of a run without them stays what it was
    text = json.dumps({"all": merged, "builders": own} if own else merged, sort_keys=True, separators=(",", ":"),
                      default=_as_written)
    return hashlib.scrypt(text.encode("utf-8"), **RUN_VARIABLES_SCRYPT).hex()


def _as_written(value):
    """json's fallback for run variables: a vaulted value that is still encrypted counts by its ciphertext (never
    decrypted here: the run may lack its password, which a role that does not read it does not need); anything else by
    its text."""
    ciphertext = VaultHelper.get_ciphertext(value, with_tags=False)
    return "vault:" + ciphertext if ciphertext else str(value)


def hash_input(params, targets):
    """The part of a definition that decides what gets built (see OPERATIONAL_KEYS)."""
    data = {k: v for k, v in params.items() if k not in OPERATIONAL_KEYS and k != "image_targets"}
    data["image_targets"] = [{k: _without_unset(v, HASHED_WHEN_SET_WITHIN.get(k)) for k, v in t.items()
                              if k not in OPERATIONAL_TARGET_KEYS and not (k in HASHED_WHEN_SET and _is_empty(v))}
                             for t in targets]
    return data


def _without_unset(value, later):
    """value without the options of `later` that are not set (None), in a dict or in each dict of a list."""
    if not later:
        return value
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if not (k in later and v is None)}
    if isinstance(value, list):
        return [_without_unset(v, later) for v in value]
    return value


def plan_targets(params, build_id, build_hash, cwd, created=None, revision=None):
    """Normalized targets, in definition order, with everything the roles need precomputed."""
    only = set(params.get("image_only") or [])
    created = created or naming.iso_utc()
    planned = []
    for index, t in enumerate(params["image_targets"]):
        t = {k: v for k, v in t.items() if k in COMMON_TARGET_KEYS | KEYS_BY_TYPE[t["type"]]}
        # Secrets stay out of the plan (a fact, printed at -v and by set_fact/add_host): the tasks that need
        # build_env and user_data read them from image_targets[definition_index] into no_log places.
        t["definition_index"] = index
        t["build_env"] = sorted(str(k) for k in (t.get("build_env") or {}))
        t["user_data"] = bool(t.get("user_data"))
        t["selected"] = not only or t["name"] in only
        t["builder_name"] = naming.builder_name(params["image_name"], t["name"], build_id)
        t["host"] = naming.builder_host(params["image_name"], t["name"])
        t["labels"] = naming.build_labels(build_id, params["image_name"], t["name"], naming.KIND_BUILDER,
                                          build_hash, params["image_version"], created)
        t["artifact_labels"] = dict(
            naming.build_labels(build_id, params["image_name"], t["name"], naming.KIND_ARTIFACT,
                                build_hash, params["image_version"], created),
            **naming.oci_labels(params["image_name"], params["image_version"], created, revision))
        if t["type"] == "docker":
            _plan_docker(t, params, build_hash, cwd)
        else:
            _plan_ec2(t, params, build_id, cwd)
        planned.append(t)
    return planned


def _plan_docker(t, params, build_hash, cwd):
    t["repository"] = t.get("repository") or params["image_name"]
    t["tags"] = [str(x) for x in (t.get("tags") or naming.default_tags(params["image_version"], build_hash))]
    t["image_refs"] = ["%s:%s" % (t["repository"], tag) for tag in t["tags"]]
    t["push_refs"] = ["%s:%s" % (repo, tag) for repo in t.get("push") or [] for tag in t["tags"]]
    t["config"] = docker_config(t.get("config"))
    # Credentials stay out of the plan (it is a fact, shown at high verbosity): the push task reads
    # them from the definition, into a no_log module option.
    t["registry_auth"] = bool(t.get("registry_auth"))
    t["base_image_auth"] = bool(t.get("base_image_auth"))  # the launch reads them from the definition, as those
    if t.get("save"):
        t["save"] = os.path.normpath(os.path.join(cwd, os.path.expanduser(t["save"])))
    t["build_volumes"] = [_absolute_bind(v, cwd) for v in t.get("build_volumes") or []]
    t["docker_host"] = t.get("docker_host") or None
    if t.get("tls"):  # relative to the current directory, like every path of a definition
        t["tls"] = {k: (os.path.normpath(os.path.join(cwd, os.path.expanduser(str(v)))) if k in TLS_FILES and v else v)
                    for k, v in t["tls"].items()}
    else:
        t["tls"] = None
    # Remote engines (tcp://, ssh://) get the collection's own exec streams (see connection/docker_session.py).
    host = t["docker_host"] or os.environ.get("DOCKER_HOST") or ""
    t["remote_engine"] = bool(host) and not host.startswith(("unix://", "/"))


TLS_FILES = ("ca_cert", "client_cert", "client_key")


def engines(targets):
    """The distinct engines of the docker targets: [{docker_host, tls}], for cleanup on every one of them."""
    seen = []
    for t in targets:
        if t["type"] == "docker":
            engine = {"docker_host": t.get("docker_host") or None, "tls": t.get("tls") or None}
            if engine not in seen:
                seen.append(engine)
    return seen


def _plan_ec2(t, params, build_id, cwd):
    t["ami_name"] = shared_names.ami_name(params, t, build_id)
    if t.get("ssh_bastion_private_key_file"):  # relative to the current directory, like every path of a definition
        t["ssh_bastion_private_key_file"] = os.path.normpath(os.path.join(cwd, os.path.expanduser(
            str(t["ssh_bastion_private_key_file"]))))
    t["tags"] = {str(k): str(v) for k, v in (t.get("tags") or {}).items()}


def _absolute_bind(volume, cwd):
    """'./cache:/root/.cache' -> '<cwd>/cache:/root/.cache': relative paths resolve like Packer's."""
    host, _sep, rest = str(volume).partition(":")
    return "%s:%s" % (os.path.normpath(os.path.join(cwd, os.path.expanduser(host))), rest)
