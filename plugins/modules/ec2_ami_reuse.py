#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_ami_reuse
short_description: Internal - share, deprecate and publish AMIs that a build reuses, as the definition says
version_added: 0.2.0
description:
  - A step of the build that the finalize role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - A build whose inputs did not change reuses the AMIs of an earlier build. Sharing, deprecation and the
    SSM parameter are not inputs (they say who gets an AMI, not what is in it), so they may have changed
    since; this module does to the reused AMIs what M(immutable.images.ec2_ami_create) does to new ones.
  - Additive, like a new build. Launch permissions of O(share_with_accounts), O(share_with_organizations)
    and O(share_with_ous) that an AMI lacks are granted in every region; permissions it has beyond them are
    left as they are.
  - O(deprecate_after) schedules deprecation for AMIs that have none; a duration counts from the AMI's
    creation. An AMI that is already older than that is left as it is, with a warning.
  - O(publish_parameter) is pointed at the AMI of the build region when it holds another value or does not exist.
author:
  - immutable.images maintainers (@immutable-images)
options:
  images:
    description: The reused AMI id of each region, keyed by region; the build region is one of them.
    type: dict
    required: true
  name:
    description: The AMI name (for the SSM parameter's description).
    type: str
  share_with_accounts:
    description: Account ids that must have launch permission.
    type: list
    elements: str
    default: []
  share_snapshots:
    description:
      - Also give the accounts of O(share_with_accounts) permission to create volumes from the AMIs' snapshots (those it lacks), in every
        region - what an account needs to copy the AMI (to encrypt it with its own key, say), which launch permission
        alone does not allow. AWS offers it to accounts only, not to organizations or OUs.
    type: bool
    default: false
  share_with_organizations:
    description: Organization ARNs that must have launch permission.
    type: list
    elements: str
    default: []
  share_with_ous:
    description: Organizational unit ARNs that must have launch permission.
    type: list
    elements: str
    default: []
  deprecate_after:
    description:
      - When AMIs without a deprecation time become deprecated, as a duration from their creation (V(90d),
        V(12h), V(2w); a bare number means days) or an ISO 8601 date or time.
      - If the EC2 endpoint does not implement deprecation (moto), a warning is given.
    type: str
  publish_parameter:
    description: SSM parameter (in the build region) that must hold the AMI id of the build region.
    type: str
notes:
  - Check mode reports what would change (C(changed), RV(shared_with)) without changing anything.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Share the reused AMIs with the accounts the definition lists now
  immutable.images.ec2_ami_reuse:
    region: us-west-2
    images: {us-west-2: ami-0abc, eu-west-1: ami-0def}
    name: webapp-1.4.2-20261123T2135Z-7f3a
    share_with_accounts: ["123456789012"]
    publish_parameter: /images/webapp/latest
"""

RETURN = r"""
name:
  description: O(name).
  returned: always
  type: str
images:
  description: The AMIs, per region.
  returned: always
  type: dict
shared_with:
  description: The launch permissions granted (in check mode, that would be granted), each given once.
  returned: always
  type: list
  elements: dict
  sample: [{UserId: "123456789012"}]
snapshots_shared_with:
  description: The accounts given permission to create volumes from the snapshots (in check mode, that would be).
  returned: always
  type: list
  elements: str
deprecation_time:
  description: The earliest deprecation time of the AMIs (UTC), or null.
  returned: always
  type: str
parameter:
  description: The SSM parameter (C(name), C(version), C(region)), or null without O(publish_parameter).
  returned: always
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.immutable.images.plugins.module_utils._ec2.client import module_client_factory, module_warner
from ansible_collections.immutable.images.plugins.module_utils._ec2.ami_reuse import ReusedAmis

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # AnsibleAWSModule reports the missing SDK
    pass

ARGUMENT_SPEC = dict(
    images=dict(type="dict", required=True), name=dict(type="str"),
    share_with_accounts=dict(type="list", elements="str", default=[]), share_snapshots=dict(type="bool", default=False),
    share_with_organizations=dict(type="list", elements="str", default=[]),
    share_with_ous=dict(type="list", elements="str", default=[]),
    deprecate_after=dict(type="str"), publish_parameter=dict(type="str"),
)


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    if module.region not in p["images"]:
        module.fail_json(msg="images: no AMI for the build region %s (regions given: %s)"
                         % (module.region, ", ".join(sorted(p["images"]))))
    amis = ReusedAmis(module_client_factory(module), module.region, warn=module_warner(module))
    try:
        result = amis.update(p["images"], name=p["name"], share_with_accounts=p["share_with_accounts"],
                             share_with_organizations=p["share_with_organizations"],
                             share_with_ous=p["share_with_ous"], deprecate_after=p["deprecate_after"],
                             publish_parameter=p["publish_parameter"], check_mode=module.check_mode,
                             share_snapshots=p["share_snapshots"])
    except ValueError as e:
        module.fail_json(msg=str(e))
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="updating the reused AMIs %s failed" % ", ".join(sorted(p["images"].values())))
    result.pop("warnings")  # already given to module.warn
    module.exit_json(**result)


if __name__ == "__main__":
    main()
