# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The temporary EC2 builder: source AMI, key pair, security group, instance, and their teardown.

Packer's amazon-ebs steps SourceAMIInfo -> KeyPair -> SecurityGroup -> RunSourceInstance ->
Connect, and the reverse cleanup. Every AWS resource is tagged at creation (TagSpecifications),
so it can be found by build id even when this run's own bookkeeping is lost. A launch that fails
half-way deletes what it had created before it raises.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._common import references as ref
from ansible_collections.immutable.images.plugins.module_utils._ec2 import bastion as ssh_bastion
from ansible_collections.immutable.images.plugins.module_utils._ec2 import instance_profile
from ansible_collections.immutable.images.plugins.module_utils._ec2 import network
from ansible_collections.immutable.images.plugins.module_utils._ec2 import resources as res
from ansible_collections.immutable.images.plugins.module_utils._ec2.client import (
    Waits,
    error_code,
    is_not_implemented,
    wait_for_port,
)

try:
    from botocore.exceptions import ClientError
except ImportError:  # AnsibleAWSModule reports the missing SDK
    ClientError = Exception

# sshd starts seconds after the instance does; a port refused this long while the instance runs has nothing
# behind it (wrong ssh_host/ssh_port, no sshd), so the build says so instead of waiting out ssh_timeout.
SSH_REFUSED_GIVE_UP = 60.0
SSH_INTERFACES = {"public_ip": "PublicIpAddress", "private_ip": "PrivateIpAddress",
                  "public_dns": "PublicDnsName", "private_dns": "PrivateDnsName"}
# EC2 is eventually consistent: a security group or key pair just made can be unknown for a moment to the calls that
# use it (AWS's EC2 API guide, "Eventual consistency"; Packer's "Error launching source instance: The security group
# ... does not exist"). Those calls are retried on the NotFound of what this launch made, for up to about a minute.
PROPAGATION_RETRY = {"retries": 8, "delay": 1, "max_delay": 10}
NOT_YET_KNOWN = {"security_group": "InvalidGroup.NotFound", "key_pair": "InvalidKeyPair.NotFound"}

# Keyword arguments of Ec2Builder.launch / plan (the module passes its params straight through).
LAUNCH_OPTIONS = ("source_ami", "source_ami_filter", "instance_type", "subnet_id", "iam_instance_profile",
                  "user_data", "root_volume", "extra_volumes", "spot", "allowed_cidrs", "caller_ip", "ssh_interface",
                  "ssh_host", "ssh_port", "ssh_keypair_name", "ssh_private_key_file", "ssh_timeout",
                  "wait_ssh", "wait_status_ok", "ssh_bastion", "security_group_ids", "associate_public_ip_address",
                  "subnet_filter", "security_group_filter", "metadata_options")


class Ec2BuilderError(Exception):
    pass


