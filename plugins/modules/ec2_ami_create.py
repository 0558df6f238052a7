#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_ami_create
short_description: Internal - create AMIs from a provisioned builder instance, copy, share and publish them
version_added: 0.1.0
description:
  - A step of the build that the finalize role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Packer's amazon-ebs steps after provisioning, in this order. C(prevalidate) checks the AMI name, the
    instance and that no AMI of that name exists (in every region) unless O(force_deregister).
    C(stop) stops the instance, except a spot instance, which C(create_image) reboots instead.
    C(deregister) removes same-name AMIs owned by this account and their snapshots when O(force_deregister).
    C(create) creates the AMI, waits until it is available and tags it and its snapshots with O(tags)
    plus C(Name), the build labels and C(immutable.images.kind=artifact).
    C(copy) starts a copy to each of O(copy_to_regions), then waits for each and tags it and its snapshots.
    C(imds) sets O(imds_support) on the AMI of every region. C(share) grants launch permission in every region. C(deprecate) schedules deprecation.
    C(publish) writes the AMI id to an SSM parameter.
  - If a stage from C(create) on fails, every AMI made so far (all regions) is deregistered and
    its snapshots deleted, unless O(keep_on_error); the failure names the stage.
author:
  - immutable.images maintainers (@immutable-images)
