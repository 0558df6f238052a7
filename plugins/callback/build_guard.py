# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: build_guard
type: aggregate
short_description: Remove a build's temporary resources before ansible-playbook exits on Ctrl-C or SIGTERM
author:
  - immutable.images maintainers (@immutable-images)
version_added: 0.1.0
description:
  - Not needed any more, since the role C(immutable.images.launch) installs the same handlers through the lookup
    C(immutable.images.build_guard), with no configuration. Kept so that configurations enabling it keep working.
  - When C(ansible-playbook) receives SIGINT (Ctrl-C) or SIGTERM during a build, stops the modules still running
    for it, removes every temporary resource of the builds it is running (found by build id, as the end of a
    build does) before the process exits, then lets the signal take its usual course (exit code 99 for Ctrl-C,
    143 for SIGTERM).
requirements:
  - enable in configuration
"""

import os

from ansible.constants import DEFAULT_LOCAL_TMP
from ansible.plugins.callback import CallbackBase

from ansible_collections.immutable.images.plugins.plugin_utils._guard import build_guard


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "immutable.images.build_guard"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        build_guard.install_signal_handlers(self._display, warm_dir=os.path.join(DEFAULT_LOCAL_TMP, "warm"))
