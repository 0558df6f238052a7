#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_image_publish
short_description: Internal - push an image under several repository:tag references
version_added: 0.1.0
description:
  - A step of the build that the finalize role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Tags an image as each reference in O(refs) and pushes it, returning the registry digest of each push.
  - Credentials come from O(username)/O(password) when given, from Amazon ECR with O(ecr), else from the standard
    Docker client configuration (C(~/.docker/config.json) and its credential helpers). The password is never logged.
extends_documentation_fragment:
  - immutable.images.docker
  - immutable.images.attributes
attributes:
  check_mode:
    support: full
    details: Lists what would be pushed.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: Pushing content the registry already has transfers nothing, but is still reported as changed.
options:
  image:
    description: Image id or reference to push.
    type: str
    required: true
  refs:
    description: References C(registry/repository:tag) to push.
    type: list
    elements: str
    required: true
  username:
    description: Registry user name.
    type: str
  password:
    description: Registry password or token.
    type: str
  ecr:
    description:
      - V(true) asks Amazon ECR for each registry's credentials (GetAuthorizationToken, as
        C(aws ecr get-login-password) does), with the standard AWS settings; boto3 is needed then. The region is the
        registry's (V(<account>.dkr.ecr.<region>.amazonaws.com)); for a registry of another name, the AWS settings'
        region. Mutually exclusive with O(username).
    type: bool
    default: false
    version_added: 0.2.0
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Push every tag
  immutable.images.docker_image_publish:
    image: sha256:0f3e...
    refs:
      - registry.example.com/acme/webapp:1.4.2
      - registry.example.com/acme/webapp:latest
    username: ci
    password: "{{ registry_token }}"
"""

RETURN = r"""
pushed:
  description: One entry per reference pushed.
  returned: success
  type: list
  elements: dict
  contains:
    ref:
      description: The reference.
      type: str
      sample: registry.example.com/acme/webapp:1.4.2
    digest:
      description: Manifest digest the registry reported.
      type: str
      sample: sha256:9a1c...
    plain_http:
      description:
        - Whether the engine treats the registry as insecure (named in its C(insecure-registries), or with an address
          in one of the networks there, loopback by default), so that it may speak plain HTTP to it.
      type: bool
      sample: false
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DOCKER_COMMON_ARGS,
    DockerFailure,
    client_from_module,
)
from ansible_collections.immutable.images.plugins.module_utils._docker.push import ImagePusher


def main():
    module = AnsibleModule(
        argument_spec=dict(
            DOCKER_COMMON_ARGS,
            image=dict(type="str", required=True),
            refs=dict(type="list", elements="str", required=True),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            ecr=dict(type="bool", default=False),
        ),
        required_together=[("username", "password")],
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode:
        module.exit_json(changed=bool(p["refs"]), pushed=[{"ref": r, "digest": None} for r in p["refs"]])
    if p["ecr"] and p["username"]:
        module.fail_json(msg="ecr and username are mutually exclusive: the credentials come from one or the other")
    auth = {"ecr": True} if p["ecr"] else {"username": p["username"], "password": p["password"]} if p["username"] else None
    try:
        pushed = ImagePusher(client_from_module(module)).push(p["image"], p["refs"], auth)
    except DockerFailure as e:
        module.fail_json(msg=str(e), stage=e.stage)
    module.exit_json(changed=bool(pushed), pushed=pushed)


if __name__ == "__main__":
    main()
