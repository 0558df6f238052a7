#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_cleanup
short_description: Remove the temporary resources of a build, or every leftover older than an age
version_added: 0.1.0
description:
  - Finds temporary resources by the labels every build puts on them, never by the build's own records.
    These are builder containers, run-test containers (C(immutable.images.kind=verify), see M(immutable.images.docker_run_test))
    and untagged images that carry an C(immutable.images.build-id) label.
  - With O(build_id), removes the resources of that build (the end of every build does this).
    With O(max_age), removes the leftovers of any build older than that (the janitor, after a crash or a C(kill -9)).
  - Tagged images are artifacts and are never touched, nor is anything without our labels.
  - On the controller (a local connection, without become), its action plugin does the work in the task's worker
    process, with the Docker SDK of C(ansible-playbook)'s Python when it has one; otherwise it runs as a module, with
    the Docker SDK of the module's Python.
extends_documentation_fragment:
  - immutable.images.docker
  - immutable.images.attributes
  - immutable.images.attributes.action
attributes:
  check_mode:
    support: full
    details: Lists what would be removed.
  diff_mode:
    support: none
  idempotent:
    support: full
  action:
    support: full
options:
  build_id:
    description: Remove the resources of this build.
    type: str
  max_age:
    description: Remove leftovers of any build older than this, for example V(2h), V(1d), V(30m).
    type: str
  superseded_of:
    description:
      - Also remove earlier artifacts of this image name that lost their last tag to a rebuild
        (untagged images labelled as our artifacts of that name). Images a container uses stay.
    type: str
  cache_keep:
    description:
      - Also prune the per-role layer cache, keeping the newest O(cache_keep) layers of each image name.
        Unset leaves the cache alone.
    type: int
  image_names:
    description:
      - Only the leftovers and cache layers of builds of these image names (the janitor's scope, for example on an
        engine other teams build on too). Unset means every build's.
    type: list
    elements: str
    version_added: 0.2.0
  keep:
    description:
      - Names or ids to leave in place (a failed builder kept for debugging). A kept builder stays running when
        ansible-playbook ends, instead of removing itself with the end of its lease.
    type: list
    elements: str
    default: []
  engines:
    description:
      - Several engines, each a dict with the keys O(docker_host) and O(tls) take (the entries of a build's
        C(image_build.engines)); the same removal runs on each, one after the other, and the results are put
        together. O(docker_host) and O(tls) are then not used. An empty list removes nothing.
    type: list
    elements: dict
    version_added: 0.2.0
  skip_unreachable:
    description:
      - When the engine does not answer, warn and remove nothing instead of failing (the end of a build whose engine
        went away; the janitor removes what is left there once it is back).
    type: bool
    default: false
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Remove what a build left behind
  immutable.images.docker_cleanup:
    build_id: "{{ image_build_id }}"

- name: List leftovers older than two hours (check mode), then remove them
  immutable.images.docker_cleanup:
    max_age: 2h
"""

RETURN = r"""
resources:
  description: The temporary resources found.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: V(container) or V(image).
      type: str
    id:
      description: Resource id.
      type: str
    name:
      description: Resource name.
      type: str
    build_id:
      description: Build that created it.
      type: str
    created:
      description: Creation time (UTC).
      type: str
removed:
  description: Ids removed (empty in check mode).
  returned: always
  type: list
  elements: str
engine_answered:
  description: With O(skip_unreachable), false when the engine, or one of O(engines), did not answer (nothing was removed
    there). (Not C(unreachable), which Ansible would take for the host's.)
  returned: when the engine did not answer
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.images.plugins.module_utils._docker import cleanup_module


def main():
    cleanup_module.run(AnsibleModule(**cleanup_module.MODULE_ARGS))


if __name__ == "__main__":
    main()
