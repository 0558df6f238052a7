# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""definition.py: type check with the launch role's spec (as the action plugin does), then the
semantic checks, the build plan, the build-hash input and the docker config normalization."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.immutable.images.plugins.module_utils._common import inputs as build_inputs
from ansible_collections.immutable.images.plugins.plugin_utils._definition import as_written, definition, shared_names
from ansible_collections.immutable.images.plugins.module_utils._common import naming

BUILD = "20261123T2135Z-7f3a"
HASH = "abc123def456"
CREATED = "2026-11-23T21:35:00Z"
AMI = "ami-0123456789abcdef0"

SPEC = definition.load_definition_spec()

DOCKER = {"name": "container", "type": "docker", "base_image": "debian:bookworm-slim"}
# allowed_cidrs is required: the temporary security group never guesses who may reach SSH.
EC2 = {"name": "aws", "type": "ec2", "region": "us-west-2", "source_ami": AMI, "ssh_username": "admin",
       "allowed_cidrs": ["203.0.113.7/32"]}


def typed(params):
    """Type-check and fill defaults like image_definition._validated; fail the test on spec errors."""
    result = ArgumentSpecValidator(SPEC).validate(copy.deepcopy(params))
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def errors_of(params, cwd):
    """The errors the action plugin reports: the spec's first, then the semantic ones."""
    result = ArgumentSpecValidator(SPEC).validate(copy.deepcopy(params))
    if result.error_messages:
        return list(result.error_messages)
    return definition.check_definition(result.validated_parameters, str(cwd))


def definition_with(*targets, **top):
    params = {"image_name": "webapp", "image_version": "1.4.2",
              "image_targets": [copy.deepcopy(t) for t in (targets or (DOCKER,))]}
    params.update(copy.deepcopy(top))
    return params


def docker(**changes):
    return dict(DOCKER, **changes)


def ec2(**changes):
    target = dict(EC2, **changes)
    return {k: v for k, v in target.items() if v is not None}


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "server.py").write_text("print('hi')\n")
    (tmp_path / "app.conf").write_text("x=1\n")
    (tmp_path / "artifacts").mkdir()
    return tmp_path


# --- semantic errors: each names the variable it is about -------------------------------------