options:
  instance_id:
    description: The provisioned builder instance (RV(immutable.images.ec2_builder#module:instance_id)).
    type: str
    required: true
  name:
    description: AMI name; 3-128 letters, digits, spaces and C(( ) [ ] . / - ' @ _).
    type: str
    required: true
  description:
    description: AMI description.
    type: str
  tags:
    description: Tags on the AMIs and their snapshots; C(Name) and the build labels are added.
    type: dict
    default: {}
  build_id:
    description: The build id (the C(image_build_id) fact).
    type: str
    required: true
  image_name:
    description: The image name of the definition.
    type: str
    required: true
  target:
    description: The target name in the definition.
    type: str
    required: true
  image_version:
    description: The image version.
    type: str
  build_hash:
    description: The build hash (the C(image_build_hash) fact).
    type: str
  copy_to_regions:
    description: Regions to copy the AMI to.
    type: list
    elements: str
    default: []
  region_kms_key_ids:
    description:
      - The KMS key of each copy, by region (a key id, alias or ARN of that region). A region listed here is copied
        encrypted, with its key, or with the region's default EBS key for V("").
      - A customer key is used in its own region only; without an entry, a copy of an encrypted AMI is encrypted with
        the destination region's AWS managed key, which cannot be shared with other accounts.
    type: dict
    default: {}
  imds_support:
    description:
      - V(v2.0) makes instances launched from the AMIs use IMDSv2 only (the AMIs' C(ImdsSupport) attribute, set on
        every region's AMI, as Packer's C(imds_support)). AWS does not let anyone unset it.
    type: str
    choices: [v2.0]
  share_with_accounts:
    description: Account ids given launch permission.
    type: list
    elements: str
    default: []
  share_snapshots:
    description:
      - Also give the accounts of O(share_with_accounts) permission to create volumes from the AMIs' snapshots, in every
        region - what an account needs to copy the AMI (to encrypt it with its own key, say), which launch permission
        alone does not allow. AWS offers it to accounts only, not to organizations or OUs.
    type: bool
    default: false
  share_with_organizations:
    description: Organization ARNs given launch permission.
    type: list
    elements: str
    default: []
  share_with_ous:
    description: Organizational unit ARNs given launch permission.
    type: list
    elements: str
    default: []
  deprecate_after:
    description:
      - When the AMIs become deprecated, as a duration from now (V(90d), V(12h), V(2w); a bare
        number means days) or an ISO 8601 date or time (V(2027-06-30)).
      - If the EC2 endpoint does not implement deprecation (moto), a warning is given and the build goes on.
    type: str
  publish_parameter:
    description: SSM parameter (in the build region) that receives the AMI id, with data type C(aws:ec2:image).
    type: str
  force_deregister:
    description: Deregister AMIs of the same name owned by this account (and delete their snapshots) first.
    type: bool
    default: false
  keep_on_error:
    description: Keep the AMIs already made when a later stage fails, for debugging.
    type: bool
    default: false
  stop_instance:
    description:
      - Stop the instance before imaging it. Default is to stop it unless it is a spot instance.
    type: bool
  poll_delay:
    description: Seconds between polls while waiting on AWS (instance stopped, AMI available).
    type: int
    default: 15
  poll_max_attempts:
    description:
      - Polls before giving up waiting on AWS. The default (with O(poll_delay=15)) allows an hour per AMI,
        since large volumes and cross-region copies take long.
    type: int
    default: 240
notes:
  - Check mode validates and reports the regions and the AMIs that O(force_deregister) would remove,
    without changing anything.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Create the AMI from the builder
  immutable.images.ec2_ami_create:
    region: us-west-2
    instance_id: "{{ builder.instance_id }}"
    name: "webapp-1.4.2-{{ image_build_id }}"
    build_id: "{{ image_build_id }}"
    image_name: webapp
    image_version: 1.4.2
    target: aws
    tags: {team: web}
    copy_to_regions: [eu-west-1]
    share_with_accounts: ["123456789012"]
    deprecate_after: 90d
    publish_parameter: /images/webapp/latest
  register: ami
"""

RETURN = r"""
image_id:
  description: The AMI in the build region.
  returned: success, not in check mode
  type: str
  sample: ami-0123456789abcdef0
images:
  description: AMI id per region, the build region included.
  returned: success, not in check mode
  type: dict
  sample: {us-west-2: ami-0123456789abcdef0, eu-west-1: ami-0fedcba9876543210}
snapshots:
  description: Snapshot ids per region.
  returned: success, not in check mode
  type: dict
name:
  description: The AMI name.
  returned: success, not in check mode
  type: str
region:
  description: The build region.
  returned: success, not in check mode
  type: str
tags:
  description: Tags on the AMIs and snapshots.
  returned: success
  type: dict
deregistered:
  description: AMIs removed by O(force_deregister), as C(region), C(image_id), C(snapshots).
  returned: success, not in check mode
  type: list
  elements: dict
shared_with:
  description: The launch permissions added.
  returned: when sharing was asked for
  type: list
  elements: dict
imds_support:
  description: The AMIs' C(ImdsSupport) (O(imds_support)).
  returned: when O(imds_support) was given, not in check mode
  type: str
snapshots_shared_with:
  description: The accounts given permission to create volumes from the snapshots (O(share_snapshots)).
  returned: when O(share_snapshots) was asked for
  type: list
  elements: str
deprecation_time:
  description: When the AMIs become deprecated (UTC); null if not asked for or not supported by the endpoint.
  returned: success, not in check mode
  type: str
parameter:
  description: The SSM parameter written (C(name), C(version), C(region)), or null.
  returned: success, not in check mode
  type: dict
regions:
  description: In check mode, the regions that would get the AMI.
  returned: check mode
  type: list
  elements: str
would_deregister:
  description: In check mode, AMI ids per region that O(force_deregister) would remove.
  returned: check mode
  type: dict
stage:
  description: On failure, the stage that failed (prevalidate, stop, deregister, create, copy, imds, share, deprecate, publish).
  returned: failure
  type: str
kept_images:
  description: On failure with O(keep_on_error), the AMIs kept per region.
  returned: failure
  type: dict
leftovers:
  description: On failure, AMIs that could not be removed.
  returned: failure
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.immutable.images.plugins.module_utils._ec2.client import Waits, module_client_factory, module_warner
from ansible_collections.immutable.images.plugins.module_utils._ec2.ami import AmiCreator, AmiError, artifact_tags

try:
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError
except ImportError:  # AnsibleAWSModule reports the missing SDK
    pass

ARGUMENT_SPEC = dict(
    instance_id=dict(type="str", required=True), name=dict(type="str", required=True), description=dict(type="str"),
    tags=dict(type="dict", default={}), build_id=dict(type="str", required=True),
    image_name=dict(type="str", required=True), target=dict(type="str", required=True),
    image_version=dict(type="str"), build_hash=dict(type="str"),
    copy_to_regions=dict(type="list", elements="str", default=[]),
    region_kms_key_ids=dict(type="dict", default={}, no_log=False), imds_support=dict(type="str", choices=["v2.0"]),
    share_with_accounts=dict(type="list", elements="str", default=[]), share_snapshots=dict(type="bool", default=False),
    share_with_organizations=dict(type="list", elements="str", default=[]),
    share_with_ous=dict(type="list", elements="str", default=[]),
    deprecate_after=dict(type="str"), publish_parameter=dict(type="str"),
    force_deregister=dict(type="bool", default=False), keep_on_error=dict(type="bool", default=False),
    stop_instance=dict(type="bool"), poll_delay=dict(type="int", default=15),
    poll_max_attempts=dict(type="int", default=240),
)
CREATE_OPTIONS = ("instance_id", "name", "description", "copy_to_regions", "region_kms_key_ids", "imds_support",
                  "share_with_accounts", "share_snapshots",
                  "share_with_organizations", "share_with_ous", "deprecate_after", "publish_parameter",
                  "force_deregister", "keep_on_error", "stop_instance")


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    tags = artifact_tags(p["build_id"], p["image_name"], p["target"], p["name"], version=p["image_version"],
                         build_hash=p["build_hash"], extra=p["tags"])
    creator = AmiCreator(module_client_factory(module), module.region,
                         waits=Waits(p["poll_delay"], p["poll_max_attempts"], "aws_polling"), warn=module_warner(module))
    options = {k: p[k] for k in CREATE_OPTIONS}
    try:
        if module.check_mode:
            module.exit_json(changed=True, tags=tags, **creator.plan(**options))
        result = creator.create(tags=tags, **options)
        result.pop("warnings")  # already given to module.warn
        module.exit_json(changed=True, **result)
    except AmiError as e:
        module.fail_json(msg=str(e), stage=e.stage, kept_images=e.images, leftovers=e.leftovers)
    except (BotoCoreError, ClientError, WaiterError) as e:
        module.fail_json_aws(e, msg="creating AMI %s failed" % p["name"])


if __name__ == "__main__":
    main()
