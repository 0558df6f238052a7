#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_builder
short_description: Internal - start or remove a temporary builder container
version_added: 0.1.0
description:
  - A step of the build that the launch role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Starts a container from a base image that idles until Ansible has provisioned it, labelled so that
    cleanup and the janitor can find it by build id.
  - Only the entrypoint of the builder is overridden (a C(/bin/sh) loop reading its stdin, see O(lease_pid)), so the
    committed image keeps the base image's command unless the image config says otherwise.
  - With O(state=absent) the container and its anonymous volumes are removed.
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
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A running container of the same name is left as it is.
  action:
    support: full
options:
  name:
    description: Container name, unique per build. Required unless O(targets) is given.
    type: str
  targets:
    description:
      - Start the builders of these targets of the build's plan (the C(image_build.targets) entries of type C(docker))
        at once, instead of the one of O(name); each builder's name, base image and settings are its target's, and
        O(warm_interpreter), O(timeout) and O(lease_pid) are the task's. The launch role starts its docker builders
        this way.
      - Done by the action plugin in the task's worker, one thread per builder (as a module, one after another). The
        result has RV(results), one result per target in order, each as for one builder with its target under
        C(target); the task fails when a builder could not be started (the others are started).
    type: list
    elements: dict
    version_added: 0.2.0
  inventory:
    description:
      - With O(targets), also make each builder's inventory entry, as the launch role adds its builders with
        M(ansible.builtin.add_host) (RV(results[].inventory_entry)), and the build they are part of with where they
        went (RV(build)).
      - Done by the action plugin, from the results; the module does nothing with it.
    type: dict
    version_added: 0.2.0
    suboptions:
      build:
        description: The build's plan (C(image_build)), as every builder gets it.
        type: dict
        required: true
      groups:
        description: The inventory groups every builder joins.
        type: list
        elements: str
        required: true
      inventory_dir:
        description:
          - The builders' C(inventory_dir).
          - Without it and O(inventory.inventory_file), the action gives the builders the C(inventory_dir) and
            C(inventory_file) a play gives a host of the inventory. That is the task host's own, else the first inventory
            source that exists (the directory it is, or is in), else the current directory.
        type: str
      inventory_file:
        description: The builders' C(inventory_file). See O(inventory.inventory_dir).
        type: str
  state:
    description: V(present) starts the builder, V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  image:
    description: Base image. Required with O(state=present).
    type: str
  from_layer:
    description:
      - An image of the build's layer cache to create the builder from instead of O(image), which stays its base image
        (RV(container.base_image_id)). When it is no longer on the engine, the builder starts from O(image).
      - The launch role gives the layer the plan expects the build's first layer lookups to find, so that the builder
        need not be re-created from it.
    type: str
    version_added: 0.2.0
  start:
    description:
      - V(false) creates the builder from O(from_layer) and does not start it. Nothing can run on it; its artifact is
        committed from that layer, which the created container keeps on the engine. When that layer is gone, the
        builder is started from O(image) as with V(true), and RV(container.status) is V(running).
      - Such a builder has no lease (O(lease_pid) is not used). The build's cleanup, its guard or the janitor removes
        it by its labels.
      - The launch role passes V(false) for a target the plan expects to run nothing (C(image_build.targets[].start_builder)).
    type: bool
    default: true
    version_added: 0.2.0
  pull:
    description: V(missing) pulls only when the image is not on the engine, V(always) pulls every time, V(never) never pulls.
    type: str
    choices: [missing, always, never]
    default: missing
  pull_auth:
    description:
      - Credentials for the registry of O(image), used when it is pulled (only for that registry). Without them the
        Docker client configuration of the user running the task is used (C(~/.docker/config.json), as written by
        C(docker login)).
      - The launch role gives each target's C(base_image_auth) through O(pull_auth_by_target).
      - Either O(pull_auth.username) and O(pull_auth.password), or O(pull_auth.ecr).
    type: dict
    version_added: 0.2.0
    suboptions:
      username:
        description: Registry user. Requires O(pull_auth.password).
        type: str
      password:
        description: Registry password or token. Never logged.
        type: str
      ecr:
        description:
          - V(true) asks Amazon ECR for the registry's credentials when the image is pulled (GetAuthorizationToken,
            as C(aws ecr get-login-password) does), with the standard AWS settings; boto3 is needed then. The region is
            the registry's (V(<account>.dkr.ecr.<region>.amazonaws.com)); for a registry of another name, the AWS
            settings' region.
        type: bool
        version_added: 0.2.0
  pull_auth_by_target:
    description:
      - With O(targets), the O(pull_auth) of each target that has one, by the target's name.
    type: dict
    version_added: 0.2.0
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
      - For the builder's connection P(immutable.images.docker_session#connection) with
        O(immutable.images.docker_session#connection:warm=true), as the launch role sets it. The action plugin then
        lets that connection start the builder's session (which installs the warm interpreter) in the background
        as soon as the builder runs, instead of at the builder's first task. The module itself does nothing with it.
    type: bool
    default: false
  python_interpreter:
    description: The builder's Python, for O(warm_interpreter) (the connection's C(python_interpreter)).
    type: str
    default: /usr/bin/python3
  lease_pid:
    description:
      - The process the builder's lease lives for. A small process on the controller holds the builder's standard
        input open until that process ends; then the builder's main process ends and the engine removes the
        container (C(AutoRemove)), also when every controller process was killed.
      - The action plugin sets it to the C(ansible-playbook) process. Unset, the builder idles until it is removed.
    type: int
  engines:
    description:
      - A pool of engines (the definition's C(image_engines)) to place the builder on instead of O(docker_host), on the
        least busy engine that answers within a few seconds and has fewer than its C(max_builds) builders of the
        collection (of any build) running, counted again once the builder is created.
      - Waits (up to an hour) while every engine is at its C(max_builds). The base image is pulled there, or copied
        from another engine of the pool (C(docker save) | C(docker load) through the controller) when O(pull=never)
        or the pull fails.
    type: list
    elements: dict
    suboptions:
      docker_host:
        description: The engine, as O(docker_host).
        type: str
        required: true
      tls:
        description: Its TLS settings, as O(tls).
        type: dict
        suboptions:
          ca_cert:
            description: The CA that signed the engine's certificate.
            type: path
          client_cert:
            description: The client certificate.
            type: path
          client_key:
            description: The client certificate's private key.
            type: path
          verify:
            description: Verify the engine's certificate.
            type: bool
            default: true
          hostname:
            description: The name to verify the engine's certificate for, when not the host of O(engines[].docker_host).
            type: str
      max_builds:
        description: At most this many builders on that engine; unset, no limit.
        type: int
author:
  - immutable.images maintainers (@immutable-images)
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

- name: Start the builders of every docker target of the plan at once
  immutable.images.docker_builder:
    targets: "{{ image_build.targets | selectattr('type', 'equalto', 'docker') }}"
    inventory:
      build: "{{ image_build }}"
      groups: [image_builders]
  register: builders

- name: Add them to the inventory
  ansible.builtin.add_host: "{{ item.inventory_entry }}"
  loop: "{{ builders.results }}"
  changed_when: false

- name: Remove it
  immutable.images.docker_builder:
    name: immutable-webapp-container-20261123T2135Z-7f3a
    state: absent
"""

RETURN = r"""
results:
  description: With O(targets), one result per target, in order (RV(container), RV(placed), RV(engine), RV(placement),
    C(changed), C(failed), C(msg), C(stage)), each with its target under C(target).
  returned: when O(targets) is given
  type: list
  elements: dict
  contains:
    inventory_entry:
      description:
        - With O(inventory), the builder as M(ansible.builtin.add_host) takes it, when it started. C(name) is the target's
          C(host), C(groups) is O(inventory.groups); its variables are the connection
          P(immutable.images.docker_session#connection) to the builder (on the engine it was placed on), C(image_target)
          (the target on that engine, with the builder under C(builder)), C(image_build) (RV(build)),
          C(inventory_dir) and C(inventory_file).
      type: dict
      returned: when O(inventory) is given and the builder started (not for a target whose C(start_builder) is false)
build:
  description:
    - O(inventory.build) once the builders started. With O(engines) in a target, each target placed on an engine of its
      pool has that engine's C(docker_host) and C(tls) (and C(remote_engine)) from now on, and C(engines) lists the
      engines the build's builders are on (its fixed engines and the ones they were placed on), which its clean-up
      visits.
  returned: when O(inventory) is given and every builder started
  type: dict
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
      description: Id of the image it runs (the base image's, or O(from_layer)'s).
      type: str
      sample: sha256:2844630e3fc8...
    status:
      description: The container's state, V(running), or V(created) for a builder not started (O(start)).
      type: str
      sample: running
    base_image:
      description: The base image as given.
      type: str
    base_image_id:
      description: Id of the base image.
      type: str
    pulled:
      description: Whether the base image was pulled.
      type: bool
placed:
  description: With O(engines), the engine the builder was placed on.
  returned: when O(engines) is given and the builder was started
  type: dict
  sample: {docker_host: "tcp://build-1.example.com:2376", tls: null, remote_engine: true}
engine:
  description: With O(engines), the engine the builder was placed on, as an entry of the build's engines (for cleanup).
  returned: when O(engines) is given and the builder was started
  type: dict
  sample: {docker_host: "tcp://build-1.example.com:2376", tls: null}
placement:
  description: With O(engines), what placing the builder did (engines skipped, where it went, how the base image got there).
  returned: when O(engines) is given and the builder was started
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.images.plugins.module_utils._docker import builder_module


def main():
    builder_module.run(AnsibleModule(**builder_module.MODULE_ARGS))


if __name__ == "__main__":
    main()
