#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_builder
short_description: Internal - launch or remove the temporary EC2 instance an AMI is built on
version_added: 0.1.0
description:
  - A step of the build that the launch role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - With O(state=present), resolves the source AMI, creates a temporary ED25519 key pair and a
    temporary security group that allows only the SSH port from O(allowed_cidrs), launches the
    builder instance (IMDSv2 required, shutdown from inside terminates it) and waits until its
    SSH port answers. This is Packer's amazon-ebs builder up to the provisioning step.
  - Every resource is tagged at creation with the build id, image name, target and
    C(immutable.images.kind=builder), so O(state=absent) and janitors find it by tag even when the
    run that made it was interrupted.
  - If the launch fails half-way, whatever was already created is deleted before the module fails.
  - If a builder of the same O(build_id) and O(target) is already running, it is reported
    (with C(changed=false)) instead of launching a second one.
  - With O(state=absent), terminates the instance and deletes the temporary key pair, security
    group and local private key. Resources are found by tag and from the ids given; an id that does
    not carry the builder tags (for example your own O(ssh_keypair_name)) is never deleted.
    Missing resources are fine, so it can run any number of times.
author:
  - immutable.images maintainers (@immutable-images)
options:
  state:
    description: Whether the builder should exist.
    type: str
    choices: [present, absent]
    default: present
  build_id:
    description: The build id (the C(image_build_id) fact); tagged on every resource.
    type: str
    required: true
  image_name:
    description: The image name of the definition; tagged on every resource.
    type: str
    required: true
  target:
    description: The target name in the definition; tagged on every resource.
    type: str
    required: true
  name:
    description:
      - Name of the instance (C(Name) tag), key pair and security group.
      - Defaults to C(immutable-<image_name>-<target>-<build_id>).
    type: str
  image_version:
    description: The image version; tagged on every resource.
    type: str
  build_hash:
    description: The build hash (the C(image_build_hash) fact); tagged on every resource.
    type: str
  run_tags:
    description: Extra tags on the instance, its volumes, the key pair and the security group.
    type: dict
    default: {}
  private_key_dir:
    description:
      - Directory for the temporary private key, C(<name>.pem) with mode C(0600).
      - Created with mode C(0700) if missing; an existing directory that other users can read is refused.
      - Removed on O(state=absent) when it is empty.
      - Required with O(state=present) unless O(ssh_keypair_name) is set.
    type: path
  source_ami:
    description:
      - Id of the AMI to start from, or C(resolve:ssm:<parameter>[:<version or label>]) for the AMI a Systems Manager
        parameter of the region holds (C(ssm:GetParameter)). Mutually exclusive with O(source_ami_filter).
    type: str
  source_ami_filter:
    description:
      - Find the source AMI. It must match exactly one AMI unless O(source_ami_filter.most_recent=true).
      - Only available AMIs are considered.
    type: dict
    suboptions:
      name:
        description: AMI name pattern, C(*) and C(?) are wildcards.
        type: str
      owners:
        description: Account ids (or C(self), C(amazon)) whose AMIs are trusted.
        type: list
        elements: str
        required: true
      architecture:
        description: For example V(x86_64) or V(arm64).
        type: str
      most_recent:
        description: Pick the newest match (by creation date) when several match.
        type: bool
        default: false
      filters:
        description: More C(DescribeImages) filters, name to value or list of values.
        type: dict
  instance_type:
    description: Instance type of the builder.
    type: str
    default: t3.micro
  subnet_id:
    description: Subnet to launch in; the security group is made in its VPC. Default is the default VPC.
    type: str
  subnet_filter:
    description:
      - The subnet found by filters instead of O(subnet_id) (Packer's name), for one definition across accounts whose
        subnets carry the same tags. Only available subnets count, in zones that offer O(instance_type); the match is
        made before anything is created.
      - With O(subnet_filter.most_free) or O(subnet_filter.random), when EC2 has no capacity for O(instance_type) in
        the chosen subnet's zone, the launch goes on in a subnet of another zone it matched (same VPC), with a warning.
    type: dict
    suboptions:
      filters:
        description: EC2 DescribeSubnets filters, name to value or list of values (V(tag:Purpose), V(vpc-id), ...).
        type: dict
        required: true
      most_free:
        description: Of several matches, the subnet with the most free addresses (else several are an error).
        type: bool
        default: false
      random:
        description: Of several matches, any one.
        type: bool
        default: false
  iam_instance_profile:
    description:
      - Instance profile name or ARN for the builder.
      - One that IAM does not have fails before anything is created (when C(iam:GetInstanceProfile) is allowed). One
        that EC2 does not know yet (IAM's changes reach EC2 seconds later) is waited for, about a minute at most.
    type: str
  metadata_options:
    description:
      - The builder's instance metadata service beside IMDSv2, which is always required (Packer's name, without its
        C(http_tokens) and C(http_endpoint)).
    type: dict
    version_added: 0.2.0
    suboptions:
      http_put_response_hop_limit:
        description: Network hops a metadata token may take (AWS's default 1); V(2) lets a container on the builder
          reach the instance's credentials.
        type: int
      instance_metadata_tags:
        description: The instance's tags in its metadata.
        type: bool
  user_data:
    description: User data (plain text; it is base64-encoded for the API).
    type: str
  root_volume:
    description: Overrides of the source AMI's root volume; unset fields keep the AMI's values.
    type: dict
    suboptions:
      size:
        description: Size in GiB.
        type: int
      type:
        description: Volume type, for example V(gp3).
        type: str
      encrypted:
        description: Encrypt the volume (and so the AMI's snapshot).
        type: bool
      kms_key_id:
        description: KMS key for the encryption.
        type: str
      iops:
        description: Provisioned IOPS (V(gp3), V(io1), V(io2)).
        type: int
        version_added: 0.2.0
      throughput:
        description: Throughput in MiB/s (V(gp3)).
        type: int
        version_added: 0.2.0
  extra_volumes:
    description:
      - EBS volumes the builder gets besides its root volume (device, size and encryption each), deleted with it
        whatever the entry says; an AMI made of the builder keeps a snapshot of each.
      - A device that is the source AMI's root device is refused before anything is created.
    type: list
    elements: dict
    default: []
    suboptions:
      device_name:
        description: The device, for example V(/dev/sdf).
        type: str
        required: true
      size:
        description: Size in GiB.
        type: int
        required: true
      type:
        description: Volume type, for example V(gp3).
        type: str
      encrypted:
        description: Encrypt the volume (and so the AMI's snapshot of it).
        type: bool
      kms_key_id:
        description: KMS key for the encryption.
        type: str
      iops:
        description: Provisioned IOPS (V(gp3), V(io1), V(io2)).
        type: int
      throughput:
        description: Throughput in MiB/s (V(gp3)).
        type: int
  spot:
    description: Launch a one-time spot instance.
    type: bool
    default: false
  allowed_cidrs:
    description:
      - CIDRs allowed to connect to O(ssh_port). Nothing else is opened, and V(0.0.0.0/0) only if listed.
      - When empty, O(caller_ip) is used; with neither (and no O(security_group_ids)) the module fails.
    type: list
    elements: str
    default: []
  caller_ip:
    description: This controller's address as AWS sees it, allowed as a /32 (or /128) when O(allowed_cidrs) is empty.
    type: str
  security_group_ids:
    description:
      - Existing security groups the instance gets (Packer's name), for accounts where builds may not create security
        groups. They must let the controller (or the bastion) reach O(ssh_port). They are never changed or deleted.
      - With them, the temporary security group is made only when O(allowed_cidrs) or O(caller_ip) is given.
    type: list
    elements: str
    default: []
  security_group_filter:
    description:
      - More existing security groups, found by filters among the groups of the builder's VPC (Packer's name); each
        as one of O(security_group_ids). Matching none is an error, before anything is created.
    type: dict
    suboptions:
      filters:
        description: EC2 DescribeSecurityGroups filters, name to value or list of values (V(tag:Purpose), V(group-name), ...).
        type: dict
        required: true
  associate_public_ip_address:
    description:
      - Whether the instance gets a public IP address (Packer's name), whatever O(subnet_id)'s own setting says -
        V(true) in a subnet that does not assign one (the usual case outside the default VPC, with
        O(ssh_interface=public_ip)), V(false) to have none. Unset, the subnet decides.
    type: bool
  ssh_interface:
    description: Which address of the instance to connect to.
    type: str
    choices: [public_ip, private_ip, public_dns, private_dns]
    default: public_ip
  ssh_host:
    description: Connect to this host instead of the instance's O(ssh_interface) address (tunnels, NAT).
    type: str
  ssh_port:
    description: SSH port; opened in the security group and waited for.
    type: int
    default: 22
  ssh_keypair_name:
    description: Use this existing key pair instead of a temporary one. Requires O(ssh_private_key_file).
    type: str
  ssh_private_key_file:
    description: Private key of O(ssh_keypair_name). It is never deleted.
    type: path
  ssh_timeout:
    description: Seconds to wait for the SSH port to accept connections.
    type: int
    default: 300
  ssh_bastion_host:
    description:
      - Reach the builder through this bastion host (a jump host), with OpenSSH's C(ssh -W) - for the wait for
        O(ssh_port), made from the bastion, and for every task (RV(inventory_entry)'s ProxyCommand).
      - The bastion's C(sshd) must allow TCP forwarding. Its host key is checked as Ansible checks a host's
        (O(ssh_bastion_host_key_checking)); the controller user's C(~/.ssh/config) and agent apply to it.
    type: str
  ssh_bastion_port:
    description: SSH port of O(ssh_bastion_host).
    type: int
    default: 22
  ssh_bastion_username:
    description: User on O(ssh_bastion_host). Default what C(ssh) takes (C(~/.ssh/config), else the controller's user).
    type: str
  ssh_bastion_private_key_file:
    description: Private key for O(ssh_bastion_host). Default what C(ssh) takes (C(~/.ssh/config), the agent, C(~/.ssh/id_*)).
    type: path
  ssh_bastion_host_key_checking:
    description:
      - Check the bastion's host key against the controller user's known hosts. V(false) does not check it (as the
        temporary builder's, whose key is new each build).
      - Default Ansible's C(host_key_checking) setting (C(ANSIBLE_HOST_KEY_CHECKING)), which the action plugin reads.
    type: bool
  wait_ssh:
    description: Wait until the SSH port accepts TCP connections.
    type: bool
    default: true
  wait_status_ok:
    description: Also wait until the instance status checks pass.
    type: bool
    default: false
  instance_id:
    description: With O(state=absent), the RV(instance_id) returned by O(state=present).
    type: str
  key_name:
    description: With O(state=absent), the RV(key_name) returned by O(state=present).
    type: str
  security_group_id:
    description: With O(state=absent), the RV(security_group_id) returned by O(state=present).
    type: str
  inventory:
    description:
      - With O(state=present), also make the started builder's inventory entry, as the launch role adds it with
        M(ansible.builtin.add_host) (RV(inventory_entry)).
      - Done by the action plugin, from the result; the module does nothing with it.
    type: dict
    version_added: 0.2.0
    suboptions:
      build:
        description: The build's plan (C(image_build)), as the builder gets it.
        type: dict
        required: true
      target:
        description: The builder's target in the plan (an entry of C(image_build.targets)).
        type: dict
        required: true
      groups:
        description: The inventory groups the builder joins.
        type: list
        elements: str
        required: true
      inventory_dir:
        description:
          - The builder's C(inventory_dir).
          - Without it and O(inventory.inventory_file), the action gives the builder the C(inventory_dir) and
            C(inventory_file) a play gives a host of the inventory. That is the task host's own, else the first inventory
            source that exists (the directory it is, or is in), else the current directory.
        type: str
      inventory_file:
        description: The builder's C(inventory_file). See O(inventory.inventory_dir).
        type: str
  poll_delay:
    description: Seconds between polls while waiting on AWS for the instance to run (its removal waits 15 s apart).
    type: int
    default: 15
  poll_max_attempts:
    description: Polls before giving up waiting on AWS.
    type: int
    default: 40
notes:
  - Check mode resolves the source AMI and reports what would be created, without creating anything.
  - The private key material is never returned, only the path of the key file.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Launch the builder
  immutable.images.ec2_builder:
    region: us-west-2
    build_id: "{{ image_build_id }}"
    image_name: webapp
    image_version: 1.4.2
    target: aws
    source_ami_filter:
      name: debian-12-amd64-*
      owners: ["136693071363"]
      most_recent: true
    instance_type: t3.micro
    allowed_cidrs: [203.0.113.7/32]
    private_key_dir: "{{ build_dir }}/keys"
  register: builder

- name: Launch a builder in a private subnet, reached through a bastion
  immutable.images.ec2_builder:
    region: us-west-2
    build_id: "{{ image_build_id }}"
    image_name: webapp
    image_version: 1.4.2
    target: private
    source_ami: ami-0123456789abcdef0
    subnet_id: subnet-0a1b2c3d4e5f60718
    ssh_interface: private_ip
    allowed_cidrs: [10.20.0.0/24]
    ssh_bastion_host: bastion.example.com
    ssh_bastion_username: jump
    private_key_dir: "{{ build_dir }}/keys"
  register: private_builder

- name: Remove the builder, whatever happened before
  immutable.images.ec2_builder:
    state: absent
    region: us-west-2
    build_id: "{{ image_build_id }}"
    image_name: webapp
    target: aws
    instance_id: "{{ builder.instance_id | default(omit) }}"
    private_key_dir: "{{ build_dir }}/keys"
"""

RETURN = r"""
inventory_entry:
  description:
    - With O(inventory), the builder as M(ansible.builtin.add_host) takes it. C(name) is the target's C(host), C(groups)
      is O(inventory.groups); its variables are the connection P(immutable.images.ssh#connection) to the instance
      (RV(ssh_host), RV(ssh_port), the target's C(ssh_username), become unless that is C(root), the temporary private
      key, C(ansible_immutable_images_warm) from the build's C(warm_interpreter)), C(image_target) (O(inventory.target)
      with this result under C(builder)), C(image_build) (O(inventory.build)), C(inventory_dir) and C(inventory_file).
  returned: state=present with O(inventory), not in check mode
  type: dict
name:
  description: Name of the instance, key pair and security group.
  returned: state=present
  type: str
  sample: immutable-webapp-aws-20261123T2135Z-7f3a
instance_id:
  description: The builder instance.
  returned: state=present, not in check mode
  type: str
  sample: i-0123456789abcdef0
instance_type:
  description: Its instance type.
  returned: state=present, not in check mode
  type: str
spot:
  description: Whether it is a spot instance.
  returned: state=present, not in check mode
  type: bool
availability_zone:
  description: Where it runs.
  returned: state=present, not in check mode
  type: str
vpc_id:
  description: Its VPC (in check mode, the VPC that would be used).
  returned: state=present
  type: str
subnet_id:
  description: Its subnet (in check mode, the one O(subnet_id) or O(subnet_filter) names; null for the default VPC's).
  returned: state=present
  type: str
security_group_ids:
  description: In check mode, the existing groups the instance would get (O(security_group_ids) and what
    O(security_group_filter) finds).
  returned: check mode, state=present
  type: list
  elements: str
public_ip:
  description: Public address, if any.
  returned: state=present, not in check mode
  type: str
private_ip:
  description: Private address.
  returned: state=present, not in check mode
  type: str
public_dns:
  description: Public DNS name, if any.
  returned: state=present, not in check mode
  type: str
private_dns:
  description: Private DNS name, if any.
  returned: state=present, not in check mode
  type: str
ssh_host:
  description: Address to connect to (O(ssh_host), else the O(ssh_interface) address).
  returned: state=present, not in check mode
  type: str
ssh_port:
  description: Port to connect to.
  returned: state=present, not in check mode
  type: int
ssh_bastion:
  description: The bastion the builder is reached through (O(ssh_bastion_host) and the options beside it), or null.
  returned: state=present, not in check mode
  type: dict
  contains:
    host: {description: O(ssh_bastion_host)., type: str}
    port: {description: O(ssh_bastion_port)., type: int}
    username: {description: O(ssh_bastion_username) (null for C(ssh)'s default)., type: str}
    private_key_file: {description: O(ssh_bastion_private_key_file) (null for C(ssh)'s default)., type: str}
    host_key_checking: {description: O(ssh_bastion_host_key_checking) as resolved., type: bool}
    proxy_command: {description: The C(ssh -W) command the builder's connection uses as its ProxyCommand., type: str}
key_name:
  description: Key pair the instance was launched with.
  returned: state=present, not in check mode
  type: str
key_pair_temporary:
  description: Whether RV(key_name) is the temporary key pair (deleted by O(state=absent)).
  returned: state=present, not in check mode
  type: bool
private_key_file:
  description: Path of the private key for RV(key_name). The key itself is never returned.
  returned: state=present, not in check mode
  type: str
security_group_id:
  description: The temporary security group.
  returned: state=present, not in check mode
  type: str
source_ami:
  description: The resolved source AMI.
  returned: state=present
  type: dict
  contains:
    image_id: {description: AMI id., type: str}
    name: {description: AMI name., type: str}
    owner_id: {description: Owner account., type: str}
    creation_date: {description: Creation time., type: str}
    architecture: {description: Architecture., type: str}
    root_device_name: {description: Root device., type: str}
tags:
  description: Tags put on the builder's resources.
  returned: state=present, not in check mode
  type: dict
existing_instance_id:
  description: In check mode, this build's builder if it exists already.
  returned: check mode, state=present
  type: str
would_create:
  description: In check mode, the key pair, security group and instance that would be created.
  returned: check mode, state=present
  type: dict
removed:
  description: >-
    With O(state=absent), what was removed (in check mode, what would be):
    C(instances), C(key_pairs), C(security_groups), C(files) and the given ids that were C(skipped)
    because they do not carry the builder tags.
  returned: state=absent
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.immutable.images.plugins.module_utils._ec2.bastion import bastion
from ansible_collections.immutable.images.plugins.module_utils._ec2.client import Waits, module_client_factory, module_warner
from ansible_collections.immutable.images.plugins.module_utils._ec2.builder import (
    LAUNCH_OPTIONS, Ec2Builder, Ec2BuilderError)

try:
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError
except ImportError:  # AnsibleAWSModule reports the missing SDK
    pass

FILTER_SPEC = dict(name=dict(type="str"), owners=dict(type="list", elements="str", required=True),
                   architecture=dict(type="str"), most_recent=dict(type="bool", default=False),
                   filters=dict(type="dict"))
VOLUME_SPEC = dict(size=dict(type="int"), type=dict(type="str"), encrypted=dict(type="bool"),
                   kms_key_id=dict(type="str", no_log=False), iops=dict(type="int"), throughput=dict(type="int"))
ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    build_id=dict(type="str", required=True), image_name=dict(type="str", required=True),
    target=dict(type="str", required=True), name=dict(type="str"), image_version=dict(type="str"),
    build_hash=dict(type="str"), run_tags=dict(type="dict", default={}), private_key_dir=dict(type="path", no_log=False),
    source_ami=dict(type="str"), source_ami_filter=dict(type="dict", options=FILTER_SPEC),
    instance_type=dict(type="str", default="t3.micro"), subnet_id=dict(type="str"),
    iam_instance_profile=dict(type="str"), user_data=dict(type="str", no_log=True),
    metadata_options=dict(type="dict", options=dict(http_put_response_hop_limit=dict(type="int"),
                                                    instance_metadata_tags=dict(type="bool"))),
    root_volume=dict(type="dict", options=VOLUME_SPEC),
    extra_volumes=dict(type="list", elements="dict", default=[], options=dict(
        VOLUME_SPEC, device_name=dict(type="str", required=True), size=dict(type="int", required=True))),
    spot=dict(type="bool", default=False),
    allowed_cidrs=dict(type="list", elements="str", default=[]), caller_ip=dict(type="str"),
    ssh_interface=dict(type="str", default="public_ip", choices=["public_ip", "private_ip", "public_dns", "private_dns"]),
    ssh_host=dict(type="str"), ssh_port=dict(type="int", default=22), ssh_keypair_name=dict(type="str", no_log=False),
    ssh_private_key_file=dict(type="path", no_log=False), ssh_timeout=dict(type="int", default=300),
    wait_ssh=dict(type="bool", default=True), wait_status_ok=dict(type="bool", default=False),
    ssh_bastion_host=dict(type="str"), ssh_bastion_port=dict(type="int", default=22),
    ssh_bastion_username=dict(type="str"), ssh_bastion_private_key_file=dict(type="path", no_log=False),
    ssh_bastion_host_key_checking=dict(type="bool"),
    security_group_ids=dict(type="list", elements="str", default=[]), associate_public_ip_address=dict(type="bool"),
    subnet_filter=dict(type="dict", options=dict(filters=dict(type="dict", required=True),
                                                 most_free=dict(type="bool", default=False),
                                                 random=dict(type="bool", default=False))),
    security_group_filter=dict(type="dict", options=dict(filters=dict(type="dict", required=True))),
    instance_id=dict(type="str"), key_name=dict(type="str", no_log=False), security_group_id=dict(type="str"),
    poll_delay=dict(type="int", default=15), poll_max_attempts=dict(type="int", default=40),
    inventory=dict(type="dict", options=dict(  # the action plugin's (action/ec2_builder.py): the builder's entry
        build=dict(type="dict", required=True), target=dict(type="dict", required=True),
        groups=dict(type="list", elements="str", required=True),
        inventory_dir=dict(type="str"), inventory_file=dict(type="str"))),
)


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                              mutually_exclusive=[("source_ami", "source_ami_filter"), ("subnet_id", "subnet_filter")],
                              required_together=[("ssh_keypair_name", "ssh_private_key_file")],
                              required_if=[("state", "present", ("source_ami", "source_ami_filter"), True)])
    p = module.params
    client_for = module_client_factory(module)
    builder = Ec2Builder(client_for("ec2"), p["build_id"], p["image_name"], p["target"],
                         name=p["name"], version=p["image_version"], build_hash=p["build_hash"], extra_tags=p["run_tags"],
                         key_dir=p["private_key_dir"], waits=Waits(p["poll_delay"], p["poll_max_attempts"], "aws_polling"),
                         ssm=lambda: client_for("ssm"), iam=lambda: client_for("iam"))
    try:
        if p["state"] == "absent":
            removed = builder.teardown([p["instance_id"]] if p["instance_id"] else [], [p["key_name"]] if p["key_name"] else [],
                                       [p["security_group_id"]] if p["security_group_id"] else [], dry_run=module.check_mode)
            module.exit_json(changed=any(v for k, v in removed.items() if k != "skipped"), removed=removed)
        options = {k: p[k] for k in LAUNCH_OPTIONS if k != "ssh_bastion"}
        options["ssh_bastion"] = bastion(p["ssh_bastion_host"], p["ssh_bastion_port"], p["ssh_bastion_username"],
                                         p["ssh_bastion_private_key_file"],
                                         p["ssh_bastion_host_key_checking"] is not False)
        if module.check_mode:
            plan = builder.plan(**options)
            module.exit_json(changed=not plan["existing_instance_id"], name=builder.name, **plan)
        changed, facts = builder.launch(**options)
        for note in builder.notes:
            module_warner(module)(note)
        module.exit_json(changed=changed, **facts)
    except Ec2BuilderError as e:
        module.fail_json(msg=str(e))
    except (BotoCoreError, ClientError, WaiterError) as e:
        module.fail_json_aws(e, msg="EC2 builder %s (state=%s) failed" % (builder.name, p["state"]))


if __name__ == "__main__":
    main()
