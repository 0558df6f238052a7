#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_builder
short_description: Start or remove a temporary builder container
version_added: 0.1.0
description:
  - Starts a container from a base image that idles until Ansible has provisioned it, labelled so that
    cleanup and the janitor can find it by build id.
  - Only the entrypoint of the builder is overridden (a C(/bin/sh) loop reading its stdin, see O(lease_pid)), so the
    committed image keeps the base image's command unless the image config says otherwise.
  - With O(state=absent) the container and its anonymous volumes are removed.
extends_documentation_fragment:
  - immutable.images.docker
  - immutable.images.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A running container of the same name is left as it is.
options:
  name:
    description: Container name, unique per build.
    type: str
    required: true
  state:
    description: V(present) starts the builder, V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  image:
    description: Base image. Required with O(state=present).
    type: str
  pull:
    description: V(missing) pulls only when the image is not on the engine, V(always) pulls every time, V(never) never pulls.
    type: str
    choices: [missing, always, never]
    default: missing
  platform:
    description: Platform of the image and container, for example V(linux/amd64).
    type: str
  network_mode:
    description: Network mode, for example V(bridge), V(host) or V(none).
    type: str
  volumes:
    description: Bind mounts C(host:container[:ro]) for the build only.
    type: list
    elements: str
    default: []
  privileged:
    description: Run privileged. Off unless asked.
    type: bool
    default: false
  labels:
    description: Labels of the container, normally the build id labels that cleanup and the janitor look for.
    type: dict
    default: {}
  warm_interpreter:
    description:
      - Start a warm Python interpreter in the builder (under C(/dev/shm), never committed) that runs pipelined
        modules in forked children instead of a new interpreter each. Pass C(env) of RV(container.warm) to the
        connection as C(ansible_docker_extra_env).
      - Needs Python 3.9 or newer in the builder; without it, or when it cannot start, modules run the usual way
        and C(reason) of RV(container.warm) says why (also in a warning).
    type: bool
    default: false
  python_interpreter:
    description: The builder's Python, for O(warm_interpreter).
    type: str
    default: /usr/bin/python3
  lease_pid:
    description:
      - The process the builder's lease lives for. A small process on the controller holds the builder's standard
        input open until that process ends; then the builder's main process ends and the engine removes the
        container (C(AutoRemove)), also when every controller process was killed.
      - The action plugin sets it to the C(ansible-playbook) process. Unset, the builder idles until it is removed.
    type: int
author:
  - immutable.images maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Start a builder
  immutable.images.docker_builder:
    name: immutable-webapp-container-20261123T2135Z-7f3a
    image: debian:bookworm
    pull: missing
    labels:
      immutable.images.build-id: 20261123T2135Z-7f3a
      immutable.images.kind: builder

- name: Remove it
  immutable.images.docker_builder:
    name: immutable-webapp-container-20261123T2135Z-7f3a
    state: absent
"""

RETURN = r"""
container:
  description: The builder. Empty after O(state=absent).
  returned: success
  type: dict
  contains:
    id:
      description: Container id.
      type: str
      sample: 4f1c5e0d6a2b...
    name:
      description: Container name.
      type: str
    image_id:
      description: Id of the image it runs.
      type: str
      sample: sha256:2844630e3fc8...
    base_image:
      description: The base image as given.
      type: str
    base_image_id:
      description: Id of the base image.
      type: str
    pulled:
      description: Whether the base image was pulled.
      type: bool
    warm:
      description: With O(warm_interpreter), whether the warm interpreter started, why not, and the connection env.
      type: dict
      returned: when O(warm_interpreter=true) and the builder was started
      sample: {started: true, reason: null, env: {PYTHONPATH: /dev/shm/immutable-images-warm/client}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.images.plugins.module_utils.docker_builder import DockerBuilder
from ansible_collections.immutable.images.plugins.module_utils.docker_client import (
    DOCKER_COMMON_ARGS,
    DockerFailure,
    client_from_module,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            DOCKER_COMMON_ARGS,
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            image=dict(type="str"),
            pull=dict(type="str", choices=["missing", "always", "never"], default="missing"),
            platform=dict(type="str"),
            network_mode=dict(type="str"),
            volumes=dict(type="list", elements="str", default=[]),
            privileged=dict(type="bool", default=False),
            labels=dict(type="dict", default={}),
            warm_interpreter=dict(type="bool", default=False),
            python_interpreter=dict(type="str", default="/usr/bin/python3"),
            lease_pid=dict(type="int"),
        ),
        required_if=[("state", "present", ["image"])],
        supports_check_mode=True,
    )
    p = module.params
    builder = DockerBuilder(client_from_module(module))
    try:
        if p["state"] == "absent":
            exists = builder.find(p["name"]) is not None
            changed = exists and (module.check_mode or builder.remove(p["name"]))
            module.exit_json(changed=bool(changed), container={})
        changed, facts = builder.launch(
            p["name"], p["image"], {str(k): str(v) for k, v in p["labels"].items()}, pull=p["pull"],
            platform=p["platform"], network_mode=p["network_mode"], volumes=p["volumes"],
            privileged=p["privileged"], check_mode=module.check_mode, lease_pid=p["lease_pid"],
            docker_host=p["docker_host"])
        if p["warm_interpreter"] and changed and not module.check_mode:
            facts["warm"] = builder.start_warm_interpreter(p["name"], p["python_interpreter"])
            if not facts["warm"].get("started"):
                module.warn("%s: the warm interpreter did not start (%s); its modules run the usual way, only slower"
                            % (p["name"], facts["warm"].get("reason")))
    except DockerFailure as e:
        module.fail_json(msg=str(e), stage=e.stage)
    module.exit_json(changed=changed, container=facts)


if __name__ == "__main__":
    main()
