# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Semantic checks and normalization of an image definition.

Types and defaults are checked first with the launch role's argument spec (the single source of
truth); this module then checks what a type system cannot (unique names, syntax of versions and
references, which keys belong to which target type, files that must exist) and turns the
definition into the build plan the roles use. Every error names the variable it is about.
"""

from __future__ import annotations

import os

from ansible_collections.immutable.images.plugins.module_utils import naming
from ansible_collections.immutable.images.plugins.module_utils import references as ref
from ansible_collections.immutable.images.plugins.module_utils.naming import AMI_NAME_RE, parse_deprecate_after

TARGET_TYPES = ("docker", "ec2")
COMMON_TARGET_KEYS = {"name", "type", "python_interpreter", "build_env", "tags"}
DOCKER_KEYS = {
    "base_image", "pull", "platform", "network_mode", "docker_host", "privileged", "build_volumes",
    "repository", "config", "push", "registry_auth", "save", "squash",
}
EC2_KEYS = {
    "region", "source_ami", "source_ami_filter", "instance_type", "ssh_username", "ami_name",
    "ami_description", "copy_to_regions", "share_with_accounts", "share_with_organizations",
    "share_with_ous", "subnet_id", "iam_instance_profile", "root_volume", "allowed_cidrs",
    "ssh_interface", "ssh_host", "ssh_port", "ssh_keypair_name", "ssh_private_key_file",
    "ssh_timeout", "user_data", "spot", "scrub", "force_deregister", "deprecate_after",
    "publish_parameter",
}
KEYS_BY_TYPE = {"docker": DOCKER_KEYS, "ec2": EC2_KEYS}

# Definition keys that change how a build runs, not what it produces: left out of the build hash
# so that, for example, building with image_only or another manifest path gives the same hash.
OPERATIONAL_KEYS = {
    "image_only", "image_on_error", "image_manifest", "image_cache", "image_force", "image_keep",
    "image_scan_fail_on", "image_gather_facts", "image_roles_path", "image_warm_interpreter", "image_mitogen",
    "image_sign",  # signing says who built an artifact, it does not change it
}
OPERATIONAL_TARGET_KEYS = {"push", "registry_auth", "save", "docker_host", "ssh_host", "ssh_port",
                           "ssh_keypair_name", "ssh_private_key_file", "allowed_cidrs", "ssh_timeout",
                           "share_with_accounts", "share_with_organizations", "share_with_ous",
                           "copy_to_regions", "publish_parameter", "force_deregister", "deprecate_after"}


SPEC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles", "launch", "meta",
                         "argument_specs.yml")


def load_definition_spec(path=SPEC_PATH):
    """The definition variables' argument spec, read from the launch role (controller side only)."""
    import yaml  # only the controller needs this, and ansible-core brings PyYAML

    # libyaml's loader when PyYAML has it: the spec is read at every build, and the pure-Python one takes ~15x longer.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path) as f:
        return yaml.load(f, Loader=loader)["argument_specs"]["main"]["options"]