def ami_query(source_ami_filter):
    """source_ami_filter {name, owners, architecture, filters} -> describe_images kwargs."""
    flt = source_ami_filter or {}
    filters = {"state": ["available"]}
    for key, value in (flt.get("filters") or {}).items():
        filters[str(key)] = [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    if flt.get("name"):
        filters["name"] = [flt["name"]]
    if flt.get("architecture"):
        filters["architecture"] = [flt["architecture"]]
    query = {"Filters": [{"Name": k, "Values": v} for k, v in sorted(filters.items())]}
    if flt.get("owners"):
        query["Owners"] = [str(o) for o in flt["owners"]]
    return query


def resolve_source_ami(ec2, source_ami=None, source_ami_filter=None, ssm=None):
    """The source image (describe_images entry); newest by CreationDate when most_recent is set. A source_ami of
    `resolve:ssm:<parameter>` is the AMI that parameter holds now (ami_in_parameter); ssm() makes the Systems Manager
    client of the region, only then."""
    named = source_ami
    if source_ami and source_ami.startswith(ref.SSM_AMI_PREFIX):
        source_ami = ami_in_parameter(ssm(), source_ami)
        named = "%s (%s)" % (named, source_ami)
    if source_ami:
        try:
            images = ec2.describe_images(ImageIds=[source_ami])["Images"]
        except ClientError as e:
            if error_code(e) not in res.NOT_FOUND["image"] + ("InvalidAMIID.Malformed",):
                raise
            images = []
        if not images:
            raise Ec2BuilderError("source_ami %s does not exist or is not visible to this account" % named)
        image = images[0]
    elif source_ami_filter:
        images = ec2.get_paginator("describe_images").paginate(**ami_query(source_ami_filter)).build_full_result()["Images"]
        if not images:
            raise Ec2BuilderError("source_ami_filter %r matches no available AMI" % (source_ami_filter,))
        if len(images) > 1 and not source_ami_filter.get("most_recent"):
            names = sorted("%s (%s)" % (i.get("Name"), i["ImageId"]) for i in images)
            raise Ec2BuilderError("source_ami_filter matches %d AMIs; narrow it or set most_recent: true. Matches: %s"
                                  % (len(images), ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")))
        # ISO 8601 strings sort by time; the name and id only make ties deterministic.
        image = max(images, key=lambda i: (i.get("CreationDate", ""), i.get("Name", ""), i["ImageId"]))
    else:
        raise Ec2BuilderError("give source_ami or source_ami_filter")
    if image.get("RootDeviceType", "ebs") != "ebs":
        raise Ec2BuilderError("source AMI %s is %s-backed; only EBS-backed AMIs can be imaged"
                              % (image["ImageId"], image.get("RootDeviceType")))
    return image


def check_instance_type(ec2, instance_type, image):
    """Raise Ec2BuilderError, before anything is created, for an instance type the region does not have or whose
    processors cannot run the source AMI's architecture (an arm64 AMI on t3.micro): RunInstances would refuse it
    after the key pair and group were made. Nothing is checked when EC2 does not say (DescribeInstanceTypes not
    allowed or not implemented)."""
    try:
        types = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
    except Exception as e:  # noqa: BLE001 - only the answers below are not errors of the build
        if error_code(e) == "InvalidInstanceType":
            raise Ec2BuilderError("instance_type %s is not an instance type of this region (%s)" % (instance_type, e))
        if is_not_implemented(e) or error_code(e) in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
            return
        raise
    supported = (types[0].get("ProcessorInfo") or {}).get("SupportedArchitectures") if types else None
    architecture = image.get("Architecture")
    if supported and architecture and architecture not in supported:
        raise Ec2BuilderError("source AMI %s is %s, which instance_type %s cannot run (its processors: %s): choose an "
                              "instance type for %s, or an AMI for %s" % (image["ImageId"], architecture, instance_type,
                                                                          ", ".join(supported), architecture,
                                                                          " or ".join(supported)))


def _once_known(call, created):
    """`call`, retried while AWS does not know yet the security group or key pair this launch made (created)."""
    codes = [code for kind, code in NOT_YET_KNOWN.items() if created.get(kind)]
    return AWSRetry.jittered_backoff(catch_extra_error_codes=codes, **PROPAGATION_RETRY)(call) if codes else call


def ami_in_parameter(ssm, source_ami):
    """The AMI id a Systems Manager parameter holds (source_ami `resolve:ssm:<name>[:<version or label>]`): AWS's public
    parameters name the current AMIs of Amazon Linux, Ubuntu, Debian, Windows and the EKS-optimized images."""
    name = source_ami[len(ref.SSM_AMI_PREFIX):]
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as e:
        if error_code(e) in ("ParameterNotFound", "ParameterVersionNotFound", "ParameterVersionLabelNotFound"):
            raise Ec2BuilderError("source_ami %s: no such parameter%s in %s" % (
                source_ami, "" if error_code(e) == "ParameterNotFound" else " version or label",
                ssm.meta.region_name))
        raise
    if not ref.AMI_ID_RE.match(value or ""):
        raise Ec2BuilderError("source_ami %s: the parameter holds %r, not an AMI id" % (source_ami, (value or "")[:80]))
    return value


def image_summary(image):
    keys = {"ImageId": "image_id", "Name": "name", "OwnerId": "owner_id", "CreationDate": "creation_date",
            "Architecture": "architecture", "RootDeviceName": "root_device_name"}
    return {new: image.get(old) for old, new in keys.items()}


def allowed_sources(allowed_cidrs=None, caller_ip=None):
    """The CIDRs that may reach the SSH port. Never the whole internet unless asked for explicitly."""
    if allowed_cidrs:
        return [str(ipaddress.ip_network(str(c), strict=False)) for c in allowed_cidrs]
    if caller_ip:
        return [str(ipaddress.ip_network(str(caller_ip), strict=False))]  # an address gives /32 or /128
    raise Ec2BuilderError("cannot tell which address to allow SSH from: set allowed_cidrs (e.g. your public "
                          "address as 203.0.113.7/32) or caller_ip")


def ingress_permissions(port, cidrs):
    """One TCP rule for `port` from exactly `cidrs` (IPv4 and IPv6 kept apart, as the API wants)."""
    desc = "immutable.images builder SSH"
    v4 = [{"CidrIp": c, "Description": desc} for c in cidrs if ipaddress.ip_network(c).version == 4]
    v6 = [{"CidrIpv6": c, "Description": desc} for c in cidrs if ipaddress.ip_network(c).version == 6]
    rule = {"IpProtocol": "tcp", "FromPort": int(port), "ToPort": int(port)}
    if v4:
        rule["IpRanges"] = v4
    if v6:
        rule["Ipv6Ranges"] = v6
    return [rule]


def block_devices(image, root_volume=None, extra_volumes=None):
    """The instance's block device mappings, every EBS volume deleted with the instance (the AMI keeps snapshots of
    them): an override of the source AMI's root volume (unset fields keep the AMI's values), the extra volumes (each
    replaces the AMI's mapping of its device, if any), and the AMI's own EBS volumes that it says to keep after
    termination, which would outlive the build. None when there is nothing to change. An extra volume on the AMI's
    root device is an Ec2BuilderError (before anything is made)."""
    mappings = []
    if root_volume:
        ebs = _ebs(root_volume)
        # The AMI's own snapshot, named: an override of the encryption alone (no size) is a mapping with neither size
        # nor snapshot, which moto refuses ("must contain the parameter size or snapshotId").
        root = [m for m in image.get("BlockDeviceMappings") or [] if m.get("DeviceName") == image["RootDeviceName"]]
        snapshot = (root[0].get("Ebs") or {}).get("SnapshotId") if root else None
        if snapshot:
            ebs["SnapshotId"] = snapshot
        mappings.append({"DeviceName": image["RootDeviceName"], "Ebs": ebs})
    for volume in extra_volumes or []:
        if volume["device_name"] == image.get("RootDeviceName"):
            raise Ec2BuilderError("extra_volumes: %s is the root device of %s (root_volume changes that one)"
                                  % (volume["device_name"], image["ImageId"]))
        mappings.append({"DeviceName": volume["device_name"], "Ebs": _ebs(volume)})
    given = {m["DeviceName"] for m in mappings}
    for kept in image.get("BlockDeviceMappings") or []:
        ebs = kept.get("Ebs")
        if ebs and ebs.get("DeleteOnTermination") is not True and kept.get("DeviceName") not in given:
            # the AMI's snapshot, size, type and performance, named: a mapping without them would not be the AMI's volume
            keep = {k: ebs[k] for k in ("SnapshotId", "VolumeSize", "VolumeType", "Iops", "Throughput")
                    if ebs.get(k) is not None}
            mappings.append({"DeviceName": kept["DeviceName"], "Ebs": dict(keep, DeleteOnTermination=True)})
    return mappings or None


def _ebs(volume):
    """The Ebs part of a mapping from a root_volume or extra_volumes entry: always deleted with the instance (a
    volume the builder leaves would outlive its build)."""
    keys = {"size": "VolumeSize", "type": "VolumeType", "encrypted": "Encrypted", "kms_key_id": "KmsKeyId",
            "iops": "Iops", "throughput": "Throughput"}
    return dict({api: volume[k] for k, api in keys.items() if volume.get(k) is not None}, DeleteOnTermination=True)


def instance_metadata(options=None):
    """The builder's MetadataOptions: IMDSv2 only, always (a role's request without a token gets nothing); options
    (metadata_options): the hop limit a container on the builder needs to reach it (2), the instance's tags in it."""
    metadata = {"HttpTokens": "required", "HttpEndpoint": "enabled"}
    options = options or {}
    if options.get("http_put_response_hop_limit") is not None:
        metadata["HttpPutResponseHopLimit"] = int(options["http_put_response_hop_limit"])
    if options.get("instance_metadata_tags") is not None:
        metadata["InstanceMetadataTags"] = "enabled" if options["instance_metadata_tags"] else "disabled"
    return metadata


def ssh_address(instance, interface):
    address = instance.get(SSH_INTERFACES[interface])
    if not address:
        raise Ec2BuilderError("instance %s has no %s (ssh_interface); use another ssh_interface, a subnet that "
                              "assigns one, associate_public_ip_address: true, or ssh_host"
                              % (instance["InstanceId"], interface))
    return address


class Ec2Builder:
    """One target's builder in one region. `key_dir` is where a temporary private key is written."""

    def __init__(self, ec2, build_id, image_name, target, name=None, version=None, build_hash=None,
                 extra_tags=None, key_dir=None, waits=None, ssm=None, removal_waits=None, iam=None):
        self.ec2 = ec2
        self.ssm = ssm  # () -> the region's Systems Manager client, for a source_ami of resolve:ssm:
        self.iam = iam  # () -> the IAM client, for the check of iam_instance_profile (none without it)
        self.build_id, self.target = build_id, target
        self.name = name or naming.builder_name(image_name, target, build_id)
        self.tags = res.ec2_tags(naming.KIND_BUILDER, build_id, image_name, target, name=self.name,
                                 version=version, build_hash=build_hash, extra=extra_tags)
        self.key_dir = key_dir
        self.waits = waits or Waits()  # the launch's (aws_polling)
        # A removal waits as long as AWS takes, whatever the launch's waits: one given up leaves the group behind.
        self.removal_waits = removal_waits or Waits()
        self.notes = []  # what the launch had to do otherwise than asked (the module warns with them)

    @property
    def key_path(self):
        return os.path.join(self.key_dir, self.name + ".pem") if self.key_dir else None

    def _tag_spec(self, *types):
        return [{"ResourceType": t, "Tags": naming.aws_tag_list(self.tags)} for t in types]

    def vpc_for(self, subnet_id=None):
        if subnet_id:
            subnets = self.ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
            return subnets[0]["VpcId"]
        vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise Ec2BuilderError("this region has no default VPC: set subnet_id")
        return vpcs[0]["VpcId"]

    def _existing(self):
        """This build's live builder instances; one being terminated (teardown just ran) does not count."""
        return [i for i in res.find_instances(self.ec2, self.build_id, self.target)
                if i["State"]["Name"] != "shutting-down"]

    def plan(self, source_ami=None, source_ami_filter=None, subnet_id=None, allowed_cidrs=None, caller_ip=None,
             ssh_keypair_name=None, ssh_port=22, security_group_ids=None, subnet_filter=None,
             security_group_filter=None, **launch):
        """What launch() would do, without creating anything (check mode)."""
        image = resolve_source_ami(self.ec2, source_ami, source_ami_filter, self.ssm)
        block_devices(image, launch.get("root_volume"), launch.get("extra_volumes"))  # its errors, as launch() has them
        check_instance_type(self.ec2, launch.get("instance_type") or "t3.micro", image)
        self._check_instance_profile(launch.get("iam_instance_profile"))
        subnet_id, security_group_ids, _spare = self._network(subnet_id, subnet_filter, security_group_ids,
                                                              security_group_filter,
                                                              launch.get("instance_type") or "t3.micro")
        cidrs = None if security_group_ids and not (allowed_cidrs or caller_ip) else allowed_sources(allowed_cidrs,
                                                                                                     caller_ip)
        existing = self._existing()
        return {
            "source_ami": image_summary(image),
            "vpc_id": self.vpc_for(subnet_id),
            "subnet_id": subnet_id,
            "security_group_ids": security_group_ids,
            "existing_instance_id": existing[0]["InstanceId"] if existing else None,
            "would_create": {} if existing else {
                "key_pair": None if ssh_keypair_name else self.name,
                "private_key_file": None if ssh_keypair_name else self.key_path,
                "security_group": {"name": self.name, "port": int(ssh_port), "cidrs": cidrs} if cidrs else None,
                "instance": {"name": self.name, "image_id": image["ImageId"], "instance_type": launch.get("instance_type"),
                             "spot": bool(launch.get("spot")),
                             "extra_volumes": [v["device_name"] for v in launch.get("extra_volumes") or []]},
            },
        }

    def launch(self, source_ami=None, source_ami_filter=None, instance_type="t3.micro", subnet_id=None,
               iam_instance_profile=None, user_data=None, root_volume=None, extra_volumes=None, spot=False,
               allowed_cidrs=None, caller_ip=None, ssh_interface="public_ip", ssh_host=None, ssh_port=22, ssh_keypair_name=None,
               ssh_private_key_file=None, ssh_timeout=300, wait_ssh=True, wait_status_ok=False, ssh_bastion=None,
               security_group_ids=None, associate_public_ip_address=None, subnet_filter=None,
               security_group_filter=None, metadata_options=None):
        """Launch (or find this build's running) builder; returns (changed, facts). ssh_bastion: bastion.bastion()'s
        dict, through which the SSH port is waited for (and which the facts carry for the builder's connection).
        security_group_ids: existing groups the instance gets; with them, a temporary group is made only for
        allowed_cidrs (or caller_ip) when given. associate_public_ip_address: true or false overrides the subnet's
        own setting (None keeps it). subnet_filter, security_group_filter: the subnet and more existing groups, found
        by filters (network.py); with a rule to choose, another zone's subnet it found when EC2 has no capacity for
        the type in the first one's zone (self.notes says so)."""
        ssh_port = int(ssh_port or 22)
        existing = self._existing()
        if existing:
            return False, self._reuse(existing[0], ssh_interface, ssh_host, ssh_port, ssh_private_key_file,
                                      ssh_timeout if wait_ssh else None, ssh_bastion)
        image = resolve_source_ami(self.ec2, source_ami, source_ami_filter, self.ssm)
        check_instance_type(self.ec2, instance_type, image)
        self._check_instance_profile(iam_instance_profile)
        devices = block_devices(image, root_volume, extra_volumes)
        subnet_id, own_groups, spare_subnets = self._network(subnet_id, subnet_filter, security_group_ids,
                                                             security_group_filter, instance_type)
        cidrs = None if own_groups and not (allowed_cidrs or caller_ip) else allowed_sources(allowed_cidrs, caller_ip)
        if bool(ssh_keypair_name) != bool(ssh_private_key_file):
            raise Ec2BuilderError("ssh_keypair_name and ssh_private_key_file go together")
        if ssh_private_key_file and not os.path.isfile(ssh_private_key_file):
            raise Ec2BuilderError("ssh_private_key_file %s does not exist" % ssh_private_key_file)
        if ssh_bastion and ssh_bastion.get("private_key_file") and not os.path.isfile(ssh_bastion["private_key_file"]):
            raise Ec2BuilderError("ssh_bastion_private_key_file %s does not exist" % ssh_bastion["private_key_file"])
        if not ssh_keypair_name:
            self._check_key_dir()
        vpc_id = self.vpc_for(subnet_id) if cidrs else None

        created = {"key_pair": None, "security_group": None, "instance": None}
        stage = "key pair"
        try:
            key_name, key_file = ssh_keypair_name, ssh_private_key_file
            if not key_name:
                key_name, key_file = self._create_key_pair(created)
            group_id = None
            if cidrs:
                stage = "security group"
                group_id = self._create_security_group(created, vpc_id, ssh_port, cidrs)
            stage = "run instance"
            candidates = [subnet_id] + spare_subnets
            for i, candidate in enumerate(candidates):
                try:
                    instance_id = self._run_instance(
                        created, image, key_name, own_groups + ([group_id] if group_id else []), instance_type,
                        candidate, iam_instance_profile, user_data, devices, spot, associate_public_ip_address,
                        metadata_options)
                    break
                except Exception as e:  # noqa: BLE001 - all but one refusal are the launch's error
                    # no capacity for the type in that zone now (GPU and large types, spot): another zone's subnet
                    # the filter found may have it; the last one's refusal is the launch's error
                    if error_code(e) != "InsufficientInstanceCapacity" or i == len(candidates) - 1:
                        raise
                    self.notes.append("no capacity for %s in the zone of %s (%s): tried %s"
                                      % (instance_type, candidate, e, candidates[i + 1]))
            stage = "wait for instance"
            self.waits.wait(self.ec2, "instance_running", InstanceIds=[instance_id])
            if wait_status_ok:
                self.waits.wait(self.ec2, "instance_status_ok", InstanceIds=[instance_id])
            instance = self._describe(instance_id)
            host = ssh_host or ssh_address(instance, ssh_interface)
            if wait_ssh:
                stage = "wait for SSH"
                self._wait_for_ssh(instance_id, host, ssh_port, ssh_timeout, ssh_bastion)
        except BaseException as e:  # interrupts too: nothing may be left behind
            leftovers = self._rollback(created)
            msg = "launching the builder failed at %s: %s" % (stage, e)
            if leftovers:
                msg += "; could not remove: %s" % "; ".join(leftovers)
            if isinstance(e, Exception):
                raise Ec2BuilderError(msg) from e
            raise
        return True, self._facts(instance, host, ssh_port, key_name, key_file, not ssh_keypair_name, group_id,
                                 image_summary(image), ssh_bastion)

    def _network(self, subnet_id, subnet_filter, group_ids, group_filter, instance_type):
        """(subnet id, existing group ids, spare subnets): as given, with what the filters find (before anything is
        created). A subnet given or found is of a zone that offers instance_type (without one, EC2 picks such a zone
        itself). Spare subnets: with a filter's rule to choose, the others it matched in the subnet's VPC, each of
        another zone, in the rule's order (where the builder goes when EC2 has no capacity in the zone before)."""
        spare = []
        try:
            zones = network.zones_offering(self.ec2, instance_type) if subnet_id or subnet_filter else None
            if subnet_filter:
                found = network.subnets_by_filter(self.ec2, subnet_filter, instance_type, zones)
                subnet_id, seen = found[0]["SubnetId"], {found[0].get("AvailabilityZone")}
                for subnet in found[1:]:
                    if subnet.get("AvailabilityZone") not in seen:
                        seen.add(subnet.get("AvailabilityZone"))
                        spare.append(subnet["SubnetId"])
            elif subnet_id:
                network.check_subnet_zone(self.ec2, subnet_id, instance_type, zones)
            groups = list(group_ids or [])
            if group_filter:
                groups += [g for g in network.groups_by_filter(self.ec2, group_filter, self.vpc_for(subnet_id))
                           if g not in groups]
        except network.NetworkError as e:
            raise Ec2BuilderError(str(e)) from e
        return subnet_id, groups, spare

    def _check_instance_profile(self, profile):
        if profile and self.iam:
            try:
                instance_profile.check(self.iam(), profile)
            except instance_profile.InstanceProfileError as e:
                raise Ec2BuilderError(str(e)) from e

    def _check_key_dir(self):
        if not self.key_dir:
            raise Ec2BuilderError("a private key directory is needed for the temporary key pair")
        # Never chmod a directory we did not make: refuse one that others can read instead.
        if os.path.isdir(self.key_dir) and stat.S_IMODE(os.stat(self.key_dir).st_mode) & 0o077:
            raise Ec2BuilderError("private key directory %s is accessible to other users; use a 0700 directory"
                                  % self.key_dir)

    def _create_key_pair(self, created):
        if not os.path.isdir(self.key_dir):
            os.makedirs(self.key_dir, mode=0o700)
        reply = self.ec2.create_key_pair(KeyName=self.name, KeyType="ed25519", KeyFormat="pem",
                                         TagSpecifications=self._tag_spec("key-pair"))
        created["key_pair"] = self.name
        material = reply["KeyMaterial"]
        # AWS returns ed25519 keys without the final newline, which OpenSSH rejects as "invalid format".
        material = material if material.endswith("\n") else material + "\n"
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(material)
        return self.name, self.key_path

    def _create_security_group(self, created, vpc_id, port, cidrs):
        group_id = self.ec2.create_security_group(
            GroupName=self.name, VpcId=vpc_id, TagSpecifications=self._tag_spec("security-group"),
            Description="Temporary SSH access to immutable.images builder %s" % self.name)["GroupId"]
        created["security_group"] = group_id
        _once_known(self.ec2.authorize_security_group_ingress, created)(
            GroupId=group_id, IpPermissions=ingress_permissions(port, cidrs))
        return group_id

    def _run_instance(self, created, image, key_name, group_ids, instance_type, subnet_id, profile, user_data,
                      devices, spot, public_ip=None, metadata_options=None):
        args = {
            "ImageId": image["ImageId"], "InstanceType": instance_type, "MinCount": 1, "MaxCount": 1,
            "KeyName": key_name, "SecurityGroupIds": group_ids,
            "MetadataOptions": instance_metadata(metadata_options),
            # If this run dies and nobody cleans up, `shutdown` inside the builder still ends the bill.
            "InstanceInitiatedShutdownBehavior": "terminate",
            "TagSpecifications": self._tag_spec("instance", "volume"),
        }
        if public_ip is not None:
            # only an interface of the request can say it; the groups and subnet then go with it
            args["NetworkInterfaces"] = [dict({"DeviceIndex": 0, "AssociatePublicIpAddress": bool(public_ip),
                                               "Groups": args.pop("SecurityGroupIds"), "DeleteOnTermination": True},
                                              **({"SubnetId": subnet_id} if subnet_id else {}))]
        elif subnet_id:
            args["SubnetId"] = subnet_id
        if profile:
            args["IamInstanceProfile"] = {"Arn": profile} if profile.startswith("arn:") else {"Name": profile}
        if user_data:
            args["UserData"] = user_data  # boto3 base64-encodes it
        if devices:
            args["BlockDeviceMappings"] = devices
        if spot:
            args["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {
                "SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}

        def run():
            # The same ClientToken on botocore's retries of one request and on those of _once_known makes them
            # idempotent (never a second instance); a request EC2 refused made nothing, so the next try has its own.
            return _once_known(self.ec2.run_instances, created)(ClientToken=secrets.token_hex(16), **args)
        instance_id = instance_profile.run_when_known(run, profile)["Instances"][0]["InstanceId"]
        created["instance"] = instance_id
        return instance_id

    def _wait_for_ssh(self, instance_id, host, port, timeout, bastion=None):
        """Wait for the builder's SSH port (from the bastion, with one), but not for one that can never answer: an
        instance that left pending/running, a port refused for SSH_REFUSED_GIVE_UP seconds in a row, or a bastion
        that cannot be used (bastion.BastionError)."""
        def hopeless():
            instance = self._describe(instance_id)
            state = instance["State"]["Name"]
            if state in ("pending", "running"):
                return None
            why = (instance.get("StateReason") or {}).get("Message") or instance.get("StateTransitionReason")
            return "instance %s is %s%s" % (instance_id, state, " (%s)" % why if why else "")
        wait_for_port(host, port, timeout, hopeless=hopeless, refused_give_up=SSH_REFUSED_GIVE_UP,
                      connect=ssh_bastion.probe(bastion) if bastion else None)

    def _describe(self, instance_id):
        return self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    def _reuse(self, instance, ssh_interface, ssh_host, ssh_port, ssh_private_key_file, ssh_timeout, bastion=None):
        """This build's builder exists already (a re-run): report it instead of launching a second one."""
        if instance["State"]["Name"] not in ("pending", "running"):
            raise Ec2BuilderError("builder %s of this build is %s; remove it with state=absent first"
                                  % (instance["InstanceId"], instance["State"]["Name"]))
        self.waits.wait(self.ec2, "instance_running", InstanceIds=[instance["InstanceId"]])
        instance = self._describe(instance["InstanceId"])
        key_name = instance.get("KeyName")
        temporary = key_name == self.name
        key_file = self.key_path if temporary else ssh_private_key_file
        if temporary and not (key_file and os.path.isfile(key_file)):
            raise Ec2BuilderError("builder %s exists but its private key %s is gone; remove it with state=absent"
                                  % (instance["InstanceId"], key_file))
        groups = [g["GroupId"] for g in instance.get("SecurityGroups") or [] if g.get("GroupName") == self.name]
        host = ssh_host or ssh_address(instance, ssh_interface)
        if ssh_timeout is not None:
            self._wait_for_ssh(instance["InstanceId"], host, ssh_port, ssh_timeout, bastion)
        try:
            source = image_summary(resolve_source_ami(self.ec2, instance["ImageId"]))
        except Ec2BuilderError:  # deregistered since the launch
            source = {"image_id": instance["ImageId"]}
        return self._facts(instance, host, ssh_port, key_name, key_file, temporary, groups[0] if groups else None,
                           source, bastion)

    def _facts(self, instance, host, port, key_name, key_file, key_temporary, group_id, source, bastion=None):
        return {
            "name": self.name, "instance_id": instance["InstanceId"], "instance_type": instance.get("InstanceType"),
            "spot": instance.get("InstanceLifecycle") == "spot",
            "availability_zone": (instance.get("Placement") or {}).get("AvailabilityZone"),
            "vpc_id": instance.get("VpcId"), "subnet_id": instance.get("SubnetId"),
            "public_ip": instance.get("PublicIpAddress"), "private_ip": instance.get("PrivateIpAddress"),
            "public_dns": instance.get("PublicDnsName") or None, "private_dns": instance.get("PrivateDnsName") or None,
            "ssh_host": host, "ssh_port": port, "key_name": key_name, "key_pair_temporary": key_temporary,
            "private_key_file": key_file, "security_group_id": group_id, "source_ami": source, "tags": self.tags,
            "ssh_bastion": bastion,
        }

    def _rollback(self, created):
        """Delete what a failed launch had created; returns what could not be deleted."""
        leftovers = []
        steps = [
            ("instance", lambda i: res.terminate_instances(self.ec2, [i], self.removal_waits)),
            ("security_group", lambda g: res.delete_security_group(self.ec2, g, self.removal_waits)),
            ("key_pair", lambda k: (res.delete_key_pair(self.ec2, k), self._remove_key_file())),
        ]
        for kind, delete in steps:
            if created[kind]:
                try:
                    delete(created[kind])
                except Exception as e:  # keep going: the other resources must still go
                    leftovers.append("%s %s (%s)" % (kind.replace("_", " "), created[kind], e))
        return leftovers

    def _remove_key_file(self):
        removed = []
        if self.key_path and os.path.exists(self.key_path):
            os.remove(self.key_path)
            removed.append(self.key_path)
        if self.key_dir and os.path.isdir(self.key_dir) and not os.listdir(self.key_dir):
            os.rmdir(self.key_dir)
            removed.append(self.key_dir)
        return removed

    def teardown(self, instance_ids=(), key_names=(), security_group_ids=(), dry_run=False):
        """Remove this builder: instances, temporary key pair and security group, local key file.

        Resources are found by tag (build id + target) and from the ids given; an id given that
        does not carry our builder tags (e.g. the user's own key pair) is skipped, never deleted.
        Everything already gone counts as done, so this can run any number of times.
        """
        instances = {i["InstanceId"] for i in res.find_instances(self.ec2, self.build_id, self.target)}
        keys = {k["KeyName"] for k in res.find_key_pairs(self.ec2, self.build_id, self.target)}
        groups = {g["GroupId"] for g in res.find_security_groups(self.ec2, self.build_id, self.target)}
        skipped = []
        for iid in set(instance_ids) - instances:
            found = self.ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [iid]}, {
                "Name": "instance-state-name", "Values": res.LIVE_INSTANCE_STATES}])["Reservations"]
            for inst in (i for r in found for i in r["Instances"]):
                (instances.add if res.is_ours(inst) else skipped.append)(iid)
        for name in set(key_names) - keys:
            for kp in self._described("key_pair", self.ec2.describe_key_pairs, "KeyPairs", KeyNames=[name]):
                (keys.add if res.is_ours(kp) else skipped.append)(name)
        for gid in set(security_group_ids) - groups:
            for sg in self._described("security_group", self.ec2.describe_security_groups, "SecurityGroups",
                                      GroupIds=[gid]):
                (groups.add if res.is_ours(sg) else skipped.append)(gid)
        if dry_run:
            files = [p for p in (self.key_path,) if p and os.path.exists(p)]
            return {"instances": sorted(instances), "key_pairs": sorted(keys), "security_groups": sorted(groups),
                    "files": files, "skipped": sorted(skipped)}
        done = {"instances": res.terminate_instances(self.ec2, sorted(instances), self.removal_waits)}
        done["key_pairs"] = [k for k in sorted(keys) if res.delete_key_pair(self.ec2, k)]
        done["security_groups"] = [g for g in sorted(groups)
                                   if res.delete_security_group(self.ec2, g, self.removal_waits)]
        done["files"] = self._remove_key_file()
        done["skipped"] = sorted(skipped)
        return done

    @staticmethod
    def _described(kind, call, key, **kwargs):
        try:
            return call(**kwargs)[key]
        except ClientError as e:
            if error_code(e) in res.NOT_FOUND[kind]:
                return []
            raise
