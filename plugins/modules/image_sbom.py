#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_sbom
short_description: Internal - write the CycloneDX SBOM of an artifact and run the vulnerability scan gate
version_added: 0.2.0
description:
  - A step of the build that the finalize role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Writes the packages that M(immutable.images.package_inventory) found on a builder as a CycloneDX 1.5 JSON
    SBOM to O(path). The artifact is the SBOM's C(metadata.component) (O(metadata)); the operating system is a
    component that the OS packages depend on.
  - Then scans the SBOM with C(trivy sbom) or C(grype sbom:) when one of them is on the controller's C(PATH)
    (trivy first), or with O(scanner). Findings at or above O(scan_fail_on) fail the task with RV(stage=scan),
    naming the target and the first vulnerabilities and packages.
  - Without a scanner the gate is skipped, RV(scanner) is V(null) and RV(msg) says so; no warning is issued.
  - A scanner that cannot run (no vulnerability database, a timeout) fails the task too, unless O(scan_fail_on)
    is V(none).
  - This is an action plugin; it runs on the controller. See C(docs/sbom-and-scanning.md).
extends_documentation_fragment:
  - immutable.images.attributes
  - immutable.images.attributes.action
attributes:
  check_mode:
    support: full
    details: Writes no file and does not scan; reports a change.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run writes a new SBOM (its serial number and timestamp change).
  action:
    support: full
options:
  packages:
    description: The RV(immutable.images.package_inventory#module:packages) of the builder.
    type: list
    elements: dict
    required: true
  os:
    description: The RV(immutable.images.package_inventory#module:os) of the builder.
    type: dict
    default: {}
  path:
    description:
      - The SBOM file to write (relative to the current directory). Parent directories are created;
        the file gets mode C(0644).
    type: path
    required: true
  metadata:
    description: The artifact the SBOM describes.
    type: dict
    default: {}
    suboptions:
      image_name:
        description: Image name, the name of C(metadata.component).
        type: str
      image_version:
        description: Image version, the version of C(metadata.component).
        type: str
      build_id:
        description: Build id (property C(immutable.images:build-id)).
        type: str
      target:
        description: Target name (property C(immutable.images:target)); named in messages.
        type: str
      target_type:
        description: V(docker) makes C(metadata.component) a C(container), V(ec2) an C(operating-system).
        type: str
        choices: [docker, ec2]
      artifact:
        description: What was built, for example the image id or the AMI name (property C(immutable.images:artifact)).
        type: str
  scan_fail_on:
    description:
      - The lowest severity that fails the task. Severities rank C(negligible) < C(low) < C(medium) < C(high)
        < C(critical); findings of unknown severity rank lowest and never block.
      - V(none) scans and reports but never fails.
    type: str
    default: critical
    choices: [none, negligible, low, medium, high, critical]
  scanner:
    description:
      - The scanner to run, a path or a command name on C(PATH) whose name starts with C(trivy) or C(grype).
      - Unset, C(trivy) and then C(grype) are looked up on C(PATH); when neither is there the gate is skipped.
        An O(scanner) that is not found fails the task.
    type: str
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: List what is installed on the builder
  immutable.images.package_inventory:
  register: inventory

- name: Write the SBOM next to the manifest and fail on high or critical vulnerabilities
  immutable.images.image_sbom:
    packages: "{{ inventory.packages }}"
    os: "{{ inventory.os }}"
    path: "sbom/{{ image_name }}-{{ image_version }}-container.cdx.json"
    metadata:
      image_name: "{{ image_name }}"
      image_version: "{{ image_version }}"
      build_id: "{{ image_build_id }}"
      target: container
      target_type: docker
    scan_fail_on: high
"""

RETURN = r"""
msg:
  description: What was written and what the scan found; for a failed gate the target, count and first findings.
  returned: always
  type: str
path:
  description: Absolute path of the SBOM.
  returned: always
  type: str
sha256:
  description: SHA-256 of the SBOM file (in check mode, of the content that would have been written).
  returned: always
  type: str
package_count:
  description: Number of package components in the SBOM.
  returned: always
  type: int
scanner:
  description: V(trivy) or V(grype), or V(null) when the scan did not run (no scanner on C(PATH), check mode).
  returned: always
  type: str
fail_on:
  description: The O(scan_fail_on) in effect.
  returned: always
  type: str
findings:
  description: Number of findings per severity (C(unknown), C(negligible), C(low), C(medium), C(high), C(critical)); empty without a scan.
  returned: always
  type: dict
  sample: {unknown: 0, negligible: 0, low: 12, medium: 3, high: 1, critical: 0}
blocking:
  description: The findings at or above O(scan_fail_on), most severe first.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Vulnerability id, for example V(CVE-2024-1234).
      type: str
    package:
      description: Package name.
      type: str
    version:
      description: Installed version.
      type: str
    severity:
      description: Normalized severity.
      type: str
stage:
  description: V(scan) when the gate failed (findings, or a scanner that could not run), V(sbom) when the file could not be written.
  returned: failure
  type: str
scan_error:
  description: Why the scanner could not run.
  returned: when the scanner failed
  type: str
"""
