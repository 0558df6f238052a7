# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The checks of one image target and of image_engines that a type system cannot make: references, CIDRs, regions,
files that must exist, keys that go together. definition.check_definition calls them after the argument spec has
checked types and defaults, and before anything is created; every error names the key it is about."""

from __future__ import annotations

import importlib.util
import os
import re
import signal

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._common import references as ref
from ansible_collections.immutable.images.plugins.module_utils._common.naming import AMI_NAME_RE, parse_deprecate_after
from ansible_collections.immutable.images.plugins.plugin_utils._definition import as_written

SECURITY_GROUP_RE = re.compile(r"^sg-[0-9a-f]{8}(?:[0-9a-f]{9})?\Z")


def target_errors(where, t, cwd):
    """The errors of one target of a known type (`where` is its place in the definition: image_targets[N])."""
    return _check_common(where, t) + (_check_docker(where, t, cwd) if t["type"] == "docker" else _check_ec2(where, t, cwd))


# Characters a shell would act on: python_interpreter becomes part of a command line.
SHELL_META_RE = re.compile(r"[^A-Za-z0-9_./+=:@%-]")


def env_name_errors(env):
    return ["%r is not a variable name (no '=', not empty)" % (k,) for k in env if not str(k) or "=" in str(k)]


def _is_signal(value):
    text = str(value).strip().upper()
    if text.isdigit():
        return 0 < int(text) <= 64
    name = text if text.startswith("SIG") else "SIG" + text
    return hasattr(signal, name) and isinstance(getattr(signal, name), signal.Signals) or bool(
        re.match(r"^SIGRTM(?:IN|AX)(?:[+-]\d+)?\Z", name))


def is_open_cidr(cidr):
    return ref.is_cidr(cidr) and str(cidr).endswith("/0")


def _check_common(where, t):
    errors = []
    interpreter = t.get("python_interpreter")
    if interpreter is not None and (not str(interpreter) or SHELL_META_RE.search(str(interpreter))):
        errors.append("%s.python_interpreter: %r must be a path without spaces or shell metacharacters"
                      % (where, interpreter))
    errors.extend("%s.build_env: %s" % (where, e) for e in env_name_errors(t.get("build_env") or {}))
    return errors


def writable_parent_errors(var, path, cwd):
    parent = os.path.dirname(os.path.join(cwd, path)) or cwd
    if not os.path.isdir(parent):
        return ["%s: directory %r does not exist" % (var, parent)]
    if not os.access(parent, os.W_OK):
        return ["%s: directory %r is not writable" % (var, parent)]
    return []


def _auth_errors(where, auth):
    """A registry's credentials: a user and a password, or Amazon ECR's (boto3 then asks for them)."""
    if not auth:
        return []
    if auth.get("ecr"):
        if auth.get("username") is not None or auth.get("password") is not None:
            return ["%s: ecr: true takes the credentials from Amazon ECR; give username and password, or ecr, not both"
                    % where]
        if importlib.util.find_spec("boto3") is None:
            return ["%s: ecr: true needs boto3 (and botocore) in ansible-playbook's Python, to ask Amazon ECR for "
                    "the registry's credentials" % where]
        return []
    missing = [k for k in ("username", "password") if auth.get(k) is None]
    if missing:
        return ["%s: %s required (or ecr: true, for Amazon ECR's credentials)" % (where, " and ".join(missing) + (
            " are" if len(missing) == 2 else " is"))]
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
        elif os.path.normpath(parts[1]) in ("/", "/dev", "/proc", "/sys") or \
                (os.path.normpath(parts[1]) + "/").startswith("/dev/shm/"):
            errors.append("%s.build_volumes: %r would cover %s of the builder" % (where, vol, os.path.normpath(parts[1])))
        elif not parts[0].startswith(("/", ".", "~")):
            # a bare name would create a named volume that nothing ever removes
            errors.append("%s.build_volumes: %r must bind a host path (absolute, or relative like ./cache)" % (where, vol))
    if t.get("save"):
        errors.extend(writable_parent_errors(where + ".save", t["save"], cwd))
    for key in ("base_image_auth", "registry_auth"):
        errors.extend(_auth_errors("%s.%s" % (where, key), t.get(key)))
    errors.extend(_check_engine(where, t, cwd))
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
    if config.get("workdir") is not None and not str(config["workdir"]).startswith("/"):
        errors.append("%s.config.workdir: %r must be an absolute path" % (where, config["workdir"]))
    if config.get("stop_signal") is not None and not _is_signal(config["stop_signal"]):
        errors.append("%s.config.stop_signal: %r is not a signal name like SIGTERM or a number" % (where, config["stop_signal"]))
    errors.extend(_healthcheck_test_errors(where, (config.get("healthcheck") or {}).get("test")))
    errors.extend("%s.config.env: %s" % (where, e) for e in env_name_errors(config.get("env") or {}))
    errors.extend("%s.config.labels: %r is in the namespace %s. that the build's own labels use"
                  % (where, k, naming.LABEL_PREFIX) for k in config.get("labels") or {} if _is_our_label(k))
    return errors


def _healthcheck_test_errors(where, test):
    """HEALTHCHECK's test as Docker takes it: [NONE], [CMD, program, args...] or [CMD-SHELL, command] (whose words
    Docker joins). Anything else gives an image whose health check never runs (a string is a list of one here)."""
    if test is None:
        return []
    kind = test[0] if test else None
    if kind == "NONE" or kind in ("CMD", "CMD-SHELL") and len(test) > 1:
        return []
    command = " ".join(str(word) for word in (test[1:] if kind in ("CMD", "CMD-SHELL") else test))
    hint = "; to run it through the image's shell: %s" % as_written.flow(["CMD-SHELL", command]) if command else ""
    return ["%s.config.healthcheck.test: %s is not [NONE], [CMD, <program>, <args>...] or [CMD-SHELL, <command>]%s"
            % (where, as_written.flow(test), hint)]


DOCKER_HOST_SCHEMES = ("unix://", "tcp://", "ssh://")


def _check_engine(where, t, cwd):
    """docker_host and tls: a scheme the client knows, TLS files that exist and can be read (never shown)."""
    errors = []
    host = t.get("docker_host")
    if host and not str(host).startswith(DOCKER_HOST_SCHEMES):
        errors.append("%s.docker_host: %r must start with unix://, tcp:// or ssh://" % (where, host))
    tls = t.get("tls")
    if not tls:
        return errors
    if not str(host or os.environ.get("DOCKER_HOST") or "").startswith("tcp://"):
        errors.append("%s.tls: only for a tcp:// engine (docker_host, or DOCKER_HOST), not %r" % (where, host or "the local socket"))
    if bool(tls.get("client_cert")) != bool(tls.get("client_key")):
        errors.append("%s.tls: client_cert and client_key go together" % where)
    if tls.get("verify", True) and not tls.get("ca_cert"):
        errors.append("%s.tls.ca_cert: required to verify the engine (or set tls.verify: false)" % where)
    for key in ("ca_cert", "client_cert", "client_key"):
        if tls.get(key):
            path = os.path.join(cwd, os.path.expanduser(str(tls[key])))
            if not os.path.isfile(path) or not os.access(path, os.R_OK):
                errors.append("%s.tls.%s: %s is not a readable file" % (where, key, tls[key]))
    return errors


ENGINE_KEYS = {"docker_host", "tls", "max_builds"}
TLS_KEYS = {"ca_cert", "client_cert", "client_key", "verify", "hostname"}


def engines_errors(entries, cwd):
    """image_engines: docker_host strings or {docker_host, tls, max_builds}, each engine once."""
    errors, seen = [], set()
    for i, entry in enumerate(entries or []):
        where = "image_engines[%d]" % i
        if isinstance(entry, str):
            entry = {"docker_host": entry}
        if not isinstance(entry, dict):
            errors.append("%s: give a docker_host string or {docker_host, tls, max_builds}, got %s" % (where, value_kind(entry)))
            continue
        unknown = set(entry) - ENGINE_KEYS
        if unknown:
            errors.append("%s: unknown keys %s (use docker_host, tls and max_builds)" % (where, ", ".join(sorted(map(str, unknown)))))
        host = entry.get("docker_host")
        if not isinstance(host, str) or not host.strip():
            errors.append("%s.docker_host: required: a unix://, tcp:// or ssh:// engine" % where)
            continue
        if host in seen:
            errors.append("%s.docker_host: %r is in the pool more than once" % (where, host))
        seen.add(host)
        tls = entry.get("tls")
        if tls is not None and not isinstance(tls, dict):
            errors.append("%s.tls: must be a dict (ca_cert, client_cert, client_key, verify, hostname), got %s" % (where, value_kind(tls)))
        elif tls and set(tls) - TLS_KEYS:
            unknown_tls = ", ".join(sorted(map(str, set(tls) - TLS_KEYS)))
            errors.append("%s.tls: unknown keys %s (known: %s)" % (where, unknown_tls, ", ".join(sorted(TLS_KEYS))))
        else:
            errors.extend(_check_engine(where, {"docker_host": host, "tls": tls}, cwd))
        max_builds = entry.get("max_builds")
        if max_builds is not None and not (isinstance(max_builds, int) and not isinstance(max_builds, bool) and max_builds >= 1):
            errors.append("%s.max_builds: %r must be a whole number of at least 1" % (where, max_builds))
    return errors


def _is_our_label(key):
    return str(key) == naming.LABEL_PREFIX or str(key).startswith(naming.LABEL_PREFIX + ".")


def _check_ec2(where, t, cwd):
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
    if t.get("source_ami") and not (ref.AMI_ID_RE.match(t["source_ami"]) or ref.SSM_AMI_RE.match(t["source_ami"])):
        errors.append("%s.source_ami: %r is not an AMI id like ami-0123456789abcdef0, nor a parameter that holds one "
                      "like resolve:ssm:/aws/service/debian/release/12/latest/amd64" % (where, t["source_ami"]))
    amifilter = t.get("source_ami_filter")
    if amifilter:
        unknown = set(amifilter) - {"name", "owners", "architecture", "most_recent", "filters"}
        if unknown:
            errors.append("%s.source_ami_filter: unknown keys %s" % (where, ", ".join(sorted(unknown))))
        if not amifilter.get("owners"):
            errors.append("%s.source_ami_filter.owners: required (which accounts you trust to publish the AMI)" % where)
        elif not isinstance(amifilter["owners"], list):
            errors.append("%s.source_ami_filter.owners: must be a list of account ids or aliases, got %s"
                          % (where, value_kind(amifilter["owners"])))
    for cidr in t.get("allowed_cidrs") or []:
        if not ref.is_cidr(cidr):
            errors.append("%s.allowed_cidrs: %r is not a CIDR like 203.0.113.7/32" % (where, cidr))
        elif is_open_cidr(cidr) and not t.get("allow_open_ssh"):
            errors.append("%s.allowed_cidrs: %r opens SSH of the builder to the whole internet; set allow_open_ssh: "
                          "true to accept that" % (where, cidr))
    if t.get("share_snapshots") and not t.get("share_with_accounts"):
        errors.append("%s.share_snapshots: shares the snapshots with the accounts of share_with_accounts, which lists "
                      "none (AWS shares snapshots with accounts only)" % where)
    for acct in t.get("share_with_accounts") or []:
        if not ref.ACCOUNT_ID_RE.match(str(acct)):
            errors.append("%s.share_with_accounts: %r is not a 12-digit account id" % (where, acct))
    if not t.get("allowed_cidrs") and not t.get("security_group_ids") and not t.get("security_group_filter"):
        errors.append("%s.allowed_cidrs: required for type ec2 - the CIDRs allowed to reach SSH on the temporary "
                      "security group (your address as a /32; it is never opened to 0.0.0.0/0 unless listed), unless "
                      "security_group_ids or security_group_filter names groups of yours that allow it" % where)
    if t.get("subnet_id") and t.get("subnet_filter"):
        errors.append("%s: give subnet_id or subnet_filter, not both" % where)
    for key in ("subnet_filter", "security_group_filter"):
        found = t.get(key) or {}
        if found and not found.get("filters"):
            errors.append("%s.%s.filters: give at least one filter (name: value)" % (where, key))
    if (t.get("subnet_filter") or {}).get("most_free") and (t.get("subnet_filter") or {}).get("random"):
        errors.append("%s.subnet_filter: most_free or random, not both" % where)
    for group in t.get("security_group_ids") or []:
        if not SECURITY_GROUP_RE.match(str(group)):
            errors.append("%s.security_group_ids: %r is not a security group id like sg-0123456789abcdef0"
                          % (where, group))
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
    errors.extend(_aws_tag_errors(where + ".tags", tags if isinstance(tags, dict) else {}))
    errors.extend(_aws_tag_errors(where + ".run_tags", t.get("run_tags") or {}))
    polling = t.get("aws_polling") or {}
    if polling.get("delay_seconds") is not None and polling["delay_seconds"] < 0:
        errors.append("%s.aws_polling.delay_seconds: %r is below 0" % (where, polling["delay_seconds"]))
    if polling.get("max_attempts") is not None and polling["max_attempts"] < 1:
        errors.append("%s.aws_polling.max_attempts: %r is below 1" % (where, polling["max_attempts"]))
    hops = (t.get("metadata_options") or {}).get("http_put_response_hop_limit")
    if hops is not None and not 1 <= hops <= 64:
        errors.append("%s.metadata_options.http_put_response_hop_limit: %r is not 1 to 64" % (where, hops))
    if t.get("ssh_port") is not None and not 0 < int(t["ssh_port"]) < 65536:
        errors.append("%s.ssh_port: %r is not a port number" % (where, t.get("ssh_port")))
    if t.get("watchdog_timeout") is not None and not (int(t["watchdog_timeout"]) == 0 or int(t["watchdog_timeout"]) >= 60):
        errors.append("%s.watchdog_timeout: %r must be 0 (no watchdog) or at least 60 seconds" % (where, t["watchdog_timeout"]))
    return errors + _check_volumes(where, t) + _check_bastion(where, t, cwd) + _check_kms_keys(where, t)


# AWS takes 50 tags per resource; the build's own take 10 of them (its labels, Name, the provenance's digest)
MAX_USER_TAGS = 40


def _aws_tag_errors(where, tags):
    """What AWS would refuse of tags, said before anything is created, and the build's own names."""
    errors = ["%s: %r is in the namespace %s. that the build's own tags use" % (where, k, naming.LABEL_PREFIX)
              for k in tags if _is_our_label(k)]
    errors.extend("%s: %r: a tag name is 1 to 128 characters and does not start with aws: (AWS's own)" % (where, k)
                  for k in tags if not 0 < len(str(k)) <= 128 or str(k).lower().startswith("aws:"))
    errors.extend("%s: the value of %r is longer than AWS's 256 characters" % (where, k)
                  for k, v in tags.items() if len(str(v if v is not None else "")) > 256)
    if len(tags) > MAX_USER_TAGS:
        errors.append("%s: %d tags; AWS takes 50 per resource, of which the build's own use 10: at most %d"
                      % (where, len(tags), MAX_USER_TAGS))
    return errors