class DefinitionError(Exception):
    """Raised with every problem found, one message per line."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("Invalid image definition:\n" + "\n".join("  - " + e for e in self.errors))


def check_definition(params, cwd):
    """Return the list of semantic errors of a type-checked definition (empty when it is valid)."""
    errors = []
    name, version = params.get("image_name"), params.get("image_version")
    if name is not None and not ref.IMAGE_NAME_RE.match(str(name)):
        errors.append("image_name: %r is not a valid image name ([a-z0-9][a-z0-9_.-]*)" % (name,))
    if version is not None and not ref.is_semver(version):
        errors.append("image_version: %r is not a semantic version like 1.4.2" % (version,))

    for i, entry in enumerate(params.get("image_files") or []):
        errors.extend(_check_file(i, entry, cwd))
    for i, entry in enumerate(params.get("image_roles") or []):
        if not _role_name(entry):
            errors.append("image_roles[%d]: give a role name or a dict with a 'role' key, got %r" % (i, entry))
        elif isinstance(entry, dict):
            unknown = set(entry) - {"role", "name", "vars"}
            if unknown:
                errors.append("image_roles[%d]: unknown keys %s (use 'role' and 'vars')" % (i, ", ".join(sorted(unknown))))
            if entry.get("vars") is not None and not isinstance(entry.get("vars"), dict):
                errors.append("image_roles[%d].vars: must be a dict, got %s" % (i, _kind(entry["vars"])))

    for i, entry in enumerate(params.get("image_verify") or []):
        errors.extend(_check_verify(i, entry, cwd))

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
        errors.extend(_check_docker(where, target, cwd) if ttype == "docker" else _check_ec2(where, target))

    for only in params.get("image_only") or []:
        if only not in seen:
            errors.append("image_only: %r names no target (targets: %s)" % (only, ", ".join(sorted(map(str, seen))) or "none"))
    manifest = params.get("image_manifest")
    if manifest:
        errors.extend(_check_writable_parent("image_manifest", manifest, cwd))
    return errors


VERIFY_RUN_KEYS = {"port", "http", "command", "wait_for_command", "timeout", "env", "network_mode"}


def verify_kind(entry):
    """'run' (docker run test), 'role', 'tasks' (a task file) or 'task' (one inline task)."""
    for kind in ("run", "role", "tasks"):
        if kind in entry:
            return kind
    return "task"


def _check_verify(i, entry, cwd):
    where = "image_verify[%d]" % i
    if not isinstance(entry, dict) or not entry:
        return ["%s: give a task, {role: ...}, {tasks: file.yml} or {run: {...}}, got %r" % (where, entry)]
    kind = verify_kind(entry)
    if kind == "run":
        run = entry["run"]
        if not isinstance(run, dict):
            return ["%s.run: must be a dict, got %s" % (where, _kind(run))]
        unknown = set(run) - VERIFY_RUN_KEYS
        if unknown:
            return ["%s.run: unknown keys %s (known: %s)" % (where, ", ".join(sorted(unknown)), ", ".join(sorted(VERIFY_RUN_KEYS)))]
        if not (run.get("port") or run.get("command") or run.get("wait_for_command")):
            return ["%s.run: give a port to probe or a command to run in the test container" % where]
        if run.get("http") and not run.get("port"):
            return ["%s.run.http: needs run.port" % where]
    elif kind == "tasks":
        path = os.path.join(cwd, str(entry["tasks"]))
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            return ["%s.tasks: %s is not a readable file" % (where, entry["tasks"])]
    elif kind == "role" and not isinstance(entry["role"], str):
        return ["%s.role: must be a role name, got %s" % (where, _kind(entry["role"]))]
    return []


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
                  "force_deregister": False}


def _is_default(key, value):
    return key in _SPEC_DEFAULTS and _SPEC_DEFAULTS[key] == value


def _check_file(i, entry, cwd):
    errors = []
    where = "image_files[%d]" % i
    src = os.path.join(cwd, os.path.expanduser(entry["src"]))
    if not os.path.exists(src):
        errors.append("%s.src: %r does not exist (relative to %s)" % (where, entry["src"], cwd))
    elif not os.access(src, os.R_OK):
        errors.append("%s.src: %r is not readable" % (where, entry["src"]))
    if not str(entry["dest"]).startswith("/"):
        errors.append("%s.dest: %r must be an absolute path" % (where, entry["dest"]))
    return errors


def _check_writable_parent(var, path, cwd):
    parent = os.path.dirname(os.path.join(cwd, path)) or cwd
    if not os.path.isdir(parent):
        return ["%s: directory %r does not exist" % (var, parent)]
    if not os.access(parent, os.W_OK):
        return ["%s: directory %r is not writable" % (var, parent)]
    return []


def _check_docker(where, t, cwd):
    errors = []
    if not t.get("base_image"):
        errors.append("%s.base_image: required for type docker" % where)
    elif not ref.is_image_reference(t["base_image"]):
        errors.append("%s.base_image: %r is not a valid image reference" % (where, t["base_image"]))
    if t.get("repository") and not ref.is_repository(t["repository"]):
        errors.append("%s.repository: %r is not a valid repository name (lower case, no tag)" % (where, t["repository"]))
    tags = t.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not tags:
            errors.append("%s.tags: must be a non-empty list of tags for type docker" % where)
        else:
            errors.extend("%s.tags: %r is not a valid Docker tag" % (where, tag) for tag in tags if not ref.is_tag(tag))
    for repo in t.get("push") or []:
        if not ref.is_repository(repo):
            errors.append("%s.push: %r is not a valid repository name (lower case, no tag)" % (where, repo))
    for vol in t.get("build_volumes") or []:
        parts = str(vol).split(":")
        if len(parts) not in (2, 3) or not parts[1].startswith("/"):
            errors.append("%s.build_volumes: %r is not host:/container[:ro]" % (where, vol))
        elif not parts[0].startswith(("/", ".", "~")):
            # a bare name would create a named volume that nothing ever removes
            errors.append("%s.build_volumes: %r must bind a host path (absolute, or relative like ./cache)" % (where, vol))
    if t.get("save"):
        errors.extend(_check_writable_parent(where + ".save", t["save"], cwd))
    config = t.get("config") or {}
    for port in config.get("expose") or []:
        try:
            ref.normalize_port(port)
        except ValueError as e:
            errors.append("%s.config.expose: %s" % (where, e))
    for key in ("interval", "timeout", "start_period"):
        value = (config.get("healthcheck") or {}).get(key)
        if value is not None:
            try:
                ref.parse_duration_ns(value)
            except ValueError as e:
                errors.append("%s.config.healthcheck.%s: %s" % (where, key, e))
    for vol in config.get("volumes") or []:
        if not str(vol).startswith("/"):
            errors.append("%s.config.volumes: %r must be an absolute path" % (where, vol))
    return errors


def _check_ec2(where, t):
    errors = []
    for key in ("region", "ssh_username"):
        if not t.get(key):
            errors.append("%s.%s: required for type ec2" % (where, key))
    if t.get("region") and not ref.AWS_REGION_RE.match(t["region"]):
        errors.append("%s.region: %r is not an AWS region name like us-west-2" % (where, t["region"]))
    for region in t.get("copy_to_regions") or []:
        if not ref.AWS_REGION_RE.match(str(region)):
            errors.append("%s.copy_to_regions: %r is not an AWS region name" % (where, region))
    if t.get("source_ami") and t.get("source_ami_filter"):
        errors.append("%s: give source_ami or source_ami_filter, not both" % where)
    elif not t.get("source_ami") and not t.get("source_ami_filter"):
        errors.append("%s: source_ami or source_ami_filter is required for type ec2" % where)
    if t.get("source_ami") and not ref.AMI_ID_RE.match(t["source_ami"]):
        errors.append("%s.source_ami: %r is not an AMI id like ami-0123456789abcdef0" % (where, t["source_ami"]))
    amifilter = t.get("source_ami_filter")
    if amifilter:
        unknown = set(amifilter) - {"name", "owners", "architecture", "most_recent", "filters"}
        if unknown:
            errors.append("%s.source_ami_filter: unknown keys %s" % (where, ", ".join(sorted(unknown))))
        if not amifilter.get("owners"):
            errors.append("%s.source_ami_filter.owners: required (which accounts you trust to publish the AMI)" % where)
    for cidr in t.get("allowed_cidrs") or []:
        if not ref.is_cidr(cidr):
            errors.append("%s.allowed_cidrs: %r is not a CIDR like 203.0.113.7/32" % (where, cidr))
    for acct in t.get("share_with_accounts") or []:
        if not ref.ACCOUNT_ID_RE.match(str(acct)):
            errors.append("%s.share_with_accounts: %r is not a 12-digit account id" % (where, acct))
    if not t.get("allowed_cidrs"):
        errors.append("%s.allowed_cidrs: required for type ec2 - the CIDRs allowed to reach SSH on the temporary "
                      "security group (your address as a /32; it is never opened to 0.0.0.0/0 unless listed)" % where)
    if t.get("ami_name") and not AMI_NAME_RE.match(str(t["ami_name"])):
        errors.append("%s.ami_name: %r must be 3-128 letters, digits, spaces and ( ) [ ] . / - ' @ _"
                      % (where, t["ami_name"]))
    if t.get("deprecate_after"):
        try:
            parse_deprecate_after(t["deprecate_after"])
        except ValueError as e:
            errors.append("%s.deprecate_after: %s" % (where, e))
    if bool(t.get("ssh_keypair_name")) != bool(t.get("ssh_private_key_file")):
        errors.append("%s: ssh_keypair_name and ssh_private_key_file go together" % where)
    tags = t.get("tags")
    if tags is not None and not isinstance(tags, dict):
        errors.append("%s.tags: must be a dict of tag names to values for type ec2" % where)
    if t.get("ssh_port") is not None and not 0 < int(t["ssh_port"]) < 65536:
        errors.append("%s.ssh_port: %r is not a port number" % (where, t.get("ssh_port")))
    return errors


def _kind(value):
    """The YAML word for a value's type (Ansible wraps values in its own subclasses)."""
    for kind, types in (("a list", list), ("a string", str), ("a boolean", bool), ("a number", (int, float))):
        if isinstance(value, types):
            return kind
    return type(value).__name__


