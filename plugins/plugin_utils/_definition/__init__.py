# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private, controller only: the semantic checks and normalization of an image definition, the variables its builders
will get from the inventory (builder_variables), and the modules its roles name (role_modules). Imported by the
`image_definition` and `warm_controller` action plugins."""