# Device names AWS gives EBS volumes of Linux instances (sda/xvda are root devices)
EBS_DEVICE_RE = re.compile(r"^/dev/(?:sd|xvd)[b-z][a-z]?\Z")


def _performance_errors(where, volume):
    """iops and throughput as AWS takes them: positive, throughput of gp3 only, IOPS of the types that provision them
    (the ranges are AWS's to say: they grow)."""
    errors = []
    kind = volume.get("type")
    for key in ("iops", "throughput"):
        if volume.get(key) is not None and volume[key] < 1:
            errors.append("%s.%s: %r must be a positive number" % (where, key, volume[key]))
    if volume.get("throughput") is not None and kind != "gp3":
        errors.append("%s.throughput: needs type: gp3 (only gp3 volumes take a throughput)" % where)
    if volume.get("iops") is not None and kind not in ("gp3", "io1", "io2"):
        errors.append("%s.iops: needs type: gp3, io1 or io2 (the types whose IOPS are provisioned)" % where)
    if kind in ("io1", "io2") and volume.get("iops") is None:
        errors.append("%s.iops: required with type %s" % (where, kind))
    return errors


def _check_volumes(where, t):
    errors, seen = [], set()
    errors.extend(_performance_errors(where + ".root_volume", t.get("root_volume") or {}))
    for i, volume in enumerate(t.get("extra_volumes") or []):
        device = volume.get("device_name")
        if not EBS_DEVICE_RE.match(str(device)):
            errors.append("%s.extra_volumes[%d].device_name: %r is not an EBS device name like /dev/sdf or /dev/xvdf"
                          % (where, i, device))
        elif device in seen:
            errors.append("%s.extra_volumes[%d].device_name: %s is given more than once" % (where, i, device))
        seen.add(device)
        if volume.get("size") is not None and volume["size"] < 1:
            errors.append("%s.extra_volumes[%d].size: %r must be at least 1 (GiB)" % (where, i, volume["size"]))
        if volume.get("kms_key_id") and not volume.get("encrypted"):
            errors.append("%s.extra_volumes[%d].kms_key_id: needs encrypted: true" % (where, i))
        errors.extend(_performance_errors("%s.extra_volumes[%d]" % (where, i), volume))
    return errors


