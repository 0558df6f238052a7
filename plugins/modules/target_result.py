#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: target_result
short_description: Internal - record the result of a target of an image build
version_added: 0.2.0
description:
  - A step of the build that the provision and finalize roles run; not meant to be called from other playbooks, and its
    options may change in any release (see docs/plugins.md for the public modules).
  - Makes the result record of one target from the results of the steps that produced it, and adds it to the records
    so far (O(results)); M(immutable.images.build_manifest) turns the records into the manifest. Each record is
    declared by C(plugins/plugin_utils/_definition/plan.py) (C(result_spec)).
  - With O(record=provision_failed) it makes instead the C(provision_result) of a builder whose provisioning failed.
  - The stage of a failure is the one the failed module reports, else the stage of the phase it happened in
    (C(provision), C(verify), C(scrub), C(finalize), C(reuse)); C(community.docker.docker_image_export) is stage
    C(save).
  - This is an action plugin; it runs on the controller and changes nothing.
extends_documentation_fragment:
  - immutable.images.attributes
  - immutable.images.attributes.action
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
  action:
    support: full
options:
  record:
    description:
      - V(provision_failed) - C(provision_result) of a builder whose provisioning failed (O(failed_task), O(failed_result),
        O(started), O(phase)).
      - V(target_unprovisioned) - the record of a target whose builder did not provision (O(provision) is its
        C(provision_result)); nothing is recorded when O(provision) says V(succeeded).
      - V(artifact) - the record of the artifact made, or of a docker artifact reused.
      - V(artifact_failed) - the record of a target whose artifact could not be made.
      - V(reused_amis) - the record of an ec2 target whose AMIs are reused; nothing for a docker target.
      - V(reuse_failed) - the record of a target whose existing artifact could not be reused.
    type: str
    required: true
    choices: [provision_failed, target_unprovisioned, artifact, artifact_failed, reused_amis, reuse_failed]
  results:
    description: The records so far, by target name (what the previous O(record) returned).
    type: dict
    default: {}
  target:
    description: The target, as the plan has it (C(image_build.targets[]), C(image_build.reused_targets[])).
    type: dict
  builder:
    description: What launch learned about the target's builder (C(image_target.builder) of the builder).
    type: dict
    default: {}
  provision:
    description: The builder's C(provision_result).
    type: dict
    default: {}
  sbom:
    description: The result of M(immutable.images.image_sbom).
    type: dict
    default: {}
  commit:
    description: The result of M(immutable.images.docker_image_commit) (for a reused image, its id, tags, previous).
    type: dict
    default: {}
  push:
    description: The result of M(immutable.images.docker_image_publish).
    type: dict
    default: {}
  ami:
    description: The result of M(immutable.images.ec2_ami_create).
    type: dict
    default: {}
  amis:
    description: The reused AMIs, AMI id by region.
    type: dict
    default: {}
  shared:
    description: The result of M(immutable.images.ec2_ami_reuse).
    type: dict
    default: {}
  attestation:
    description: The result of M(immutable.images.image_attestation).
    type: dict
    default: {}
  failed_task:
    description: C(name) and C(action) of the task that failed (C(ansible_failed_task)).
    type: dict
    default: {}
  failed_result:
    description: Its result (C(ansible_failed_result)).
    type: dict
    default: {}
  started:
    description: When provisioning started (Unix time), for its duration.
    type: float
  phase:
    description: The phase of provisioning that had started when it failed, V(verify) or V(scrub); none before.
    type: str
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Record the artifact
  immutable.images.target_result:
    record: artifact
    results: "{{ finalize__recorded.results | default({}) }}"
    target: "{{ finalize__target }}"
    provision: "{{ finalize__provision }}"
    sbom: "{{ finalize__sbom }}"
    commit: "{{ finalize__commit }}"
    push: "{{ finalize__push }}"
  register: finalize__recorded
"""

RETURN = r"""
results:
  description: The records so far with this target's (O(results) unchanged when there is nothing to record).
  returned: always
  type: dict
record:
  description: The record made (for O(record=provision_failed), the C(provision_result)); null when none.
  returned: always
  type: dict
"""
