# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private: the speed layer of docker builders - the warm interpreter (`server`, `client`), the builder's session
agent (`agent`) and the controller's relay (`relay`), and their installation (`install`). All but `install` run as
processes of their own (docs/development.md, "Processes"); the standalone ones use only the standard library."""
