# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private, controller only: the documents a build writes - the SBOM and scan gate, the build manifest and the
fleet manifest, and the result record of each target. Imported by the `image_definition`, `image_sbom`,
`image_attestation`, `image_artifact`, `target_result`, `build_manifest` and `fleet_manifest` action
plugins."""