def _check_kms_keys(where, t):
    """A customer KMS key is used in its own region only: each copy's key is given per region (Packer's
    region_kms_key_ids), for every copy when any is, and a copy of a shared AMI under a customer key needs one."""
    errors = []
    volumes = [("root_volume", t.get("root_volume") or {})]
    volumes += [("extra_volumes[%d]" % i, v) for i, v in enumerate(t.get("extra_volumes") or [])]
    for name, volume in volumes:
        key = volume.get("kms_key_id")
        if key and t.get("region") and _kms_region(key) not in (None, t["region"]):
            errors.append("%s.%s.kms_key_id: the key is in %s, not in the build's region %s"
                          % (where, name, _kms_region(key), t["region"]))
    customer_keys = [name for name, volume in volumes if volume.get("kms_key_id")]
    keys = t.get("region_kms_key_ids") or {}
    copies = [str(r) for r in t.get("copy_to_regions") or [] if r != t.get("region")]
    for region, key in keys.items():
        if region not in copies:
            errors.append("%s.region_kms_key_ids: %s is not a region of copy_to_regions" % (where, region))
        elif key and _kms_region(key) not in (None, region):
            errors.append("%s.region_kms_key_ids.%s: the key is in %s; a copy to %s needs a key of %s"
                          % (where, region, _kms_region(key), region, region))
    missing = [r for r in copies if r not in keys]
    if keys and missing:
        errors.append("%s.region_kms_key_ids: no key for %s of copy_to_regions (give every copy region a key, or \"\" "
                      "for that region's default EBS key)" % (where, ", ".join(missing)))
    shared = t.get("share_with_accounts") or t.get("share_with_organizations") or t.get("share_with_ous")
    if customer_keys and shared and copies and not keys:
        errors.append("%s: the AMI is encrypted with a customer key (%s) and shared, and its copies "
                      "to %s need region_kms_key_ids: a key of each region (a copy is otherwise encrypted with that "
                      "region's AWS managed key, which cannot be shared)"
                      % (where, ", ".join(name + ".kms_key_id" for name in customer_keys), ", ".join(copies)))
    return errors


