# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private, controller only: the per-role layer cache of docker builders. Imported by the `layer_cache` action
plugin, by the `image_artifact` action plugin (the layer the builder is, which the artifact's commit reuses), and by
the `image_definition` action plugin (the layer the plan expects a builder to start from)."""
