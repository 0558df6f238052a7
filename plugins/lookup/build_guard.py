# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: build_guard
short_description: Make ansible-playbook remove the temporary resources of its builds before it exits on Ctrl-C or SIGTERM
version_added: 0.2.0
description:
  - Installs, in the process that evaluates it, handlers for SIGINT (Ctrl-C) and SIGTERM that stop the modules
    still running for the process (its workers and the controller's warm interpreter), remove every temporary
    resource of the builds armed for it by M(immutable.images.build_guard), and then let the signal take its
    usual course (exit code 99 for Ctrl-C, 143 for SIGTERM).
  - It must run in C(ansible-playbook)'s own process. The role C(immutable.images.launch) evaluates it in the
    condition of a C(meta) task, which ansible-core evaluates there; nothing needs enabling in C(ansible.cfg).
  - Returns V(true); calling it again is harmless.
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
# What the launch role does first (a meta task's condition is evaluated in ansible-playbook's process):
- name: Let ansible-playbook remove this build's resources itself on Ctrl-C or SIGTERM
  ansible.builtin.meta: end_host
  when: not lookup('immutable.images.build_guard')
"""

RETURN = r"""
_raw:
  description: V(true).
  type: list
  elements: bool
"""

import os

from ansible.constants import DEFAULT_LOCAL_TMP
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.immutable.images.plugins.plugin_utils._guard import build_guard


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        build_guard.install_signal_handlers(Display(), warm_dir=os.path.join(DEFAULT_LOCAL_TMP, "warm"))
        return [True]
