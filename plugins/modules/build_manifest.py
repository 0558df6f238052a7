#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: build_manifest
short_description: Internal - write the build manifest and report the outcome of a build
version_added: 0.1.0
description:
  - A step of the build that the finalize role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Composes the manifest of the current build (build id, hash, name, version, and per target its type,
    status, artifact ids, base image, durations, and for a failure the stage, task and cause) from the
    C(image_build) plan and the per-target O(results).
  - Writes it as JSON to the C(image_manifest) path of the definition, if set, and returns it.
  - RV(msg) has one line per target; for a failed one it names the stage and the cause, and how to get
    into a builder that was kept for debugging. The finalize role fails the play on a failed build.
  - This is an action plugin; it runs on the controller.
extends_documentation_fragment:
  - immutable.images.attributes
  - immutable.images.attributes.action
attributes:
  check_mode:
    support: full
    details: Writes no file.
  diff_mode:
    support: none
  idempotent:
    support: full
  action:
    support: full
options:
  results:
    description: Per-target outcome keyed by target name, as the finalize role collects it.
    type: dict
    default: {}
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Write the build manifest and report the outcome
  immutable.images.build_manifest:
    results: "{{ finalize__results }}"
"""

RETURN = r"""
msg:
  description: One line per target.
  returned: always
  type: str
manifest_path:
  description: Where the manifest was written, if anywhere.
  returned: always
  type: str
manifest:
  description: The manifest (see C(docs/manifest.md)); C(status) is V(succeeded) only if every target succeeded.
  returned: always
  type: dict
"""
