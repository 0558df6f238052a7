#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_image_commit
short_description: Internal - commit a builder container into an image and tag it
version_added: 0.1.0
description:
  - A step of the build that the finalize role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Commits a container into an image whose config is the base image's config with O(config) applied,
    plus O(labels). Nothing of the builder itself (its keep-alive command, build-time environment,
    labels) ends up in the image.
  - Tags the image with every reference in O(tags). If tagging fails, tags that were moved are pointed
    back at their previous images and the new image is deleted, so no untagged image is left behind.
  - O(state=absent) undoes a commit when a later stage (push, save) failed - it points the tags in
    O(previous) back at the images they had before and deletes O(image_id).
  - With O(squash=true) the image has a single layer - the container's whole filesystem, exported - and exactly the
    config a normal commit would give it. Tagging, rollback and O(state=absent) work the same.
  - No commit keeps the content of the container's volumes (the VOLUMEs of its image). When files under them changed
    since the container started, the module warns, naming them (RV(volume_changes)); the container's own Python
    looks, and without one it cannot tell.
extends_documentation_fragment:
  - immutable.images.docker
  - immutable.images.attributes
attributes:
  check_mode:
    support: full
    details: Reports the config the image would get without committing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run commits a new image. The build playbook skips the commit when nothing needs building.
