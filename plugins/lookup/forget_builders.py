# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: forget_builders
short_description: Take the builders of this run's finished builds out of the inventory, with their variables
version_added: 0.2.0
description:
  - Removes from C(ansible-playbook)'s inventory (the group C(image_builders) and every other) the builder hosts of
    this run's builds that are over, and forgets what those hosts had gathered, set (C(set_fact)) and registered.
    A build is over once its C(immutable.images.finalize) wrote its manifest, or once the host that launched it
    launched another. Builds under way keep their builders; hosts that are not builders are never touched.
  - A playbook may run the three plays of a build more than once. Without this, a later provision play would run on
    the earlier builds' builders as well (removed by then), and a builder named as an earlier one
    (V(<image_name>-<target name>)) would be the same host to ansible-core, with the earlier one's facts and
    variables.
  - It must run in C(ansible-playbook)'s own process. The role C(immutable.images.launch) evaluates it in the
    condition of a C(meta) task, which ansible-core evaluates there.
  - Returns V(true). The names it took out are shown at verbosity 1 and above.
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Forget the builders of this run's finished builds
  ansible.builtin.meta: end_host
  when: not lookup('immutable.images.forget_builders')
"""

RETURN = r"""
_raw:
  description: V(true).
  type: list
  elements: bool
"""

import multiprocessing

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.immutable.images.plugins.plugin_utils import _builder_inventory as builder_inventory


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        hostvars = (variables or {}).get("hostvars")
        # a task's worker is a child process with a copy of the inventory and variables: changing them there is lost
        if multiprocessing.parent_process() is not None or not hasattr(hostvars, "_variable_manager"):
            raise AnsibleError("immutable.images.forget_builders must be evaluated in ansible-playbook's own process, "
                               "in the condition of a meta task (see its documentation)")
        forgotten = builder_inventory.forget_finished_builders(hostvars)
        if forgotten:
            Display().v("builders of finished builds taken out of the inventory: %s" % ", ".join(forgotten))
        return [True]