KMS_KEY = "arn:aws:kms:%s:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SEMANTIC_CASES = [
    ("bad-image-name", definition_with(image_name="WebApp"), "image_name: 'WebApp'"),
    ("image-name-leading-dash", definition_with(image_name="-webapp"), "image_name:"),
    ("version-not-semver", definition_with(image_version="1.4"), "image_version: '1.4'"),
    ("version-with-v", definition_with(image_version="v1.4.2"), "image_version: 'v1.4.2'"),
    ("version-leading-zero", definition_with(image_version="1.04.2"), "image_version:"),
    ("only-unknown-target", definition_with(image_only=["nope"]), "image_only: 'nope' names no target"),
    ("file-src-missing", definition_with(image_files=[{"src": "nope/", "dest": "/app"}]),
     "image_files[0].src: 'nope/' does not exist"),
    ("file-dest-relative", definition_with(image_files=[{"src": "app.conf", "dest": "etc/app.conf"}]),
     "image_files[0].dest: 'etc/app.conf' must be an absolute path"),
    ("second-file-src-missing", definition_with(image_files=[{"src": "dist/", "dest": "/app"},
                                                             {"src": "gone", "dest": "/x"}]),
     "image_files[1].src"),
    ("role-without-name", definition_with(image_roles=[{"vars": {"a": 1}}]), "image_roles[0]: give a role name"),
    ("role-empty-string", definition_with(image_roles=["acme.webapp", " "]), "image_roles[1]: give a role name"),
    ("role-keyword-elsewhere", definition_with(image_roles=[{"role": "acme.webapp", "when": "x", "become": True,
                                                             "port": 1, "delegate_to": "localhost", "connection": "ssh"}]),
     "image_roles[0]: connection, delegate_to, port: these keywords of a play's roles: entry would run the role"),
    ("role-environment-not-dict", definition_with(image_roles=[{"role": "acme.webapp", "environment": ["A=1"]}]),
     "image_roles[0].environment: must be a dict or a template that gives one"),
    ("role-vars-not-dict", definition_with(image_roles=[{"role": "acme.webapp", "vars": ["a"]}]),
     "image_roles[0].vars: must be a dict"),
    ("manifest-dir-missing", definition_with(image_manifest="nope/manifest.json"), "image_manifest: directory"),
    ("empty-targets", definition_with(image_targets=[]), "image_targets: at least one target is required"),
    ("duplicate-target-names", definition_with(DOCKER, docker(base_image="alpine")),
     "image_targets[1].name: 'container' is used by more than one target"),
    ("bad-second-target-name", definition_with(DOCKER, docker(name="Web App")), "image_targets[1].name: 'Web App'"),
    ("target-name-with-dot", definition_with(docker(name="my.target")), "image_targets[0].name: 'my.target'"),
    # docker targets
    ("docker-no-base-image", definition_with({"name": "container", "type": "docker"}),
     "image_targets[0].base_image: required for type docker"),
    ("docker-bad-base-image", definition_with(docker(base_image="Debian:12")),
     "image_targets[0].base_image: 'Debian:12' is not a valid image reference"),
    ("docker-base-image-bad-digest", definition_with(docker(base_image="debian@sha256:123")),
     "image_targets[0].base_image"),
    ("docker-foreign-region", definition_with(docker(region="us-west-2")),
     "image_targets[0]: region not valid for type docker"),
    ("docker-foreign-non-default-ssh-port", definition_with(docker(ssh_port=2222)),
     "image_targets[0]: ssh_port not valid for type docker"),
    ("docker-foreign-keys-listed", definition_with(docker(source_ami=AMI, ssh_username="admin")),
     "image_targets[0]: source_ami, ssh_username not valid for type docker"),
    ("docker-bad-repository", definition_with(docker(repository="acme/webapp:1.0")),
     "image_targets[0].repository: 'acme/webapp:1.0'"),
    ("docker-bad-tag", definition_with(docker(tags=["1.4.2", "bad tag"])),
     "image_targets[0].tags: 'bad tag' is not a valid Docker tag"),
    ("docker-tag-leading-dot", definition_with(docker(tags=[".hidden"])), "image_targets[0].tags: '.hidden'"),
    ("docker-empty-tags", definition_with(docker(tags=[])), "image_targets[0].tags: must be a non-empty list"),
    ("docker-tags-dict", definition_with(docker(tags={"team": "web"})), "image_targets[0].tags: must be a non-empty list"),
    ("docker-bad-push", definition_with(docker(push=["Registry.example.com/Acme"])), "image_targets[0].push:"),
    ("docker-bad-build-volume", definition_with(docker(build_volumes=["/cache"])),
     "image_targets[0].build_volumes: '/cache' is not host:/container[:ro]"),
    ("docker-named-volume", definition_with(docker(build_volumes=["cache:/root/.cache"])),
     "image_targets[0].build_volumes: 'cache:/root/.cache' must bind a host path"),
    ("docker-save-dir-missing", definition_with(docker(save="nope/webapp.tar")), "image_targets[0].save: directory"),
    ("docker-bad-expose", definition_with(docker(config={"expose": ["8080/icmp"]})), "image_targets[0].config.expose:"),
    ("docker-expose-out-of-range", definition_with(docker(config={"expose": ["70000"]})),
     "image_targets[0].config.expose:"),
    ("docker-bad-healthcheck-interval",
     definition_with(docker(config={"healthcheck": {"test": ["CMD", "true"], "interval": "30 seconds"}})),
     "image_targets[0].config.healthcheck.interval:"),
    ("docker-bad-healthcheck-timeout",
     definition_with(docker(config={"healthcheck": {"test": ["CMD", "true"], "timeout": "soon"}})),
     "image_targets[0].config.healthcheck.timeout:"),
    ("docker-bad-healthcheck-start-period",
     definition_with(docker(config={"healthcheck": {"test": ["CMD", "true"], "start_period": "1x"}})),
     "image_targets[0].config.healthcheck.start_period:"),
    # a string is a list of one after the spec: an image whose health check never runs
    ("docker-healthcheck-test-string", definition_with(docker(config={"healthcheck": {"test": "curl -f http://x/"}})),
     'image_targets[0].config.healthcheck.test: ["curl -f http://x/"] is not [NONE], [CMD, <program>, <args>...] or '
     '[CMD-SHELL, <command>]; to run it through the image\'s shell: ["CMD-SHELL", "curl -f http://x/"]'),
    ("docker-healthcheck-test-without-kind", definition_with(docker(config={"healthcheck": {"test": ["curl", "-f", "x"]}})),
     'to run it through the image\'s shell: ["CMD-SHELL", "curl -f x"]'),
    ("docker-healthcheck-cmd-without-program", definition_with(docker(config={"healthcheck": {"test": ["CMD"]}})),
     'image_targets[0].config.healthcheck.test: ["CMD"] is not'),
    ("docker-relative-volume", definition_with(docker(config={"volumes": ["data"]})),
     "image_targets[0].config.volumes: 'data' must be an absolute path"),
    # ec2 targets
    ("ec2-foreign-base-image", definition_with(ec2(base_image="debian")),
     "image_targets[0]: base_image"),
    ("ec2-foreign-config", definition_with(ec2(config={"user": "app"})),
     "image_targets[0]: config not valid for type ec2"),
    ("ec2-both-sources", definition_with(ec2(source_ami_filter={"name": "debian-*", "owners": ["136693071363"]})),
     "image_targets[0]: give source_ami or source_ami_filter, not both"),
    ("ec2-no-source", definition_with(ec2(source_ami=None)),
     "image_targets[0]: source_ami or source_ami_filter is required"),
    ("ec2-bad-source-ami", definition_with(ec2(source_ami="ami-xyz")), "image_targets[0].source_ami: 'ami-xyz'"),
    ("ec2-empty-source-parameter", definition_with(ec2(source_ami="resolve:ssm:")),
     "image_targets[0].source_ami: 'resolve:ssm:' is not an AMI id like ami-0123456789abcdef0, nor a parameter"),
    ("ec2-bad-source-parameter", definition_with(ec2(source_ami="resolve:ssm:/images/web app")),
     "image_targets[0].source_ami: 'resolve:ssm:/images/web app' is not an AMI id"),
    ("ec2-filter-without-owners", definition_with(ec2(source_ami=None, source_ami_filter={"name": "debian-*"})),
     "image_targets[0].source_ami_filter.owners: required"),
    ("ec2-filter-unknown-key",
     definition_with(ec2(source_ami=None, source_ami_filter={"name": "x", "owners": ["self"], "owner": "x"})),
     "image_targets[0].source_ami_filter: unknown keys owner"),
    ("ec2-bad-cidr", definition_with(ec2(allowed_cidrs=["10.0.0.1/8"])),
     "image_targets[0].allowed_cidrs: '10.0.0.1/8' is not a CIDR"),
    ("ec2-cidr-garbage", definition_with(ec2(allowed_cidrs=["office"])), "image_targets[0].allowed_cidrs: 'office'"),
    ("ec2-bad-region", definition_with(ec2(region="mars-north-1")),
     "image_targets[0].region: 'mars-north-1' is not an AWS region"),
    ("ec2-region-without-number", definition_with(ec2(region="us-west")), "image_targets[0].region: 'us-west'"),
    ("ec2-no-region", definition_with(ec2(region=None)), "image_targets[0].region: required for type ec2"),
    ("ec2-no-ssh-username", definition_with(ec2(ssh_username=None)),
     "image_targets[0].ssh_username: required for type ec2"),
    ("ec2-bad-copy-region", definition_with(ec2(copy_to_regions=["eu-west-1", "Europe"])),
     "image_targets[0].copy_to_regions: 'Europe'"),
    ("ec2-bad-account", definition_with(ec2(share_with_accounts=["12345"])),
     "image_targets[0].share_with_accounts: '12345' is not a 12-digit account id"),
    ("ec2-keypair-without-key", definition_with(ec2(ssh_keypair_name="mine")),
     "image_targets[0]: ssh_keypair_name and ssh_private_key_file go together"),
    ("ec2-key-without-keypair", definition_with(ec2(ssh_private_key_file="~/.ssh/id")),
     "image_targets[0]: ssh_keypair_name and ssh_private_key_file go together"),
    ("ec2-tags-list", definition_with(ec2(tags=["web"])), "image_targets[0].tags: must be a dict"),
    ("ec2-bad-ssh-port", definition_with(ec2(ssh_port=70000)), "image_targets[0].ssh_port: 70000"),
    ("ec2-bastion-user-without-host", definition_with(ec2(ssh_bastion_username="jump", ssh_bastion_port=2200)),
     "image_targets[0]: ssh_bastion_username, ssh_bastion_port without ssh_bastion_host"),
    ("ec2-bastion-missing-key", definition_with(ec2(ssh_bastion_host="bastion.example.com",
                                                    ssh_bastion_private_key_file="keys/jump")),
     "image_targets[0].ssh_bastion_private_key_file: 'keys/jump' does not exist (relative to "),
    ("ec2-bastion-option-for-a-host", definition_with(ec2(ssh_bastion_host="-oProxyCommand=id")),
     "image_targets[0].ssh_bastion_host: '-oProxyCommand=id' is not a host name or address"),
    ("ec2-bastion-bad-port", definition_with(ec2(ssh_bastion_host="bastion.example.com", ssh_bastion_port=0)),
     "image_targets[0].ssh_bastion_port: 0 is not a port number"),
    ("docker-bastion", definition_with(docker(ssh_bastion_host="bastion.example.com")),
     "image_targets[0]: ssh_bastion_host not valid for type docker"),
    ("ec2-kms-key-of-no-copy", definition_with(ec2(copy_to_regions=["eu-west-1"],
                                                   region_kms_key_ids={"eu-west-1": "", "ap-south-1": "alias/images"})),
     "image_targets[0].region_kms_key_ids: ap-south-1 is not a region of copy_to_regions"),
    ("ec2-kms-key-of-another-region", definition_with(ec2(copy_to_regions=["eu-west-1"],
                                                          region_kms_key_ids={"eu-west-1": KMS_KEY % "us-west-2"})),
     "image_targets[0].region_kms_key_ids.eu-west-1: the key is in us-west-2; a copy to eu-west-1 needs a key of eu-west-1"),
    ("ec2-kms-key-for-every-copy", definition_with(ec2(copy_to_regions=["eu-west-1", "eu-central-1"],
                                                       region_kms_key_ids={"eu-west-1": "alias/images"})),
     "image_targets[0].region_kms_key_ids: no key for eu-central-1 of copy_to_regions"),
    ("ec2-shared-customer-key-copies", definition_with(ec2(
        copy_to_regions=["eu-west-1"], share_with_accounts=["111122223333"],
        root_volume={"encrypted": True, "kms_key_id": KMS_KEY % "us-west-2"})),
     "image_targets[0]: the AMI is encrypted with a customer key (root_volume.kms_key_id) and shared, and its copies "
     "to eu-west-1 need region_kms_key_ids"),
    ("ec2-share-snapshots-without-accounts", definition_with(ec2(share_snapshots=True)),
     "image_targets[0].share_snapshots: shares the snapshots with the accounts of share_with_accounts, which lists none"),
    ("ec2-bad-security-group", definition_with(ec2(security_group_ids=["default"])),
     "image_targets[0].security_group_ids: 'default' is not a security group id like sg-0123456789abcdef0"),
    ("ec2-root-key-of-another-region", definition_with(ec2(root_volume={"kms_key_id": KMS_KEY % "eu-west-1"})),
     "image_targets[0].root_volume.kms_key_id: the key is in eu-west-1, not in the build's region us-west-2"),
    ("ec2-extra-volume-device", definition_with(ec2(extra_volumes=[{"device_name": "sdf", "size": 4}])),
     "image_targets[0].extra_volumes[0].device_name: 'sdf' is not an EBS device name like /dev/sdf or /dev/xvdf"),
    ("ec2-extra-volume-twice", definition_with(ec2(extra_volumes=[{"device_name": "/dev/sdf", "size": 4},
                                                                  {"device_name": "/dev/sdf", "size": 8}])),
     "image_targets[0].extra_volumes[1].device_name: /dev/sdf is given more than once"),
    ("ec2-extra-volume-size", definition_with(ec2(extra_volumes=[{"device_name": "/dev/xvdg", "size": 0}])),
     "image_targets[0].extra_volumes[0].size: 0 must be at least 1 (GiB)"),
    ("ec2-extra-volume-key-unencrypted", definition_with(ec2(extra_volumes=[
        {"device_name": "/dev/sdf", "size": 4, "kms_key_id": "alias/images"}])),
     "image_targets[0].extra_volumes[0].kms_key_id: needs encrypted: true"),
    ("ec2-extra-volume-key-of-another-region", definition_with(ec2(extra_volumes=[
        {"device_name": "/dev/sdf", "size": 4, "encrypted": True, "kms_key_id": KMS_KEY % "eu-west-1"}])),
     "image_targets[0].extra_volumes[0].kms_key_id: the key is in eu-west-1, not in the build's region us-west-2"),
    ("ec2-shared-customer-key-on-an-extra-volume", definition_with(ec2(
        copy_to_regions=["eu-west-1"], share_with_accounts=["111122223333"],
        extra_volumes=[{"device_name": "/dev/sdf", "size": 4, "encrypted": True, "kms_key_id": KMS_KEY % "us-west-2"}])),
     "image_targets[0]: the AMI is encrypted with a customer key (extra_volumes[0].kms_key_id) and shared"),
    ("ec2-subnet-twice", definition_with(ec2(subnet_id="subnet-0123", subnet_filter={"filters": {"tag:a": "b"}})),
     "image_targets[0]: give subnet_id or subnet_filter, not both"),
    ("ec2-subnet-filter-empty", definition_with(ec2(subnet_filter={"filters": {}})),
     "image_targets[0].subnet_filter.filters: give at least one filter (name: value)"),
    ("ec2-subnet-filter-two-rules", definition_with(ec2(subnet_filter={"filters": {"tag:a": "b"}, "most_free": True,
                                                                       "random": True})),
     "image_targets[0].subnet_filter: most_free or random, not both"),
    ("second-target-indexed", definition_with(DOCKER, ec2(region="nowhere")), "image_targets[1].region: 'nowhere'"),
]


