# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private: what every other package shares, standard library only - the names and labels of build resources
(`naming`), the syntax of what a definition names (`references`), and digests and upload of build inputs (`inputs`).
Imported by modules, module_utils and controller-side plugins alike."""
