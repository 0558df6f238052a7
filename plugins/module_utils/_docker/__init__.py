# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private: the Docker side of a build - engine clients, builder containers and their leases, commit, push, run
tests, the janitor and exec streams. Imported by the docker modules (`docker_builder`, `docker_image_commit`, ...) and by
controller-side plugins that talk to an engine (layer cache, guard, reuse checks, the docker_session connection)."""
