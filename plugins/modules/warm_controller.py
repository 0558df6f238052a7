#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: warm_controller
short_description: Internal - start a warm interpreter for the modules a build runs on the controller
version_added: 0.2.0
description:
  - A step of the build that the launch role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Every module Ansible runs on the controller starts a new Python that imports C(ansible.module_utils) (and,
    for the collection's AWS modules, boto3) from the module's payload, which has no bytecode cache - about half a
    second before the module does anything. (M(immutable.images.docker_builder), M(immutable.images.docker_cleanup)
    and the commit run in their task's worker on the controller, with no module process.)
  - This starts a server, under C(ansible-playbook)'s private temporary directory, that has imported them
    once; each module then runs in a forked child of it, with the module's own stdin, stdout, stderr,
    environment, working directory and umask - the same warm interpreter the docker builders get.
  - It ends with C(ansible-playbook). Tasks use it when they run with RV(env) as their C(environment) and with
    pipelining; the collection's launch and finalize roles do (the launch role keeps it in C(image_build.controller_env)).
    It is a result to register, not a fact, which a persistent fact cache would keep after the build. A module whose
    interpreter is not the server's, or that starts before the server is ready, runs the usual way.
  - This is an action plugin; it runs on the controller and only for the C(local) connection. Under Mitogen's strategy,
    which runs the controller's modules in interpreters of its own, it starts no server (as with O(serve=false)).
extends_documentation_fragment:
  - immutable.images.attributes
  - immutable.images.attributes.action
attributes:
  check_mode:
    support: full
    details: Starts nothing in check mode.
  diff_mode:
    support: none
  idempotent:
    support: none
  action:
    support: full
options:
  serve:
    description:
      - Whether to start the server. With V(false), only the payloads of O(prebuild) are built in advance and
        RV(env) is empty; the launch role passes V(false) when no module of
        the build runs on the controller as a module (C(image_build.controller_modules)).
    type: bool
    default: true
  preload:
    description:
      - Python modules the server imports besides C(ansible.module_utils.basic) (missing ones are skipped).
      - By default, what the collection's modules for O(target_types) that run as modules import, C(boto3) for
        C(ec2) and nothing for C(docker).
    type: list
    elements: str
  target_types:
    description: The types of the build's targets, for the defaults of O(preload) and O(prebuild).
    type: list
    elements: str
    choices: [docker, ec2]
    default: [docker]
  prebuild:
    description:
      - Modules whose AnsiballZ payloads are built in the background, right away, into C(ansible-playbook)'s
        payload cache, so that their first task does not wait for it (each is built once per run anyway).
      - By default, the collection's modules that a build of O(target_types) runs on the controller and the builder,
        and the modules that the task and handler files of O(roles) name (for C(copy), C(template) and the other action
        plugins of ansible-core that run modules, the modules they run). V([]) builds none.
    type: list
    elements: str
  roles:
    description:
      - Paths of the roles the build runs, for the default of O(prebuild). Their files are read in the background,
        as written (a module named only through a variable, an included role or a dependency is built on first use).
    type: list
    elements: path
    default: []
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Warm up an interpreter for the modules on the controller
  immutable.images.warm_controller:
  register: warm

- name: A module that runs in it
  immutable.images.ec2_cleanup:
    build_id: "{{ image_build.id }}"
    regions: [eu-west-1]
  environment: "{{ warm.env | default({}) }}"
  vars:
    ansible_pipelining: true
"""

RETURN = r"""
env:
  description:
    - The C(environment) that sends a pipelined module to the server (empty when it was not started).
    - Until 0.2.0 it was the fact C(immutable_images_controller_env).
  returned: always
  type: dict
  sample: {PYTHONPATH: /root/.ansible/tmp/ansible-local-1234abcd/warm/client, IMMUTABLE_IMAGES_WARM: "..."}
  version_added: 0.2.0
socket:
  description: The server's unix socket.
  returned: when O(serve) is true and it started
  type: str
"""