@pytest.mark.parametrize("params, expected", [c[1:] for c in SEMANTIC_CASES], ids=[c[0] for c in SEMANTIC_CASES])
def test_semantic_errors_name_the_variable(params, expected, workdir):
    errors = errors_of(params, workdir)
    assert any(expected in e for e in errors), errors
    # every semantic error starts with the variable it is about
    assert all(e.startswith("image_") for e in errors), errors


SPEC_CASES = [
    ("missing-image-name", {"image_version": "1.4.2", "image_targets": [DOCKER]}, "image_name"),
    ("missing-targets", {"image_name": "webapp", "image_version": "1.4.2"}, "image_targets"),
    ("bad-target-type", definition_with({"name": "x", "type": "lxc"}), "docker, ec2, got: lxc"),
    ("target-without-name", definition_with({"type": "docker", "base_image": "debian"}),
     "missing required arguments: name"),
    ("unknown-target-key", definition_with(docker(bogus=1)), "bogus"),
    ("bad-on-error", definition_with(image_on_error="ignore"), "image_on_error"),
    ("file-without-dest", definition_with(image_files=[{"src": "dist/"}]), "dest"),
    ("healthcheck-without-test", definition_with(docker(config={"healthcheck": {"interval": "30s"}})), "test"),
    ("bad-pull-policy", definition_with(docker(pull="sometimes")), "sometimes"),
]


@pytest.mark.parametrize("params, expected", [c[1:] for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES])
def test_type_errors_come_from_the_spec(params, expected, workdir):
    result = ArgumentSpecValidator(SPEC).validate(copy.deepcopy(params))
    assert result.error_messages
    assert any(expected in e for e in result.error_messages), result.error_messages


def test_all_errors_reported_at_once(workdir):
    params = definition_with(docker(base_image="Bad", tags=["bad tag"]), docker(name="Bad"),
                             image_version="1", image_only=["zzz"])
    errors = errors_of(params, workdir)
    for var in ("image_version", "image_targets[0].base_image", "image_targets[0].tags", "image_targets[1].name",
                "image_only"):
        assert any(e.startswith(var) for e in errors), (var, errors)


def test_definition_error_lists_every_message():
    exc = definition.DefinitionError(["image_name: bad", "image_version: bad"])
    assert exc.errors == ["image_name: bad", "image_version: bad"]
    assert str(exc) == "Invalid image definition:\n  - image_name: bad\n  - image_version: bad"


# --- valid definitions ------------------------------------------------------------------------

FULL_DOCKER = {
    "name": "container", "type": "docker", "base_image": "debian:bookworm-slim", "pull": "always",
    "network_mode": "host", "repository": "registry.example.com:5000/acme/webapp", "tags": ["1.4.2", "latest"],
    "config": {"user": "app", "workdir": "/app", "cmd": ["python3", "/app/server.py"], "entrypoint": [],
               "env": {"PORT": "8080"}, "expose": ["8080/tcp", "53/udp", "9090"], "labels": {"team": "web"},
               "volumes": ["/data"], "healthcheck": {"test": ["CMD", "true"], "interval": "30s", "timeout": "1m30s"}},
    "push": ["registry.example.com/acme/webapp", "localhost:5000/webapp"], "save": "artifacts/webapp.tar",
    "squash": True, "build_volumes": ["/var/cache/apt:/var/cache/apt", "/tmp/x:/x:ro"], "build_env": {"A": 1},
}

VALID_DOCKER_CASES = [
    ("minimal", definition_with()),
    ("healthchecks-as-docker-takes-them", definition_with(*[docker(name="t%d" % i, config={"healthcheck": {"test": t}})
                                                            for i, t in enumerate((["NONE"], ["CMD", "true"],
                                                                                   ["CMD-SHELL", "curl -f x || exit 1"],
                                                                                   ["CMD-SHELL", "curl", "-f", "x"]))],
                                                          image_only=["t0"])),
    ("full-docker", definition_with(FULL_DOCKER, image_files=[{"src": "dist/", "dest": "/app"},
                                                              {"src": "app.conf", "dest": "/etc/app/"}],
                                    image_roles=["acme.webapp", {"role": "acme.tuning", "vars": {"workers": 4}},
                                                 {"name": "acme.other"}],
                                    image_manifest="artifacts/build-manifest.json", image_on_error="keep")),
    ("two-docker-targets-only-one", definition_with(DOCKER, docker(name="alpine", base_image="alpine:3.20"),
                                                    image_only=["alpine"])),
    ("prerelease-and-build-metadata", definition_with(image_version="2.0.0-rc.1+build.5")),
    ("digest-base-image", definition_with(docker(base_image="debian@sha256:" + "0" * 64))),
    ("manifest-in-cwd", definition_with(image_manifest="manifest.json")),
    ("docker-with-default-ec2-values", definition_with(docker(ssh_port=22, instance_type="t3.micro"))),
]


@pytest.mark.parametrize("params", [c[1] for c in VALID_DOCKER_CASES], ids=[c[0] for c in VALID_DOCKER_CASES])
def test_valid_definitions_have_no_errors(params, workdir):
    assert errors_of(params, workdir) == []


VALID_EC2_CASES = [
    ("minimal-ec2", definition_with(EC2)),
    ("ec2-shared-customer-key-with-a-key-per-copy", definition_with(ec2(
        copy_to_regions=["eu-west-1", "us-west-2", "eu-central-1"], share_with_accounts=["123456789012"],
        root_volume={"encrypted": True, "kms_key_id": KMS_KEY % "us-west-2"},
        region_kms_key_ids={"eu-west-1": KMS_KEY % "eu-west-1", "eu-central-1": "alias/images"}))),
    ("ec2-own-security-groups-without-cidrs", definition_with(ec2(
        allowed_cidrs=[], security_group_ids=["sg-0123456789abcdef0", "sg-01234567"]))),
    ("ec2-imds-v2", definition_with(ec2(imds_support="v2.0"))),
    ("ec2-network-by-filters", definition_with(ec2(
        allowed_cidrs=[], subnet_filter={"filters": {"tag:Purpose": "build"}, "most_free": True},
        security_group_filter={"filters": {"tag:Purpose": "build"}}))),
    ("ec2-extra-volumes", definition_with(ec2(extra_volumes=[
        {"device_name": "/dev/sdf", "size": 4, "type": "gp3"},
        {"device_name": "/dev/xvdba", "size": 10, "encrypted": True, "kms_key_id": KMS_KEY % "us-west-2"}]))),
    ("ec2-bastion", definition_with(ec2(ssh_bastion_host="bastion.example.com", ssh_bastion_username="jump",
                                        ssh_bastion_port=2222, ssh_interface="private_ip"))),
    ("ec2-with-filter", definition_with(ec2(source_ami=None, source_ami_filter={
        "name": "debian-12-amd64-*", "owners": ["136693071363"], "most_recent": True}))),
    ("ec2-full", definition_with(ec2(
        instance_type="t3.small", tags={"team": "web"}, copy_to_regions=["eu-west-1", "us-gov-west-1"],
        share_with_accounts=["123456789012"], allowed_cidrs=["203.0.113.7/32", "2001:db8::/32"],
        ssh_keypair_name="mine", ssh_private_key_file="~/.ssh/id_ed25519", ssh_port=2222,
        root_volume={"size": 16, "type": "gp3", "encrypted": True}))),
    ("spec-example", definition_with(
        dict(FULL_DOCKER, save=None, build_volumes=[]),
        ec2(source_ami=None, source_ami_filter={"name": "debian-12-amd64-*", "owners": ["136693071363"],
                                                "most_recent": True},
            tags={"team": "web"}, copy_to_regions=["eu-west-1"], share_with_accounts=["123456789012"]))),
]


