#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_retention
short_description: Remove older versions of an image (docker images or AMIs), keeping the newest by count and age
version_added: 0.2.0
description:
  - Applies a definition's C(image_keep) to the artifacts this collection built of O(image_name), either docker
    images on an engine (O(type=docker)) or AMIs owned by this account (O(type=ec2)).
  - Candidates are only artifacts that carry our labels (tags on AWS) C(immutable.images.kind=artifact),
    C(immutable.images.image-name=<image_name>), a C(immutable.images.build-id) and, with O(target),
    C(immutable.images.target=<target>). Images or AMIs without these labels, layer-cache images and builders
    are never touched.
  - Candidates are ranked newest first by semantic version (1.10.0 is newer than 1.9.0, a release newer than its
    pre-releases), then by creation time (a rebuild of a version is newer than the earlier build).
    An artifact is kept when it is one of the newest O(keep.count), B(or) was created less than O(keep.days) days
    ago; only what neither rule keeps is removed. With neither, nothing is removed. Every build counts towards
    O(keep.count), the one just built included. The artifacts named in O(current) are always kept.
  - An artifact whose version label is not a semantic version cannot be ranked; it is returned in RV(skipped_artifacts).
  - For O(type=docker), the tags an older image carries in O(repositories) are removed, then the image itself
    if no tag is left on it (no dangling images). Tags in other repositories stay, and so does the image.
    An image that a container uses (running or stopped) is not removed but reported in RV(skipped_artifacts),
    never force-removed.
    Images in registries are not touched.
  - For O(type=ec2), the AMIs of a build in every region of O(region) and O(regions) form one artifact, kept or
    removed together. Removing deregisters each AMI and deletes its snapshots (except a snapshot an AMI that
    stays also uses).