options:
  state:
    description: V(present) commits and tags; V(absent) undoes a commit (see O(image_id), O(previous)).
    type: str
    choices: [present, absent]
    default: present
  container:
    description: Name or id of the builder container. Required with O(state=present).
    type: str
  tags:
    description: References C(repository:tag) to tag the image with. Required with O(state=present).
    type: list
    elements: str
  image_id:
    description: With O(state=absent), the image to delete.
    type: str
  previous:
    description: With O(state=absent), RV(previous) of the commit - where each tag pointed before.
    type: dict
    default: {}
  config:
    description:
      - Image config; keys as in the C(config) of a docker target (C(user), C(workdir), C(cmd), C(entrypoint),
        C(env), C(expose) as C(port/proto), C(labels), C(volumes), C(stop_signal), C(healthcheck) with durations in nanoseconds).
      - Unset keys keep the base image's value. C(entrypoint) without C(cmd) clears the command, as in a Dockerfile.
    type: dict
    default: {}
  base_image:
    description:
      - The image the build started from, whose config is kept where O(config) sets nothing.
        Defaults to the image the builder runs (which is a cache layer when the layer cache was used).
    type: str
  labels:
    description: Labels the build adds (build id, OCI labels). Labels in O(config) win over these.
    type: dict
    default: {}
  commit_message:
    description:
      - Commit message. With a build id in O(labels), the image's comment is first
        C(made by immutable.images build <build id>) (what tells the image from one built FROM it), then this message.
      - The alias O(message) is deprecated and will be removed in 2.0.0 (ansible-core reserves the name C(message)).
    type: str
    aliases: [message]
    version_added: 0.2.0
  author:
    description: Commit author.
    type: str
  squash:
    description:
      - Make a single-layer image - the container's filesystem, without the layers of the base image and without
        files that a later step deleted - with the same config as without O(squash).
      - The filesystem is exported to the module's temporary directory (under Ansible's C(remote_tmp), by default
        C(~/.ansible/tmp) on the machine the module runs on), which needs room for one uncompressed copy of it,
        and then loaded into the engine as an image; the file is removed right after. It takes longer than a normal commit, and the image
        shares no layers with its base image (pulls and pushes move all of it).
    type: bool
    default: false
  from_layer:
    description:
      - An image committed from O(container) that the container has not changed since, such as the last layer the
        build's layer cache stored. The image is then committed from a new, never-started container of that image
        (removed right after). It reuses that image's layers instead of writing the container's changes into a
        layer a second time. Its config is made as without this option.
      - When that image no longer exists, O(container) is committed. Ignored with O(squash).
    type: str
    version_added: 0.2.0
  layer_only:
    description:
      - O(container) does not hold the filesystem of O(from_layer) (the build's layer cache left its builder at an
        earlier layer, as nothing ran on it after the roles). When O(from_layer) no longer exists, the module fails
        instead of committing O(container). Fails with O(squash) (a squash is of the container's filesystem).
    type: bool
    default: false
    version_added: 0.2.0
  run_tests:
    description:
      - Run tests of the committed candidate, before it gets any tag (the C(run) entries of C(image_verify)).
        Each item takes the options of M(immutable.images.docker_run_test) - C(port), C(wait_for_command), C(http),
        C(command), C(timeout), C(network_mode), C(env).
      - When one fails, the candidate is deleted, nothing is tagged, and the module fails with C(stage=verify).
    type: list
    elements: dict
    default: []
  run_test_env:
    description:
      - The environment of each run test, in the order of O(run_tests) (a dict per test); it replaces the
        C(env) of that test. Kept apart because it may hold secrets - its values (of four characters or more) are
        masked in the messages, test results and logs the module returns. Not a no_log option, which would mask them
        wherever they occur, in the image's id and tags too; called directly at C(-vvv), the module's invocation
        shows them as any argument (the build's image_artifact step passes them without one).
    type: list
    elements: dict
    default: []
  build_id:
    description: Build id the run-test containers are labelled with (so cleanup and the janitor find them).
    type: str
  claim:
    description:
      - Before committing, claim the artifact on the engine (a container named after image name, target and build hash
        from O(labels), which cleanup removes by build id). Identical builds at once (a double CI trigger) then make
        one artifact - the build holding the claim; the others wait until it is released and point their tags at
        that build's image instead of committing (RV(reused_from)). A claim whose build was killed is taken over.
    type: bool
    default: false
    version_added: 0.2.0
  force:
    description:
      - With O(claim), the build was asked to rebuild (C(image_force), C(pull=always)). It reuses only an artifact that a build made
        while this one waited for its claim, never an older one.
    type: bool
    default: false
    version_added: 0.2.0
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Commit the builder
  immutable.images.docker_image_commit:
    container: immutable-webapp-container-20261123T2135Z-7f3a
    tags: [webapp:1.4.2, webapp:latest]
    config:
      user: app
      workdir: /app
      cmd: [python3, /app/server.py]
      env: {PORT: "8080"}
      expose: [8080/tcp]
    labels:
      org.opencontainers.image.version: 1.4.2

- name: Commit the builder into a single-layer image
  immutable.images.docker_image_commit:
    container: immutable-webapp-container-20261123T2135Z-7f3a
    tags: [webapp:1.4.2]
    squash: true
    config:
      user: app
      cmd: [python3, /app/server.py]
"""

RETURN = r"""
run_tests:
  description: Results of the run tests that passed (checks passed, host port, elapsed seconds), in order.
  returned: success and not check mode
  type: list
  elements: dict
image_id:
  description: Id of the new image.
  returned: success and not check mode
  type: str
  sample: sha256:0f3e...
base_image_id:
  description: Id of the image the builder ran.
  returned: success
  type: str
tags:
  description: References the image was tagged with.
  returned: success
  type: list
  elements: str
  sample: [webapp:1.4.2, webapp:latest]
config:
  description: The image config, in Docker API field names.
  returned: success
  type: dict
previous:
  description: For each tag, the image id it pointed at before (null if none), for undoing the commit.
  returned: success and not check mode
  type: dict
squashed:
  description: Whether the image was squashed into a single layer (O(squash)).
  returned: success and not check mode
  type: bool
volume_changes:
  description:
    - Paths under the container's volumes that changed since it started, which the image therefore lacks (at most
      six; files first, else directories). Empty when there were none, or when the module could not tell.
  returned: success and not check mode, when the image was committed (not reused through O(claim))
  type: list
  elements: str
  sample: [/var/www/html/index.html]
reused_from:
  description:
    - With O(claim), the build id of an identical build whose image was reused instead of committing (its RV(image_id));
      the tags point at it. Never undo such a result with O(state=absent), since the image is that build's.
  returned: when an identical build's artifact was reused
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.images.plugins.module_utils._artifacts import commit_module


def main():
    commit_module.run(AnsibleModule(**commit_module.MODULE_ARGS))


if __name__ == "__main__":
    main()
