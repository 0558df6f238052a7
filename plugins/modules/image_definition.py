#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_definition
short_description: Internal - validate an image definition and compute its build plan
version_added: 0.1.0
description:
  - A step of the build that the launch role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Reads the image definition from the C(image_*) variables (see the launch role's argument spec or
    C(docs/definition-reference.md)), checks types and then everything a type cannot say (unique target names,
    semantic version, image references, which keys fit which target type, that files and roles exist), and
    reports every problem at once, each naming its variable. Nothing is created before this passes.
  - Computes the build id (unique per run, starting with the UTC time) and the build hash (a digest
    of the definition, the files' contents and the roles' contents), and returns the normalized plan
    the launch, provision and finalize roles work from (the launch role sets it as the facts
    C(image_build_id), C(image_build_hash) and C(image_build)).
  - Writes the files archive and one task file per role into a private temporary directory (not in check mode).
  - This is an action plugin; it runs on the controller and takes no options.
extends_documentation_fragment:
  - immutable.images.attributes
  - immutable.images.attributes.action
attributes:
  check_mode:
    support: full
    details: Validates and plans; writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run is a new build with a new build id.
  action:
    support: full
options: {}
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Validate the definition and plan the build
  immutable.images.image_definition:
  vars:
    image_name: webapp
    image_version: 1.4.2
    image_targets:
      - name: container
        type: docker
        base_image: debian:bookworm
"""

RETURN = r"""
msg:
  description: The plan, one line per target.
  returned: success
  type: str
errors:
  description: Every problem found, each naming its variable.
  returned: failure
  type: list
  elements: str
  sample: ["image_version: '1.4' is not a semantic version like 1.4.2"]
build:
  description: The normalized build plan.
  returned: success
  type: dict
  contains:
    id:
      description: Unique id of this run.
      type: str
      sample: 20261123T2135Z-7f3a
    hash:
      description: Short digest of the build inputs.
      type: str
      sample: 3f9c0a12b7de
    targets:
      description: Selected targets, normalized, with builder names, labels, image references.
      type: list
      elements: dict
    workdir:
      description: Private temporary directory of the build (files archive, role task files).
      type: str
    role_tasks:
      description: The task file that runs every role in order, as a list of one (empty without roles).
      type: list
      elements: str
"""
