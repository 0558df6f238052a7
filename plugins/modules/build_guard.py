#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: build_guard
short_description: Internal - remove a build's temporary resources if ansible-playbook ends before the build does
version_added: 0.1.0
description:
  - A step of the build that the launch and finalize roles runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - O(state=armed) starts a small detached process on the controller that waits for the
    C(ansible-playbook) process to end. If it ends before the guard is disarmed (Ctrl-C, SIGTERM, SIGKILL,
    a crash, or all builders unreachable so that the finalize play never runs), the guard removes every
    temporary resource carrying the build id, on every Docker engine and in every AWS region of the build,
    and the build's temporary directory.
  - Arming writes a token for the build in a private per-user directory; O(state=disarmed) removes that token,
    and the guard ends without cleaning up within a second (no signal is sent to any process). The finalize
    role disarms after its own cleanup.
  - Only a power loss or a lost controller escapes it; the builders' own dead man's switches and the janitor
    playbook C(immutable.images.cleanup) are for those.
  - The lookup C(immutable.images.build_guard), which the launch role evaluates in C(ansible-playbook)'s own
    process, does the cleanup of an interrupted build (Ctrl-C, SIGTERM) before the process exits, using the
    same tokens.
  - Armed and disarmed, it deletes the entries of the build's builders (their inventory names) from a persistent fact
    cache (C(fact_caching)). A builder is a new machine under a name that every build of its image and target reuses,
    so what an earlier builder of that name left is not its facts, and its own do not outlive it.
  - This is an action plugin; it runs on the controller and reads the C(image_build) fact.
extends_documentation_fragment:
  - immutable.images.attributes
  - immutable.images.attributes.action
attributes:
  check_mode:
    support: full
    details: Does nothing in check mode.
  diff_mode:
    support: none
  idempotent:
    support: none
  action:
    support: full
options:
  state:
    description:
      - Arm or disarm the guard of the build in C(image_build).
      - V(swept) (the janitor, C(playbooks/cleanup.yml)) finishes what the guards of ended builds left on this
        controller, for this user - builds whose ansible-playbook ended and whose guard died with it (a C(kill -9) of
        both, an OOM kill), so that their arming token is still there once the guard's passes would be over. Each is
        cleaned as its guard would have done (its Docker engines and AWS regions by its build id, its work directory),
        then the token goes. A token whose ansible-playbook still runs, or whose guard does, is left alone. Needs
        C(/proc) to tell whether a guard runs; without it nothing is swept.
    type: str
    choices: [armed, disarmed, swept]
    default: armed
    version_added: 0.2.0
  image_names:
    description: With O(state=swept), only the builds of these image names (all when not given).
    type: list
    elements: str
    version_added: 0.2.0
  pid:
    description:
      - Ignored (the guard of the build in C(image_build) is disarmed by its token). Kept for playbooks that pass it.
    type: int
  remove:
    description:
      - With O(state=disarmed), a directory to remove once the guard is disarmed (the build's temporary directory,
        which the guard would otherwise have removed). A missing directory is not an error.
    type: path
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Arm the build guard
  immutable.images.build_guard:
  register: guard

- name: Disarm it once the build cleaned up itself, and remove the build's temporary directory
  immutable.images.build_guard:
    state: disarmed
    remove: "{{ image_build.workdir }}"

- name: Finish the builds whose ansible-playbook and guard both died on this controller
  immutable.images.build_guard:
    state: swept
"""

RETURN = r"""
pid:
  description: Process id of the guard.
  returned: when armed
  type: int
watching:
  description: Process id of the ansible-playbook process it watches.
  returned: when armed
  type: int
spec:
  description: What the guard removes (build id, Docker engines, AWS regions, work directory).
  returned: when armed
  type: dict
disarmed:
  description: Build id of the guard that was disarmed.
  returned: when disarmed
  type: str
removed:
  description: The directory O(remove) named, if it existed and was removed.
  returned: when disarmed
  type: str
facts_forgotten:
  description: The builders whose entries the persistent fact cache was asked to delete (none with the memory cache).
  returned: when armed or disarmed
  type: list
  elements: str
  version_added: 0.2.0
swept:
  description: The build ids whose leftovers were cleaned and whose tokens were removed.
  returned: when swept
  type: list
  elements: str
  version_added: 0.2.0
messages:
  description: What the cleaning of each swept build removed or could not remove, engine by engine, region by region.
  returned: when swept
  type: list
  elements: str
  version_added: 0.2.0
"""