def _role_name(entry):
    if isinstance(entry, str):
        return entry.strip()
    if isinstance(entry, dict):
        value = entry.get("role") or entry.get("name")
        return value.strip() if isinstance(value, str) else None
    return None


def role_entries(params):
    """[(role name, vars dict)] from image_roles."""
    return [(_role_name(e), (e.get("vars") or {}) if isinstance(e, dict) else {}) for e in params.get("image_roles") or []]


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


def hash_input(params, targets):
    """The part of a definition that decides what gets built (see OPERATIONAL_KEYS)."""
    data = {k: v for k, v in params.items() if k not in OPERATIONAL_KEYS and k != "image_targets"}
    data["image_targets"] = [{k: v for k, v in t.items() if k not in OPERATIONAL_TARGET_KEYS} for t in targets]
    return data


def plan_targets(params, build_id, build_hash, cwd, created=None, revision=None):
    """Normalized targets, in definition order, with everything the roles need precomputed."""
    only = set(params.get("image_only") or [])
    created = created or naming.iso_utc()
    planned = []
    for t in params["image_targets"]:
        t = {k: v for k, v in t.items() if k in COMMON_TARGET_KEYS | KEYS_BY_TYPE[t["type"]]}
        t["selected"] = not only or t["name"] in only
        t["builder_name"] = naming.builder_name(params["image_name"], t["name"], build_id)
        t["host"] = naming.builder_host(params["image_name"], t["name"])
        t["build_env"] = {str(k): str(v) for k, v in (t.get("build_env") or {}).items()}
        t["labels"] = naming.build_labels(build_id, params["image_name"], t["name"], naming.KIND_BUILDER,
                                          build_hash, params["image_version"], created)
        t["artifact_labels"] = dict(
            naming.build_labels(build_id, params["image_name"], t["name"], naming.KIND_ARTIFACT,
                                build_hash, params["image_version"], created),
            **naming.oci_labels(params["image_name"], params["image_version"], created, revision))
        if t["type"] == "docker":
            _plan_docker(t, params, build_hash, cwd)
        else:
            _plan_ec2(t, params, build_id)
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
    if t.get("save"):
        t["save"] = os.path.normpath(os.path.join(cwd, os.path.expanduser(t["save"])))
    t["build_volumes"] = [_absolute_bind(v, cwd) for v in t.get("build_volumes") or []]


def _plan_ec2(t, params, build_id):
    t["ami_name"] = t.get("ami_name") or "%s-%s-%s" % (params["image_name"], params["image_version"], build_id)
    t["tags"] = {str(k): str(v) for k, v in (t.get("tags") or {}).items()}


def _absolute_bind(volume, cwd):
    """'./cache:/root/.cache' -> '<cwd>/cache:/root/.cache': relative paths resolve like Packer's."""
    host, _sep, rest = str(volume).partition(":")
    return "%s:%s" % (os.path.normpath(os.path.join(cwd, os.path.expanduser(host))), rest)
