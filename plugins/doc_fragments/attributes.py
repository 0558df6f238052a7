# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Descriptions of the attributes every module of this collection declares.

    A module states only `support` (and `details`) for each attribute; the descriptions come from
    here, as in community.docker's attributes fragment.
    """

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return the changed status it predicts without changing anything.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) when run in diff mode.
  idempotent:
    description:
      - When run twice in a row in the same environment with the same parameters, the second run reports no change.
"""

    # For modules that run through an action plugin of the same name.
    ACTION = r"""
options: {}
attributes:
  action:
    description: Runs an action plugin of the same name on the controller, which calls the module where needed.
"""
