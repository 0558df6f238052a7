# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private, controller only: the per-role layer cache of docker builders. Imported by the `layer_cache` action
plugin, and by the `image_artifact` action plugin (the layer the builder is, which the artifact's commit reuses)."""