@pytest.mark.parametrize("params", [c[1] for c in VALID_EC2_CASES], ids=[c[0] for c in VALID_EC2_CASES])
def test_valid_ec2_definitions_have_no_errors(params, workdir):
    assert errors_of(params, workdir) == []


def test_ec2_target_typed_by_spec_is_valid(workdir):
    # the spec fills the docker-only `config` dict with None suboptions on every target: not "foreign"
    params = typed(definition_with(EC2))
    assert params["image_targets"][0]["config"]
    assert set(params["image_targets"][0]["config"].values()) == {None}
    assert definition.check_definition(params, str(workdir)) == []


def test_a_roles_entry_as_a_play_writes_it_is_valid(workdir):
    # role parameters, the keywords a play gives the role's tasks, an environment given as a template
    entry = {"role": "etc_services", "etc_services__dependent_list": ["{{ memcached__etc_services__dependent_list }}"],
             "when": "ansible_os_family == 'Debian'", "become": True, "environment": "{{ proxy_env }}", "tags": ["x"]}
    assert definition.check_definition(typed(definition_with(image_roles=[entry])), str(workdir)) == []


def test_docker_target_with_ec2_keys_typed_by_spec_is_valid(workdir):
    # the spec gives every ec2-only key its default on a docker target; none of them is "foreign"
    params = typed(definition_with())
    assert params["image_targets"][0]["instance_type"] == "t3.micro"
    assert definition.check_definition(params, str(workdir)) == []


def test_ec2_ssh_port_zero_is_rejected(workdir):
    errors = errors_of(definition_with(ec2(ssh_port=0)), workdir)
    assert any(e.startswith("image_targets[0].ssh_port") for e in errors), errors


def test_image_name_with_trailing_newline_is_rejected(workdir):
    errors = errors_of(definition_with(image_name="webapp\n"), workdir)
    assert any(e.startswith("image_name") for e in errors), errors


def test_healthcheck_interval_in_seconds_is_accepted(workdir):
    params = definition_with(docker(config={"healthcheck": {"test": ["CMD", "true"], "interval": 30}}))
    assert errors_of(params, workdir) == []


def test_check_definition_relative_paths_resolve_against_cwd(workdir, tmp_path_factory):
    params = definition_with(image_files=[{"src": "dist/", "dest": "/app"}])
    assert errors_of(params, workdir) == []
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    assert any(e.startswith("image_files[0].src") for e in errors_of(params, elsewhere))


# --- the build plan ---------------------------------------------------------------------------

def plan(params, cwd, revision=None):
    return definition.plan_targets(typed(params), BUILD, HASH, str(cwd), CREATED, revision)


def test_plan_docker_defaults(workdir):
    (t,) = plan(definition_with(), workdir)
    assert t["repository"] == "webapp"
    assert t["tags"] == ["1.4.2", "1.4.2-" + HASH, "latest"]
    assert t["image_refs"] == ["webapp:1.4.2", "webapp:1.4.2-" + HASH, "webapp:latest"]
    assert t["push_refs"] == []
    assert t["selected"] is True
    assert t["builder_name"] == "immutable-webapp-container-" + BUILD
    assert t["host"] == "webapp-container"
    assert t["config"] == {}
    assert "save" not in t or t["save"] is None
    # keys of the other type are dropped from the plan
    assert not {"region", "source_ami", "instance_type", "ssh_port"} & set(t)


def test_plan_default_tags_with_build_metadata(workdir):
    (t,) = plan(definition_with(image_version="1.4.2+build.7"), workdir)
    assert t["tags"] == ["1.4.2_build.7", "1.4.2_build.7-" + HASH, "latest"]
    assert t["image_refs"][0] == "webapp:1.4.2_build.7"


def test_plan_docker_given_repository_tags_push_and_save(workdir):
    (t,) = plan(definition_with(docker(repository="registry.example.com:5000/acme/webapp", tags=["1.4.2", 7],
                                       push=["reg.a/x", "reg.b/y"], save="artifacts/../artifacts/webapp.tar")),
                workdir)
    assert t["tags"] == ["1.4.2", "7"]
    assert t["image_refs"] == ["registry.example.com:5000/acme/webapp:1.4.2", "registry.example.com:5000/acme/webapp:7"]
    assert t["push_refs"] == ["reg.a/x:1.4.2", "reg.a/x:7", "reg.b/y:1.4.2", "reg.b/y:7"]
    assert os.path.isabs(t["save"])
    assert t["save"] == os.path.join(str(workdir), "artifacts", "webapp.tar")


def test_plan_absolute_save_is_kept(workdir, tmp_path_factory):
    target = str(tmp_path_factory.mktemp("out") / "w.tar")
    (t,) = plan(definition_with(docker(save=target)), workdir)
    assert t["save"] == target


def test_plan_image_only_selects(workdir):
    params = definition_with(DOCKER, docker(name="alpine", base_image="alpine"), EC2, image_only=["alpine", "aws"])
    targets = plan(params, workdir)
    assert [(t["name"], t["selected"]) for t in targets] == [("container", False), ("alpine", True), ("aws", True)]


def test_plan_without_image_only_selects_all(workdir):
    targets = plan(definition_with(DOCKER, EC2), workdir)
    assert [t["selected"] for t in targets] == [True, True]


def test_plan_ec2_defaults(workdir):
    (t,) = plan(definition_with(EC2), workdir)
    assert t["ami_name"] == "webapp-1.4.2-" + BUILD
    assert t["tags"] == {}
    assert t["builder_name"] == "immutable-webapp-aws-" + BUILD
    assert t["instance_type"] == "t3.micro"
    # docker-only keys do not reach an ec2 plan
    assert not {"config", "base_image", "repository", "push", "image_refs", "pull"} & set(t)


def test_plan_ec2_given_values(workdir):
    (t,) = plan(definition_with(ec2(ami_name="custom-name", tags={"team": "web", "n": 3})), workdir)
    assert t["ami_name"] == "custom-name"
    assert t["tags"] == {"team": "web", "n": "3"}


def test_plan_labels(workdir):
    (t,) = plan(definition_with(), workdir)
    labels, artifact = t["labels"], t["artifact_labels"]
    assert labels[naming.LABEL_KIND] == naming.KIND_BUILDER
    assert artifact[naming.LABEL_KIND] == naming.KIND_ARTIFACT
    for ls in (labels, artifact):
        assert ls[naming.LABEL_BUILD_ID] == BUILD
        assert ls[naming.LABEL_BUILD_HASH] == HASH
        assert ls[naming.LABEL_IMAGE_NAME] == "webapp"
        assert ls[naming.LABEL_TARGET] == "container"
        assert ls[naming.LABEL_IMAGE_VERSION] == "1.4.2"
        assert ls[naming.LABEL_CREATED] == CREATED
    assert not any(k.startswith(naming.OCI_PREFIX) for k in labels)
    assert artifact[naming.OCI_PREFIX + "title"] == "webapp"
    assert artifact[naming.OCI_PREFIX + "version"] == "1.4.2"
    assert artifact[naming.OCI_PREFIX + "created"] == CREATED
    assert naming.OCI_PREFIX + "revision" not in artifact


