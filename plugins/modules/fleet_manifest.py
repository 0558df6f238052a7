#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_manifest
short_description: Internal - write the fleet manifest of a build_all run
version_added: 0.2.0
description:
  - A step of the build that the immutable.images.build_all playbook runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Composes the fleet manifest of the playbook C(immutable.images.build_all) from what each definition host
    recorded (its build manifest C(image_build_manifest), and C(image_fleet_failure) when its build could not be
    launched or failed) and writes it as JSON to O(path).
  - One entry per definition, with its status (V(built), V(reused) when every target was already built from the
    same inputs, V(failed) with the stage and the message), the path of its own build manifest, and its targets.
  - This is an action plugin; it runs on the controller. Run it once (C(run_once)) for the play's hosts.
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
  hosts:
    description: The definition hosts of the run (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  path:
    description: Where to write the fleet manifest; relative paths resolve against the current directory. Unset writes no file.
    type: str
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Write the fleet manifest
  immutable.images.fleet_manifest:
    hosts: "{{ ansible_play_hosts_all }}"
    path: "{{ image_fleet_manifest | default('fleet-manifest.json') }}"
  run_once: true
"""

RETURN = r"""
msg:
  description: One line per definition; the failed ones with their stage and cause.
  returned: always
  type: str
path:
  description: Where the fleet manifest was written (absolute), if anywhere.
  returned: always
  type: str
fleet:
  description: The fleet manifest (see C(docs/scale-out.md)); C(status) is V(succeeded) only if no definition failed.
  returned: always
  type: dict
"""
