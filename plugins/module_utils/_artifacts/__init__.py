# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private: what is known about artifacts once built - reuse of an identical build's artifact and claims on it,
package inventory, retention, signed provenance and its verification, OCI attestations. Imported by modules
(`docker_image_commit`, `image_retention`, `image_attestation_verify`, `package_inventory`, ...) and by
controller-side plugins."""