extends_documentation_fragment:
  - immutable.images.docker
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - immutable.images.attributes
attributes:
  check_mode:
    support: full
    details: Lists what would be removed (RV(removed)) and changes nothing; C(changed) says whether a real run would.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  image_name:
    description: The definition's C(image_name); only artifacts labelled with it are considered.
    type: str
    required: true
  target:
    description:
      - The target's C(name); only artifacts of this target are considered. Unset considers every target of
        O(image_name) of the given O(type).
    type: str
  type:
    description: V(docker) for images on a Docker engine, V(ec2) for AMIs.
    type: str
    choices: [docker, ec2]
    required: true
  keep:
    description:
      - The retention rules, the definition's C(image_keep). An artifact is kept if either rule keeps it.
      - Empty (or neither key set) keeps everything.
    type: dict
    default: {}
    suboptions:
      count:
        description: Keep the newest this many artifacts (builds), ranked by semantic version, then creation time.
        type: int
      days:
        description: Keep artifacts created less than this many days ago (by the C(immutable.images.created) label).
        type: int
  current:
    description:
      - The artifact just built, which is never removed. For O(type=docker) image ids (full or at least 12 hex
        digits, with or without V(sha256:)) or tags; for O(type=ec2) AMI ids (any AMI of the build protects the
        whole build, in every region).
    type: list
    elements: str
    default: []
  repositories:
    description:
      - O(type=docker) only. The repositories whose tags are removed from an older image, for example the
        target's C(repository) and, to untag local copies of pushed tags too, its C(push) repositories.
      - Defaults to O(image_name) (a target's default repository).
    type: list
    elements: str
  regions:
    description:
      - O(type=ec2) only. Every region the AMIs were made or copied to (the target's C(region) and
        C(copy_to_regions)), in addition to O(region).
      - With neither O(region) nor O(regions), the region of the AWS configuration (E(AWS_REGION), the profile) is used.
    type: list
    elements: str
    default: []
  attestation_dir:
    description:
      - The directory the build writes its signed statements to (beside the manifest, see C(docs/provenance.md)).
        The C(<image_name>-<version>-<target>.provenance.dsse.json) and C(.sbom.dsse.json) of every removed version
        that no kept artifact of the target shares are deleted with it (RV(removed_attestations)).
      - Unset deletes no file. Registries are never touched.
    type: path
notes:
  - O(type=docker) needs only the Docker SDK, O(type=ec2) only boto3; the AWS connection options are ignored for
    O(type=docker), and O(docker_host) and O(timeout) for O(type=ec2).
  - The module is in both action groups, C(group/immutable.images.docker) and C(group/immutable.images.aws).
seealso:
  - module: immutable.images.docker_cleanup
  - module: immutable.images.ec2_cleanup
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Keep the 5 newest versions of webapp on the local engine (the one just built among them)
  immutable.images.image_retention:
    type: docker
    image_name: webapp
    target: container
    keep: {count: 5}
    current: ["{{ image_id }}"]

- name: Keep AMIs of the last 30 days, and at least the 3 newest, in every region they were copied to
  immutable.images.image_retention:
    type: ec2
    image_name: webapp
    target: aws
    keep: {count: 3, days: 30}
    region: us-west-2
    regions: [eu-west-1]
    current: "{{ ami_result.images.values() | list }}"

- name: See what would go, without removing anything
  immutable.images.image_retention:
    type: docker
    image_name: webapp
    repositories: [webapp, registry.example.com/team/webapp]
    keep: {count: 2}
  check_mode: true
  register: retention
"""

RETURN = r"""
removed:
  description:
    - The artifacts removed (in check mode, that would be removed), newest first.
    - For O(type=ec2) one entry per AMI (a build copied to three regions gives three entries).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The image id (O(type=docker)) or AMI id (O(type=ec2)).
      type: str
    version:
      description: The C(immutable.images.image-version) label.
      type: str
    build_id:
      description: The build that made it.
      type: str
    target:
      description: The target that made it.
      type: str
    created:
      description: When its build started (the C(immutable.images.created) label; else the engine's or EC2's time), UTC.
      type: str
    reason:
      description: Why it goes, for example V(not the newest 2).
      type: str
    tags:
      description: O(type=docker) only. The tags removed, those in O(repositories).
      type: list
      elements: str
    remaining_tags:
      description: O(type=docker) only. Tags in other repositories, left on the image.
      type: list
      elements: str
    deleted:
      description: O(type=docker) only. Whether the image itself is deleted (no tag is left on it).
      type: bool
    region:
      description: O(type=ec2) only. The AMI's region.
      type: str
    name:
      description: O(type=ec2) only. The AMI name.
      type: str
    state:
      description: O(type=ec2) only. The AMI's state when it was listed (an AMI still V(pending) is never removed).
      type: str
    snapshots:
      description: O(type=ec2) only. The snapshot ids deleted (in check mode, the AMI's snapshots).
      type: list
      elements: str
  sample:
    - {id: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", version: 1.2.0,
       build_id: 20261120T1012Z-1a2b3c, target: container, created: "2026-11-20T10:12:40Z",
       reason: not the newest 2, tags: ["webapp:1.2.0", "webapp:1.2.0-001c9ce5d51f"], remaining_tags: [], deleted: true}
kept:
  description: The artifacts kept, newest first, with the same keys and the RV(removed[].reason) they stay for
    (for example V(current build, one of the newest 2)). Docker entries list all their C(tags).
  returned: always
  type: list
  elements: dict
removed_attestations:
  description: The attestation files deleted (in check mode, that would be) from O(attestation_dir).
  returned: always
  type: list
  elements: str
skipped_artifacts:
  description:
    - Older artifacts that were not removed, with the C(reason) why - a container uses the image, its only tags are
      outside O(repositories), or its version is not a semantic version.
    - Not called C(skipped), which Ansible reserves for a skipped task.
  returned: always
  type: list
  elements: dict
"""

import os

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.immutable.images.plugins.module_utils._ec2 import client as aws_client
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DOCKER_COMMON_ARGS,
    DockerFailure,
    RequestException,
    client_from_module,
    docker_errors,
    error_text,
)
from ansible_collections.immutable.images.plugins.module_utils._common.references import is_repository
from ansible_collections.immutable.images.plugins.module_utils._artifacts.retention import (
    AWS_ERRORS,
    AmiRetention,
    DockerRetention,
    attestation_files,
    check_rules,
)

# Snapshot deletion retries InvalidSnapshot.InUse for a minute right after the deregistration.
RETENTION_WAITS = dict(delay=5, max_attempts=12)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            DOCKER_COMMON_ARGS,
            image_name=dict(type="str", required=True),
            target=dict(type="str"),
            type=dict(type="str", choices=["docker", "ec2"], required=True),
            keep=dict(type="dict", default={}, options=dict(count=dict(type="int"), days=dict(type="int"))),
            current=dict(type="list", elements="str", default=[]),
            repositories=dict(type="list", elements="str"),
            regions=dict(type="list", elements="str", default=[]),
            attestation_dir=dict(type="path"),
        ),
        supports_check_mode=True,
        check_boto3=False,  # docker retention needs no boto3; checked below for type=ec2
    )
    p = module.params
    keep = p["keep"] or {}
    try:
        check_rules(keep.get("count"), keep.get("days"))
    except ValueError as e:
        module.fail_json(msg=str(e))
    rules = dict(count=keep.get("count"), days=keep.get("days"), current=p["current"])
    bad = [r for r in p["repositories"] or [] if not is_repository(r)]
    if bad:
        module.fail_json(msg="repositories: %s %s not a repository name without a tag, like registry:5000/team/webapp"
                         % (", ".join(map(repr, bad)), "is" if len(bad) == 1 else "are"))

    if p["type"] == "docker":
        retention = DockerRetention(client_from_module(module), p["image_name"], p["target"], p["repositories"])
        try:
            plan = retention.plan(**rules)
            done = _result(plan) if module.check_mode else retention.apply(plan)
        except (DockerFailure, docker_errors.APIError, RequestException) as e:
            module.fail_json(msg="retention of %s: %s" % (p["image_name"], error_text(e)))
    else:
        if aws_client.boto3 is None:
            module.fail_json(msg="type=ec2 needs boto3 and botocore (pip packages) on the host the module runs on")
        regions = list(dict.fromkeys(([p["region"]] if p["region"] else []) + p["regions"])) or [module.region]
        if not regions or not regions[0]:
            module.fail_json(msg="type=ec2 needs region or regions (or an AWS region in the environment)")
        retention = AmiRetention(aws_client.module_client_factory(module), p["image_name"], regions, p["target"],
                                 waits=aws_client.Waits(**RETENTION_WAITS))
        try:
            plan = retention.plan(**rules)
        except AWS_ERRORS as e:
            module.fail_json_aws(e, msg="listing the AMIs of %s failed" % p["image_name"])
        done = _result(plan) if module.check_mode else retention.apply(plan)

    result = dict(changed=bool(done["removed"]), removed=done["removed"], kept=done["kept"],
                  skipped_artifacts=done["skipped"], removed_attestations=[])
    if p["attestation_dir"]:
        for path in attestation_files(p["attestation_dir"], p["image_name"], done["removed"], done["kept"], p["target"]):
            if os.path.exists(path):
                if not module.check_mode:
                    os.remove(path)
                result["removed_attestations"].append(path)
    if done["errors"]:
        module.fail_json(msg="retention of %s could not remove: %s" % (p["image_name"], "; ".join(done["errors"])),
                         **result)
    module.exit_json(**result)


def _result(plan):
    return {"removed": plan["remove"], "kept": plan["kept"], "skipped": plan["skipped"], "errors": []}


if __name__ == "__main__":
    main()
