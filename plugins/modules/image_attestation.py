#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_attestation
short_description: Internal - sign the provenance and SBOM of an artifact and attach them to it
version_added: 0.2.0
description:
  - A step of the build that the finalize role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Used by the C(finalize) role when the definition sets C(image_sign) (see C(docs/provenance.md)).
  - Builds an in-toto v1 statement with an SLSA v1 provenance predicate, and one with the artifact's CycloneDX SBOM when
    O(sbom_path) exists, for the artifact's subjects (the pushed manifest digest per repository, the image id of a
    local-only image, the AMI per region), signs each as a DSSE envelope with C(image_sign.key) and writes it beside
    the SBOM as C(<image>-<version>-<target>.provenance.dsse.json) and C(.sbom.dsse.json).
  - Docker images pushed to a registry get each envelope pushed to the same repository as an OCI artifact whose
    C(subject) is the image manifest; without a referrers API on the registry, the C(sha256-<hex>) fallback tag lists them.
  - AMIs get the provenance envelope's SHA-256 in the tag C(immutable.images.provenance.sha256), in every region.
  - A reused artifact (O(target) has C(reuse)) keeps the envelopes it has (beside the manifest, in the registry)
    when they are signed by the same key and about the same subjects; it gets new ones otherwise.
  - The private key is read by this action plugin on the controller, never passed to a module, logged or stored.
extends_documentation_fragment:
  - immutable.images.attributes
  - immutable.images.attributes.action
attributes:
  check_mode:
    support: full
    details: Signs and writes nothing; reports a change.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: A reused artifact keeps its envelopes; a new artifact gets new ones (their times differ).
  action:
    support: full
options:
  target:
    description: The planned target (an element of C(image_build.targets)).
    type: dict
    required: true
  image_id:
    description: (docker) The image id.
    type: str
  pushed:
    description: (docker) The RV(immutable.images.docker_image_publish#module:pushed) references and digests.
    type: list
    elements: dict
    default: []
  amis:
    description: (ec2) AMI id per region.
    type: dict
    default: {}
  base:
    description: The base image id or the source AMI id.
    type: str
  sbom_path:
    description: The CycloneDX SBOM of the artifact; no SBOM statement when the file does not exist.
    type: path
  username:
    description:
      - Registry user name (the target's C(registry_auth)). Without it, the credentials the Docker client configuration
        holds for the registry (C(docker login), its credential helpers), as for the push.
    type: str
  password:
    description: Registry password.
    type: str
  ecr:
    description:
      - V(true) (the target's C(registry_auth.ecr)) asks Amazon ECR for each registry's credentials, as
        the push does (see M(immutable.images.docker_image_publish)); O(username) and O(password) are not used then.
    type: bool
    default: false
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Sign and attach the provenance of a pushed image
  immutable.images.image_attestation:
    target: "{{ finalize__target }}"
    image_id: "{{ commit.image_id }}"
    pushed: "{{ push.pushed }}"
    base: "{{ builder.base_image_id }}"
    sbom_path: "{{ finalize__target.sbom_path }}"
"""

RETURN = r"""
msg:
  description: What was signed or kept, and the key id.
  returned: always
  type: str
attestations:
  description: One entry per signed statement.
  returned: always
  type: list
  elements: dict
  contains:
    predicate_type:
      description: V(https://slsa.dev/provenance/v1) or V(https://cyclonedx.org/bom).
      type: str
    path:
      description: The DSSE envelope beside the manifest.
      type: str
    sha256:
      description: SHA-256 of the envelope file.
      type: str
    keyid:
      description: The signing key's id (securesystemslib key id).
      type: str
    referrers:
      description: (docker, pushed) Per repository the attestation manifest digest and the fallback tag used (or V(null)).
      type: list
      elements: dict
registry_calls:
  description: HTTP requests made to registries to attach the envelopes.
  returned: always
  type: int
duration:
  description: Seconds the signing and attaching took.
  returned: success
  type: float
stage:
  description: V(sign) on failure.
  returned: failure
  type: str
"""
