#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: target_result
short_description: Internal - record why the provisioning of a builder failed
version_added: 0.2.0
description:
  - A step of the build that the provision role runs; not meant to be called from other playbooks, and its
    options may change in any release (see docs/plugins.md for the public modules).
  - Makes the C(provision_result) of a builder whose provisioning failed (declared by
    C(plugins/plugin_utils/_definition/plan.py)), from the task that failed and its result. The records of the
    targets' artifacts are made by M(immutable.images.image_artifact).
  - The stage of the failure is the one the failed module reports (C(upload), C(sbom)), else the phase it happened in
    (C(verify), C(scrub)), else C(provision).
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
    description: V(provision_failed) - C(provision_result) of a builder whose provisioning failed.
    type: str
    required: true
    choices: [provision_failed]
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
- name: Work out why provisioning failed
  immutable.images.target_result:
    record: provision_failed
    failed_task:
      name: "{{ ansible_failed_task.name }}"
      action: "{{ ansible_failed_task.action }}"
    failed_result: "{{ ansible_failed_result }}"
    started: "{{ provision__started | default(0) }}"
  register: provision__failure
"""

RETURN = r"""
record:
  description: The C(provision_result) of the builder.
  returned: always
  type: dict
"""
