#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: builder_files
short_description: Internal - upload the image files archive into a builder in one transfer
version_added: 0.1.0
description:
  - A step of the build that the provision role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Unpacks a tar archive (member names relative to C(/)) into the builder the task runs on.
  - Docker builders (hosts whose C(image_target) is a docker target, whatever their connection) get it through
    the engine's archive API in one request. Other builders get one copy of the archive and one C(tar) command.
  - A directory the builder has keeps its owner and mode, and a link to a directory stays a link (the files go
    through it), as C(cp -r) leaves them.
  - The archive is the one M(immutable.images.image_definition) writes from the C(image_files) definition variable.
  - This is an action plugin; it runs on the controller.
extends_documentation_fragment:
  - immutable.images.attributes
  - immutable.images.attributes.action
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: none
    details: The archive is unpacked on every run.
  action:
    support: full
options:
  src:
    description: Path of the tar archive on the controller.
    type: path
    required: true
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Upload the image files
  immutable.images.builder_files:
    src: "{{ image_build.files_archive }}"
  when: image_build.files_archive
"""

RETURN = r"""
method:
  description: How the archive travelled.
  returned: success
  type: str
  sample: docker archive API
"""
