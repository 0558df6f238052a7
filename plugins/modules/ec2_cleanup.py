#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_cleanup
short_description: Remove the temporary AWS resources of a build, or every leftover older than an age
version_added: 0.1.0
description:
  - Finds temporary resources by the tags every build puts on them, never by the build's own records.
    These are builder instances that are not terminated, temporary key pairs and security groups, and AMIs
    and snapshots a build did not finish (C(immutable.images.kind) other than C(artifact)).
  - With O(build_id), removes the resources of that build (the end of every build does this).
    With O(max_age), removes the leftovers of any build older than that (the janitor).
  - Finished AMIs (tagged C(immutable.images.kind=artifact)) and anything without our tags are never touched.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.boto3
  - immutable.images.attributes
attributes:
  check_mode:
    support: full
    details: Lists what would be removed.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  regions:
    description: Regions to look in.
    type: list
    elements: str
    required: true
  build_id:
    description: Remove the resources of this build.
    type: str
  max_age:
    description: Remove leftovers of any build older than this, for example V(2h), V(1d).
    type: str
  keep:
    description: Instance ids to leave running (a failed builder kept for debugging), with their key pair and security group.
    type: list
    elements: str
    default: []
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Remove what a build left behind in its regions
  immutable.images.ec2_cleanup:
    build_id: "{{ image_build_id }}"
    regions: [us-west-2, eu-west-1]
"""

RETURN = r"""
regions:
  description: Per region, the ids removed (or, in check mode, that would be) by kind.
  returned: always
  type: dict
  sample: {us-west-2: {instances: [i-0abc], key_pairs: [immutable-webapp-aws-20261123T2135Z-7f3a], security_groups: [], images: [], snapshots: []}}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._ec2.client import module_client_factory
from ansible_collections.immutable.images.plugins.module_utils._ec2.resources import cleanup

try:
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError
except ImportError:  # AnsibleAWSModule reports the missing SDK
    pass


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            regions=dict(type="list", elements="str", required=True),
            build_id=dict(type="str"),
            max_age=dict(type="str"),
            keep=dict(type="list", elements="str", default=[]),
        ),
        required_one_of=[("build_id", "max_age")],
        supports_check_mode=True,
    )
    p = module.params
    older_than = None
    if p["max_age"]:
        try:
            older_than = naming.cutoff(p["max_age"])
        except ValueError as e:
            module.fail_json(msg="max_age: %s" % e)
    client_for = module_client_factory(module)
    done = {}
    try:
        for region in p["regions"]:
            done[region] = cleanup(client_for("ec2", region), build_id=p["build_id"], older_than=older_than,
                                   dry_run=module.check_mode, keep=p["keep"])
    except (BotoCoreError, ClientError, WaiterError) as e:
        module.fail_json_aws(e, msg="cleaning up build resources failed")
    module.exit_json(changed=any(ids for r in done.values() for ids in r.values()), regions=done)


if __name__ == "__main__":
    main()
