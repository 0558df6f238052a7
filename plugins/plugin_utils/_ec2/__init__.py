# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private, controller only: what the ec2 builders' connection adds to ansible.builtin.ssh, the warm interpreter for
the modules that run as root (`warm`). Imported by the `ssh` connection plugin."""