def _kms_region(key):
    """The region of a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/... or alias/...), None for a key id or alias."""
    parts = str(key).split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" and parts[2] == "kms" else None


def _check_bastion(where, t, cwd):
    errors = []
    host = t.get("ssh_bastion_host")
    if not host:
        given = [k for k in ("ssh_bastion_username", "ssh_bastion_private_key_file") if t.get(k)]
        if t.get("ssh_bastion_port") not in (None, 22):
            given.append("ssh_bastion_port")
        if given:
            errors.append("%s: %s without ssh_bastion_host" % (where, ", ".join(given)))
        return errors
    if str(host).startswith("-") or any(c.isspace() for c in str(host)):
        errors.append("%s.ssh_bastion_host: %r is not a host name or address" % (where, host))
    if t.get("ssh_bastion_port") is not None and not 0 < int(t["ssh_bastion_port"]) < 65536:
        errors.append("%s.ssh_bastion_port: %r is not a port number" % (where, t["ssh_bastion_port"]))
    key = t.get("ssh_bastion_private_key_file")
    if key and not os.path.isfile(os.path.join(cwd, os.path.expanduser(str(key)))):
        errors.append("%s.ssh_bastion_private_key_file: %r does not exist (relative to %s)" % (where, key, cwd))
    return errors


def value_kind(value):
    """The YAML word for a value's type (Ansible wraps values in its own subclasses)."""
    for kind, types in (("a list", list), ("a string", str), ("a boolean", bool), ("a number", (int, float))):
        if isinstance(value, types):
            return kind
    return type(value).__name__