def test_plan_revision_label(workdir):
    (t,) = plan(definition_with(), workdir, revision="0123abcd")
    assert t["artifact_labels"][naming.OCI_PREFIX + "revision"] == "0123abcd"
    assert naming.OCI_PREFIX + "revision" not in t["labels"]


def test_plan_build_env_and_config_normalized(workdir):
    (t,) = plan(definition_with(FULL_DOCKER), workdir)
    # the plan (a fact) holds the names of build_env, never its values; the tasks read them by definition_index
    assert t["build_env"] == ["A"] and t["definition_index"] == 0 and t["user_data"] is False
    assert t["config"]["expose"] == ["8080/tcp", "53/udp", "9090/tcp"]
    assert t["config"]["healthcheck"] == {"test": ["CMD", "true"], "interval": 30 * 10 ** 9, "timeout": 90 * 10 ** 9}
    assert t["config"]["entrypoint"] == []
    assert None not in t["config"].values()


def test_plan_does_not_change_params(workdir):
    params = typed(definition_with(FULL_DOCKER, EC2))
    before = copy.deepcopy(params)
    definition.plan_targets(params, BUILD, HASH, str(workdir), CREATED)
    assert params == before


def test_role_entries():
    params = {"image_roles": ["acme.webapp", {"role": "acme.tuning", "vars": {"w": 4}}, {"name": " acme.x "},
                              {"role": "acme.y", "vars": None}]}
    assert definition.role_entries(params) == [("acme.webapp", {}, {}), ("acme.tuning", {"w": 4}, {}),
                                               ("acme.x", {}, {}), ("acme.y", {}, {})]
    assert definition.role_entries({"image_roles": None}) == []
    # role parameters beside the keywords, as on a play's roles: entry (DebOps' playbooks write them so); apart from
    # the vars, which they rank above
    params = {"image_roles": [{"role": "etc_services", "tags": ["x"],
                               "etc_services__dependent_list": ["{{ memcached__etc_services__dependent_list }}"]},
                              {"role": "acme.y", "workers": 2, "port_name": "http", "vars": {"workers": 4}}]}
    assert definition.role_entries(params) == [
        ("etc_services", {}, {"etc_services__dependent_list": ["{{ memcached__etc_services__dependent_list }}"]}),
        ("acme.y", {"workers": 4}, {"workers": 2, "port_name": "http"})]
    # the keywords a play gives the role's tasks are not parameters: the role's include gets them
    entry = {"role": "acme.z", "when": "ansible_os_family == 'Debian'", "become": True, "become_user": "app",
             "environment": {"A": "1"}, "tags": ["z"], "workers": 2}
    assert definition.role_entries({"image_roles": [entry]}) == [("acme.z", {}, {"workers": 2})]
    assert definition.role_keywords(entry) == {"when": ["ansible_os_family == 'Debian'"], "become": True,
                                               "become_user": "app", "environment": {"A": "1"}}
    assert definition.role_keywords({"role": "acme.z", "when": ["a", "b"]}) == {"when": ["a", "b"]}
    assert definition.role_keywords("acme.z") == {} and definition.role_keywords({"role": "acme.z"}) == {}


# --- the build hash ignores operational keys --------------------------------------------------

def build_hash(params):
    params = typed(params)
    return build_inputs.short_hash(definition.hash_input(params, params["image_targets"]))


BASE_HASH_DEF = definition_with(DOCKER, EC2)


@pytest.mark.parametrize("change", [
    {"image_only": ["container"]},
    {"image_on_error": "keep"},
    {"image_manifest": "somewhere/manifest.json"},
    {"image_cache": False},
    {"image_force": True},
    {"image_keep": {"count": 3}},
    {"image_scan_fail_on": "high"},
    {"image_gather_facts": False},
    {"image_roles_path": ["more/roles"]},
    {"image_warm_interpreter": False},
    {"image_mitogen": False},
], ids=lambda c: next(iter(c)))
def test_hash_ignores_operational_top_level_keys(change):
    assert build_hash(dict(BASE_HASH_DEF, **change)) == build_hash(BASE_HASH_DEF)


@pytest.mark.parametrize("index, change", [
    (0, {"push": ["registry.example.com/acme/webapp"]}),
    (0, {"save": "artifacts/webapp.tar"}),
    (0, {"registry_auth": {"username": "u", "password": "p"}}),
    (0, {"base_image_auth": {"username": "u", "password": "p"}}),
    (0, {"registry_auth": {"ecr": True}, "base_image_auth": {"ecr": True}}),
    (0, {"docker_host": "tcp://10.0.0.1:2376"}),
    (1, {"ssh_host": "127.0.0.1", "ssh_port": 2222}),
    (1, {"ssh_keypair_name": "k", "ssh_private_key_file": "/k"}),
    (1, {"allowed_cidrs": ["203.0.113.7/32"]}),
    (1, {"ssh_timeout": 60}),
    (1, {"run_tags": {"CostCenter": "1234"}}),
    (1, {"metadata_options": {"http_put_response_hop_limit": 2}}),
    (1, {"aws_polling": {"delay_seconds": 30, "max_attempts": 600}}),
    (1, {"share_with_accounts": ["123456789012"], "copy_to_regions": ["eu-west-1"]}),
    (1, {"publish_parameter": "/ami/webapp", "force_deregister": True, "deprecate_after": "90d"}),
], ids=lambda c: next(iter(c)) if isinstance(c, dict) else str(c))
def test_hash_ignores_operational_target_keys(index, change):
    changed = copy.deepcopy(BASE_HASH_DEF)
    changed["image_targets"][index].update(change)
    assert build_hash(changed) == build_hash(BASE_HASH_DEF)


@pytest.mark.parametrize("change", [
    {"image_version": "1.4.3"},
    {"image_name": "other"},
    {"image_roles": ["acme.webapp"]},
    {"image_files": [{"src": "dist/", "dest": "/app"}]},
    {"image_targets": [docker(base_image="debian:trixie"), EC2]},
    {"image_targets": [docker(config={"user": "app"}), EC2]},
    {"image_targets": [docker(tags=["x"]), EC2]},
    {"image_targets": [docker(repository="acme/webapp"), EC2]},
    {"image_targets": [DOCKER, ec2(instance_type="t3.large")]},
    {"image_targets": [DOCKER, ec2(source_ami="ami-0123456789abcdef1")]},
    {"image_targets": [DOCKER]},
], ids=lambda c: next(iter(c)))
def test_hash_changes_with_what_is_built(change):
    assert build_hash(dict(BASE_HASH_DEF, **change)) != build_hash(BASE_HASH_DEF)


def test_options_added_later_count_only_when_set():
    # the hash of a definition that leaves them out is the hash it had before they existed
    before = typed(BASE_HASH_DEF)
    for target in before["image_targets"]:
        for key in definition.HASHED_WHEN_SET:
            del target[key]
    assert build_inputs.short_hash(definition.hash_input(before, before["image_targets"])) == build_hash(BASE_HASH_DEF)
    assert definition.HASHED_WHEN_SET <= set(SPEC["image_targets"]["options"])
    for change in ({"extra_volumes": [{"device_name": "/dev/sdf", "size": 4}]}, {"imds_support": "v2.0"}):
        assert build_hash(dict(BASE_HASH_DEF, image_targets=[DOCKER, ec2(**change)])) != build_hash(BASE_HASH_DEF)
    assert build_hash(dict(BASE_HASH_DEF, image_targets=[DOCKER, ec2(extra_volumes=[])])) == build_hash(BASE_HASH_DEF)


def test_hash_input_does_not_modify_params():
    params = typed(BASE_HASH_DEF)
    before = copy.deepcopy(params)
    data = definition.hash_input(params, params["image_targets"])
    assert params == before
    assert "image_only" not in data
    assert "push" not in data["image_targets"][0]


def test_operational_keys_exist_in_the_spec():
    # a misspelt operational key would silently put that key into the hash
    assert definition.OPERATIONAL_KEYS <= set(SPEC)
    assert definition.OPERATIONAL_TARGET_KEYS <= set(SPEC["image_targets"]["options"])


# --- docker config normalization --------------------------------------------------------------

