# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private, controller only: the build guard (a process of its own that cleans up when `ansible-playbook` dies)
and the per-user private log. Imported by the `build_guard` action, lookup and callback plugins."""
