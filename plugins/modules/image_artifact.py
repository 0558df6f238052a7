#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_artifact
short_description: Internal - produce the artifact of one target of an image build, or reuse the existing one
version_added: 0.2.0
description:
  - A step of the build that the finalize role runs once per target; not meant to be called from other playbooks, and
    its options may change in any release (see docs/plugins.md for the public modules).
  - "For a target that was provisioned, in order: M(immutable.images.image_sbom) (the SBOM and the scan gate);
    for a docker target M(immutable.images.docker_image_commit) (commit, tags, run tests, the claim of a double
    trigger), M(immutable.images.docker_image_publish) (push), C(community.docker.docker_image_export) (save);
    for an ec2 target M(immutable.images.ec2_ami_create); then M(immutable.images.image_attestation) when
    C(image_sign) is set."
  - "For a target whose artifact a build with the same inputs made (C(image_build.reused_targets[])): for docker,
    C(community.docker.docker_image_tag) for the tags that are missing, then push, save and sign as above; for ec2,
    M(immutable.images.ec2_ami_reuse) when the definition shares, deprecates or publishes, then
    M(immutable.images.image_attestation)."
  - Each part is run as a task of the finalize role would run it (and validates its own arguments). When a part
    fails, the rest is not run, a commit already made is undone (its tags back where they were, the new image
    deleted; not with C(image_on_error=keep), nor an image that an identical build made), and the task fails for
    this target; the finalize role goes on with the other targets, the cleanup and the manifest.
  - RV(record) is the target's result record (declared by C(plugins/plugin_utils/_definition/plan.py),
    C(result_spec)), which M(immutable.images.build_manifest) turns into the manifest's entry. A target whose
    builder did not provision gets the record of that failure, and nothing is run.
  - Changed when it made an artifact; for a reused one, only when one of its parts changed something (a tag put
    back, a push, a save, a share, a signature), so that an identical rerun reports no change.
  - Reads the plan from the fact C(image_build). This is an action plugin; it runs on the controller.
extends_documentation_fragment:
  - immutable.images.attributes
  - immutable.images.attributes.action
attributes:
  check_mode:
    support: none
    details: Skipped in check mode (the finalize role does not run it then).
  diff_mode:
    support: none
  idempotent:
    support: none
  action:
    support: full
options:
  target:
    description: The target, as the plan has it (C(image_build.targets[]) or C(image_build.reused_targets[])).
    type: dict
    required: true
  builder:
    description: What launch learned about the target's builder (C(image_target.builder) of the builder); V({}) for a
      reused target.
    type: dict
    default: {}
  provision:
    description: The C(provision_result) of the target's builder; not set when it never finished provisioning. Not
      used for a reused target.
    type: dict
  username:
    description:
      - The registry user of the target's C(registry_auth), for the push and the attachments. Without it, both use the
        credentials the Docker client configuration holds for the registry (C(docker login), its credential helpers).
    type: str
  password:
    description: Its password (never shown).
    type: str
  ecr:
    description:
      - V(true) (the target's C(registry_auth.ecr)) makes the push and the attachments ask Amazon ECR for each
        registry's credentials (see M(immutable.images.docker_image_publish)).
    type: bool
    default: false
  run_test_env:
    description:
      - The C(env) of each C(run) test of C(image_verify), in order. Its values of four characters or more are masked
        in what the tests report (see M(immutable.images.docker_image_commit)).
    type: list
    elements: dict
    default: []
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Produce the artifact of each target, or reuse the one already built from the same inputs
  immutable.images.image_artifact:
    target: "{{ finalize__target }}"
    builder: "{{ hostvars[finalize__target.host].image_target.builder | default({}) }}"
    provision: "{{ hostvars[finalize__target.host].provision_result | default(omit) }}"
  loop: "{{ image_build.targets + image_build.reused_targets }}"
  loop_control:
    loop_var: finalize__target
  register: finalize__artifacts
"""

RETURN = r"""
target:
  description: The target's name.
  returned: always
  type: str
record:
  description: The target's result record (C(status) V(succeeded) or V(failed); for a failure C(stage), C(task),
    the name of the part that failed, and C(message)).
  returned: always
  type: dict
"""