def test_docker_config_normalizes():
    config = {"user": "app", "workdir": None, "expose": [8080, "53/UDP"], "env": {"PORT": 8080, 1: True},
              "labels": {"n": 1}, "healthcheck": {"test": ["CMD", "true"], "interval": "30s", "timeout": None,
                                                  "start_period": "500ms", "retries": 3}, "cmd": None}
    before = copy.deepcopy(config)
    assert definition.docker_config(config) == {
        "user": "app", "expose": ["8080/tcp", "53/udp"], "env": {"PORT": "8080", "1": "True"},
        "labels": {"n": "1"},
        "healthcheck": {"test": ["CMD", "true"], "interval": 30 * 10 ** 9, "start_period": 500 * 10 ** 6,
                        "retries": 3},
    }
    assert config == before


@pytest.mark.parametrize("empty", [None, {}])
def test_docker_config_empty(empty):
    assert definition.docker_config(empty) == {}


def test_docker_config_keeps_empty_lists():
    # entrypoint: [] clears the base image's entrypoint; it must survive normalization
    assert definition.docker_config({"entrypoint": [], "cmd": [], "expose": []}) == {
        "entrypoint": [], "cmd": [], "expose": []}


def test_docker_config_bad_port_raises():
    with pytest.raises(ValueError):
        definition.docker_config({"expose": ["http"]})


def test_ec2_without_allowed_cidrs_is_rejected_with_a_reason(workdir):
    params = typed(definition_with({k: v for k, v in EC2.items() if k != "allowed_cidrs"}))
    errors = definition.check_definition(params, str(workdir))
    assert any(e.startswith("image_targets[0].allowed_cidrs: required for type ec2") for e in errors)


@pytest.mark.parametrize("key,value,expected", [
    ("ami_name", "bad|name", "image_targets[0].ami_name"),
    ("deprecate_after", "soon", "image_targets[0].deprecate_after"),
])
def test_ec2_ami_settings_are_checked_before_launch(workdir, key, value, expected):
    params = typed(definition_with(dict(EC2, **{key: value})))
    assert any(e.startswith(expected) for e in definition.check_definition(params, str(workdir)))


def test_validating_and_planning_import_no_aws_sdk():
    """The plan's modules are imported in ansible-playbook's own process at every build, reruns included:
    the AWS SDK (about 0.4 s to import) is for ec2 targets only, and is imported where they are handled."""
    code = ("import sys\n"
            "from ansible_collections.immutable.images.plugins.module_utils._common import inputs\n"
            "from ansible_collections.immutable.images.plugins.plugin_utils._definition import definition\n"
            "from ansible_collections.immutable.images.plugins.module_utils._artifacts import reuse\n"
            "from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import sbom\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- remote engines: docker_host and tls -------------------------------------------------------------------

TLS_HOST = "tcp://build-1.example.com:2376"


@pytest.fixture
def tls_files(workdir):
    (workdir / "engine").mkdir()
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (workdir / "engine" / name).write_text("-----BEGIN SECRET-----\n")
    return {"ca_cert": "engine/ca.pem", "client_cert": "engine/cert.pem", "client_key": "engine/key.pem"}


def test_tls_files_are_checked_and_named_without_their_content(workdir, tls_files):
    assert errors_of(definition_with(docker(docker_host=TLS_HOST, tls=tls_files)), workdir) == []
    broken = dict(tls_files, client_key="engine/missing.pem")
    errors = errors_of(definition_with(docker(docker_host=TLS_HOST, tls=broken)), workdir)
    assert errors == ["image_targets[0].tls.client_key: engine/missing.pem is not a readable file"]
    assert "SECRET" not in str(errors)


@pytest.mark.parametrize("host, tls, expected", [
    ("unix:///var/run/docker.sock", {"ca_cert": "engine/ca.pem"}, "image_targets[0].tls: only for a tcp:// engine"),
    (TLS_HOST, {"client_cert": "engine/cert.pem", "ca_cert": "engine/ca.pem"}, "image_targets[0].tls: client_cert and client_key go"),
    (TLS_HOST, {"client_cert": "engine/cert.pem", "client_key": "engine/key.pem"}, "image_targets[0].tls.ca_cert: required"),
    ("build-1:2376", None, "image_targets[0].docker_host: 'build-1:2376' must start with unix://, tcp:// or ssh://"),
])
def test_engine_errors_name_the_variable(workdir, tls_files, host, tls, expected, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    target = docker(docker_host=host, tls=tls) if tls else docker(docker_host=host)
    errors = errors_of(definition_with(target), workdir)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_plan_makes_tls_paths_absolute_and_lists_each_engine_once(workdir, tls_files, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    params = definition_with(docker(name="a", docker_host=TLS_HOST, tls=tls_files), docker(name="b", docker_host=TLS_HOST,
                             tls=tls_files), docker(name="c"))
    targets = definition.plan_targets(typed(params), BUILD, HASH, str(workdir), CREATED)
    assert targets[0]["tls"]["ca_cert"] == str(workdir / "engine" / "ca.pem") and targets[0]["tls"]["verify"] is True
    assert [t["remote_engine"] for t in targets] == [True, True, False]
    assert definition.engines(targets) == [{"docker_host": TLS_HOST, "tls": targets[0]["tls"]},
                                           {"docker_host": None, "tls": None}]


def test_open_ssh_needs_its_acknowledgement_and_then_warns(workdir):
    open_ssh = dict(EC2, allowed_cidrs=["0.0.0.0/0"])
    errors = definition.check_definition(typed(definition_with(open_ssh)), str(workdir))
    assert any("allowed_cidrs: '0.0.0.0/0' opens SSH" in e for e in errors)
    acknowledged = typed(definition_with(dict(open_ssh, allow_open_ssh=True)))
    assert not [e for e in definition.check_definition(acknowledged, str(workdir)) if "allowed_cidrs" in e]
    assert definition.definition_warnings(acknowledged) == [
        "image_targets[0].allowed_cidrs: 0.0.0.0/0 opens SSH of the builder to the whole internet (allow_open_ssh: true)"]


def test_redact_environment_keeps_names_and_hides_values():
    from ansible_collections.immutable.images.plugins.plugin_utils._redact import redact_environment

    nested = "ssh 127.0.0.1 '/bin/sh -c '\"'\"'S='\"'\"'\"'\"'\"'\"'\"'\"'a b'\"'\"'\"'\"'\"'\"'\"'\"' T=x /usr/bin/python3'\"'\"''"
    assert redact_environment(nested) == "ssh 127.0.0.1 '/bin/sh -c '\"'\"'S=******** T=******** /usr/bin/python3'\"'\"''"
    assert redact_environment("EXEC /bin/sh -c 'S=secret /usr/bin/python3'") == "EXEC /bin/sh -c 'S=******** /usr/bin/python3'"
    assert redact_environment("EXEC /bin/sh -c 'echo a=b'") == "EXEC /bin/sh -c 'echo a=b'"


# --- image_engines: a pool of engines ------------------------------------------------------------------------

@pytest.mark.parametrize("engines, expected", [
    (["build-1:2376"], "image_engines[0].docker_host: 'build-1:2376' must start with unix://, tcp:// or ssh://"),
    ([{"tls": {"verify": False}}], "image_engines[0].docker_host: required"),
    ([TLS_HOST, {"docker_host": TLS_HOST}], "image_engines[1].docker_host: 'tcp://build-1.example.com:2376' is in the pool more than once"),
    ([{"docker_host": TLS_HOST, "max_builds": 0}], "image_engines[0].max_builds: 0 must be a whole number of at least 1"),
    ([{"docker_host": TLS_HOST, "max_builds": "two"}], "image_engines[0].max_builds: 'two' must be"),
    ([{"docker_host": TLS_HOST, "workers": 2}], "image_engines[0]: unknown keys workers"),
    ([{"docker_host": "unix:///run/docker.sock", "tls": {"verify": False}}], "image_engines[0].tls: only for a tcp:// engine"),
    ([{"docker_host": TLS_HOST, "tls": {"ca_cert": "engine/missing.pem"}}], "image_engines[0].tls.ca_cert: engine/missing.pem is not"),
    ([{"docker_host": TLS_HOST, "tls": {"ca": "x"}}], "image_engines[0].tls: unknown keys ca"),
    ([7], "image_engines[0]: give a docker_host string or {docker_host, tls, max_builds}, got a number"),
])
def test_engine_pool_errors_name_the_variable(workdir, tls_files, engines, expected):
    errors = errors_of(definition_with(image_engines=engines), workdir)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_a_valid_engine_pool_is_not_in_the_build_hash(workdir, tls_files):
    engines = ["unix:///var/run/docker.sock", {"docker_host": TLS_HOST, "tls": tls_files, "max_builds": 2}]
    params = typed(definition_with(image_engines=engines))
    assert definition.check_definition(params, str(workdir)) == []
    assert definition.hash_input(params, params["image_targets"]) == definition.hash_input(
        typed(definition_with()), params["image_targets"])


@pytest.mark.parametrize("auth, error", [
    ({"username": "u", "password": "p"}, None),
    ({"ecr": True}, None),
    ({"ecr": True, "username": "AWS", "password": "p"}, "give username and password, or ecr, not both"),
    ({"username": "u"}, "password is required (or ecr: true"),
    ({"ecr": False}, "username and password are required (or ecr: true"),
], ids=["user", "ecr", "both", "no-password", "ecr-false"])
@pytest.mark.parametrize("key", ["registry_auth", "base_image_auth"])
def test_registry_credentials_are_a_user_and_password_or_ecrs(tmp_path, key, auth, error):
    found = errors_of(definition_with(docker(**{key: auth})), tmp_path)
    if error is None:
        assert found == []
    else:
        assert found == ["image_targets[0].%s: %s" % (key, found[0].split(": ", 1)[1])] and error in found[0], found


def test_ecr_credentials_need_boto3_where_the_build_runs(tmp_path, monkeypatch):
    from ansible_collections.immutable.images.plugins.plugin_utils._definition import target_checks

    monkeypatch.setattr(target_checks.importlib.util, "find_spec", lambda name: None if name == "boto3" else object())
    assert errors_of(definition_with(docker(registry_auth={"ecr": True})), tmp_path) == [
        "image_targets[0].registry_auth: ecr: true needs boto3 (and botocore) in ansible-playbook's Python, to ask "
        "Amazon ECR for the registry's credentials"]


def test_ec2_tags_and_run_tags_are_checked_as_aws_would(tmp_path):
    assert errors_of(definition_with(ec2(run_tags={"CostCenter": "1234", "Owner": "web"})), tmp_path) == []
    found = errors_of(definition_with(ec2(
        run_tags={"aws:createdBy": "x", "k" * 129: "x", "Long": "v" * 257, "immutable.images.kind": "artifact"},
        tags={str(n): "x" for n in range(41)})), tmp_path)
    assert found == [
        "image_targets[0].tags: 41 tags; AWS takes 50 per resource, of which the build's own use 10: at most 40",
        "image_targets[0].run_tags: 'immutable.images.kind' is in the namespace immutable.images. that the build's own "
        "tags use",
        "image_targets[0].run_tags: 'aws:createdBy': a tag name is 1 to 128 characters and does not start with aws: "
        "(AWS's own)",
        "image_targets[0].run_tags: %r: a tag name is 1 to 128 characters and does not start with aws: (AWS's own)"
        % ("k" * 129),
        "image_targets[0].run_tags: the value of 'Long' is longer than AWS's 256 characters",
    ], found


@pytest.mark.parametrize("volume, error", [
    ({"type": "gp3", "iops": 6000, "throughput": 500}, None),
    ({"type": "io2", "iops": 8000}, None),
    ({"throughput": 500}, "root_volume.throughput: needs type: gp3"),
    ({"type": "gp2", "iops": 3000}, "root_volume.iops: needs type: gp3, io1 or io2"),
    ({"type": "io1"}, "root_volume.iops: required with type io1"),
    ({"type": "gp3", "throughput": 0}, "root_volume.throughput: 0 must be a positive number"),
], ids=["gp3", "io2", "throughput-without-gp3", "iops-of-gp2", "io1-without-iops", "zero"])
def test_volume_performance_is_checked(tmp_path, volume, error):
    for target in (ec2(root_volume=volume), ec2(extra_volumes=[dict(volume, device_name="/dev/sdf", size=4)])):
        found = errors_of(definition_with(target), tmp_path)
        if error is None:
            assert found == []
        else:
            where = "root_volume" if "root_volume" in target else "extra_volumes[0]"
            assert len(found) == 1 and found[0].startswith("image_targets[0]." + error.replace("root_volume", where)), found


def test_volume_performance_counts_in_the_hash_only_when_set():
    # a root volume or extra volumes given without them hash as before they existed
    raw = definition_with(DOCKER, ec2(root_volume={"size": 20}, extra_volumes=[{"device_name": "/dev/sdf", "size": 4}]))
    before = typed(raw)
    assert before["image_targets"][1]["root_volume"]["iops"] is None  # the spec fills them in
    for volume in [before["image_targets"][1]["root_volume"]] + before["image_targets"][1]["extra_volumes"]:
        for key in definition.HASHED_WHEN_SET_WITHIN["root_volume"]:
            del volume[key]
    assert build_inputs.short_hash(definition.hash_input(before, before["image_targets"])) == build_hash(raw)
    faster = copy.deepcopy(raw)
    faster["image_targets"][1]["root_volume"].update(type="gp3", throughput=500)
    assert build_hash(faster) != build_hash(raw)


def test_metadata_hop_limit_is_one_to_64(tmp_path):
    assert errors_of(definition_with(ec2(metadata_options={"http_put_response_hop_limit": 2})), tmp_path) == []
    assert errors_of(definition_with(ec2(metadata_options={"http_put_response_hop_limit": 0})), tmp_path) == [
        "image_targets[0].metadata_options.http_put_response_hop_limit: 0 is not 1 to 64"]
    found = errors_of(definition_with(ec2(metadata_options={"http_tokens": "optional"})), tmp_path)
    assert len(found) == 1 and "http_tokens" in found[0], found  # IMDSv2 stays required: no such option


def test_aws_polling_bounds(tmp_path):
    assert errors_of(definition_with(ec2(aws_polling={"delay_seconds": 0, "max_attempts": 1})), tmp_path) == []
    assert errors_of(definition_with(ec2(aws_polling={"delay_seconds": -1, "max_attempts": 0})), tmp_path) == [
        "image_targets[0].aws_polling.delay_seconds: -1 is below 0",
        "image_targets[0].aws_polling.max_attempts: 0 is below 1"]


@pytest.mark.parametrize("source", ["resolve:ssm:/aws/service/debian/release/12/latest/amd64",
                                    "resolve:ssm:/images/base/latest:3", "resolve:ssm:base-ami:prod"])
def test_a_source_ami_from_a_parameter(tmp_path, source):
    assert errors_of(definition_with(ec2(source_ami=source)), tmp_path) == []


def test_two_docker_targets_may_not_share_a_tag_on_one_engine(tmp_path):
    same = errors_of(definition_with(docker(name="amd"), docker(name="arm", platform="linux/arm64")), tmp_path)
    assert same == ["image_targets[1] (arm): tags webapp:1.4.2, webapp:1.4.2-<build hash>, webapp:latest, as "
                    "image_targets[0] (amd) does: on one engine, a tag holds one image: give each target its own "
                    "repository or tags (several targets do not make one multi-platform image)"], same
    assert errors_of(definition_with(docker(name="amd"), docker(name="arm", repository="webapp-arm")), tmp_path) == []
    assert errors_of(definition_with(docker(name="amd"), docker(name="arm", tags=["arm"])), tmp_path) == []
    explicit = errors_of(definition_with(docker(name="amd", tags=["1.4.2"]), docker(name="arm", tags=["arm", "1.4.2"])),
                         tmp_path)
    assert len(explicit) == 1 and explicit[0].startswith("image_targets[1] (arm): tags webapp:1.4.2, as"), explicit
    elsewhere = docker(name="remote", docker_host="tcp://127.0.0.1:2376")  # another engine's tags are its own
    assert errors_of(definition_with(docker(name="local"), elsewhere), tmp_path) == []


def test_two_docker_targets_may_not_push_or_save_the_same(tmp_path):
    pushed = errors_of(definition_with(docker(name="a", push=["registry.example.com/web"]),
                                       docker(name="b", docker_host="tcp://127.0.0.1:2376", push=["registry.example.com/web"])),
                       tmp_path)
    assert len(pushed) == 1 and pushed[0].startswith(
        "image_targets[1] (b): pushes registry.example.com/web:1.4.2, registry.example.com/web:1.4.2-<build hash>, "
        "registry.example.com/web:latest, as image_targets[0] (a) does: a registry keeps the last one pushed"), pushed
    (tmp_path / "out").mkdir()
    saved = errors_of(definition_with(docker(name="a", save="out/web.tar"),
                                      docker(name="b", repository="web-b", save="out/../out/web.tar")), tmp_path)
    assert len(saved) == 1 and saved[0].startswith("image_targets[1] (b): saves %s, as image_targets[0] (a)"
                                                   % (tmp_path / "out" / "web.tar")), saved


def test_ami_names_of_several_ec2_targets(tmp_path):
    x86, arm = ec2(name="x86"), ec2(name="arm", instance_type="t4g.micro")
    assert errors_of(definition_with(x86, arm), tmp_path) == []
    named = definition_with(dict(x86, ami_name="webapp-1.4.2"), dict(arm, ami_name="webapp-1.4.2"))
    assert errors_of(named, tmp_path) == [
        "image_targets[1] (arm): names its AMI webapp-1.4.2, as image_targets[0] (x86) does: AMI names are unique in a "
        "region (us-west-2): give each target its own ami_name"]
    copied = definition_with(dict(x86, ami_name="webapp-1.4.2", copy_to_regions=["eu-west-1"]),
                             dict(arm, ami_name="webapp-1.4.2", region="eu-west-1"))
    assert len(errors_of(copied, tmp_path)) == 1 and "(eu-west-1)" in errors_of(copied, tmp_path)[0]
    assert errors_of(definition_with(dict(x86, ami_name="webapp-1.4.2"),
                                     dict(arm, ami_name="webapp-1.4.2", region="eu-west-1")), tmp_path) == []
    params = definition_with(x86, arm)
    assert [shared_names.ami_name(params, t, "B1") for t in params["image_targets"]] == [
        "webapp-1.4.2-x86-B1", "webapp-1.4.2-arm-B1"]
    alone = definition_with(x86, docker())
    assert shared_names.ami_name(alone, alone["image_targets"][0], "B1") == "webapp-1.4.2-B1"  # as before


def test_a_command_string_with_spaces_is_refused_with_the_lists_it_may_mean():
    """As written, before the spec makes "nginx -g 'daemon off;'" one program's name; a word alone stays a list of one,
    and a list is taken as it is, spaces and all."""
    targets = [docker(config={"cmd": "nginx -g 'daemon off;'", "entrypoint": "tini --"}),
               docker(name="b", config={"cmd": "bash", "entrypoint": ["/opt/My App/run"]}),
               docker(name="c", config={"cmd": "echo 'unbalanced"}), EC2, "not a dict", docker(name="d", config=None)]
    assert as_written.errors(targets) == [
        "image_targets[0].config.cmd: \"nginx -g 'daemon off;'\" is a string, and the image's CMD is a list (exec form): "
        'give ["nginx", "-g", "daemon off;"], or ["/bin/sh", "-c", "nginx -g \'daemon off;\'"] to run it through a '
        "shell as a Dockerfile's CMD <string> does",
        "image_targets[0].config.entrypoint: 'tini --' is a string, and the image's ENTRYPOINT is a list (exec form): "
        'give ["tini", "--"], or ["/bin/sh", "-c", "tini --"] to run it through a shell as a Dockerfile\'s ENTRYPOINT '
        "<string> does",
        "image_targets[2].config.cmd: \"echo 'unbalanced\" is a string, and the image's CMD is a list (exec form): give "
        'the program and its arguments as a list, or ["/bin/sh", "-c", "echo \'unbalanced"] to run it through a shell as '
        "a Dockerfile's CMD <string> does"]
    assert as_written.errors(None) == []


def test_an_account_id_that_yaml_read_as_a_number_is_refused_saying_so():
    """001234567012 unquoted is the octal number 175304202 to YAML; a 12-digit number or a quoted id is an id."""
    assert yaml.safe_load("[001234567012]") == [175304202]
    targets = [ec2(share_with_accounts=[175304202, 123456789012, "001234567012"]),
               ec2(source_ami_filter={"name": "x", "owners": [175304202, "amazon", 137112412989]}),
               ec2(source_ami_filter={"name": "x", "owners": 42}), ec2(share_with_accounts=[True])]
    assert as_written.errors(targets) == [
        "image_targets[0].share_with_accounts: 175304202 is a number, not a 12-digit account id: quote account ids "
        "(YAML reads an unquoted one with a leading zero as an octal number: '001234567012' would be 175304202)",
        "image_targets[1].source_ami_filter.owners: 175304202 is a number, not a 12-digit account id: quote account "
        "ids (YAML reads an unquoted one with a leading zero as an octal number: '001234567012' would be 175304202)",
        "image_targets[2].source_ami_filter.owners: 42 is a number, not a 12-digit account id: quote account ids (YAML "
        "reads an unquoted one with a leading zero as an octal number: '000000000052' would be 42)"]


def test_values_whose_text_is_not_what_yaml_was_given_are_refused():
    """tags: [1.10] would tag the image 1.1, DEBUG: true set 'True', EMPTY: (null) set 'None'; whole numbers and
    quoted text are taken as they are; build_env is a play's environment; None is an empty AWS tag value."""
    targets = [docker(tags=["latest", 1.1, 2024], build_env={"FLAG": True},
                      config={"env": {"DEBUG": True, "PORT": 8080, "EMPTY": None, "OK": "true"},
                              "labels": {"release": 1.2, "n": 1}}),
               ec2(tags={"Backup": False, "CostCenter": "4711", "Empty": None}, run_tags={"Release": 3.1})]
    assert as_written.errors(targets) == [
        "image_targets[0].tags[1]: 1.1 is a number, which YAML may have read from other text (3.10 is 3.1): quote the "
        "text you mean",
        "image_targets[0].config.env.DEBUG: True is a boolean, which would be the text 'True': quote the text you mean "
        "('true')",
        "image_targets[0].config.env.EMPTY: nothing after the colon is null, which would be the text 'None': quote the "
        "text you mean ('' for none)",
        "image_targets[0].config.labels.release: 1.2 is a number, which YAML may have read from other text (3.10 is "
        "3.1): quote the text you mean",
        "image_targets[1].tags.Backup: False is a boolean, which would be the text 'False': quote the text you mean "
        "('false')",
        "image_targets[1].run_tags.Release: 3.1 is a number, which YAML may have read from other text (3.10 is 3.1): "
        "quote the text you mean"]


def test_a_uid_gid_pair_that_yaml_read_in_base_60_is_refused():
    """user: 33:33 (www-data) unquoted is 2013 to YAML 1.1; other numbers, 1000 among them, are uids."""
    assert yaml.safe_load("u: 33:33") == {"u": 2013}
    targets = [docker(config={"user": 2013, "expose": [1342, 8080]}), docker(config={"user": 1000}),
               docker(config={"user": "33:33", "expose": ["22:22"]})]
    assert as_written.errors(targets) == [
        "image_targets[0].config.user: 2013 is how YAML reads an unquoted 33:33 (a number in base 60): quote it "
        "('33:33', or '2013' for that number)",
        "image_targets[0].config.expose: 1342 is how YAML reads an unquoted 22:22 (a number in base 60): quote it "
        "('22:22'; expose takes ports, not mappings)"]


def test_a_run_tests_environment_is_text_as_the_images_is(workdir):
    """image_verify's run test: its container's DEBUG: true would be 'True', as the image's own environment. A number
    is not quoted in the message: the test's environment may hold secrets (its reports mask them)."""
    params = definition_with(image_verify=[{"name": "starts", "run": {"port": 8080, "env": {
        "DEBUG": True, "PIN": 4711.25, "PORT": 8080, "MODE": "prod"}}}])
    errors = errors_of(params, workdir)
    assert errors == [
        "image_verify[0].run.env.DEBUG: True is a boolean, which would be the text 'True': quote the text you mean "
        "('true')",
        "image_verify[0].run.env.PIN: the value is a number, which YAML may have read from other text (3.10 is 3.1): "
        "quote the text you mean"], errors
    assert not any("4711" in e for e in errors)


def test_packers_template_functions_get_a_hint():
    assert as_written.packer_function_hint("'timestamp' is undefined") == (
        " (Packer's {{timestamp}} is not a variable here: the build id carries the build's time and is unique, "
        "{{ image_build_id }}; see docs/from-packer.md)")
    assert "{{isotime}}" in as_written.packer_function_hint("'isotime' is undefined. 'isotime' is undefined")
    assert as_written.packer_function_hint("'webapp_port' is undefined") == ""
