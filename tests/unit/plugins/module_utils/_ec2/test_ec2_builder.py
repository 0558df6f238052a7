# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The temporary EC2 builder against a moto server: source AMI, key pair, security group, launch, teardown."""

from __future__ import annotations

import datetime
import os
import re
import socket
import stat
import time

import botocore.exceptions
import pytest

from ansible_collections.immutable.images.plugins.module_utils._ec2 import builder as eb
from ansible_collections.immutable.images.plugins.module_utils._ec2 import client as aws_client
from ansible_collections.immutable.images.plugins.module_utils._ec2 import network
from ansible_collections.immutable.images.plugins.module_utils._common import naming

BUILD = "20261123T2135Z-7f3a"
AL2023 = {"name": "al2023-ami-2023*", "owners": ["137112412989"], "architecture": "x86_64"}


@pytest.fixture
def ssh_port():
    """A local listener standing in for the builder's sshd (moto's instance addresses are fake)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def builder(aws, tmp_path):
    return eb.Ec2Builder(aws.client("ec2"), BUILD, "webapp", "aws", version="1.4.2", build_hash="abc123",
                         extra_tags={"team": "web"}, key_dir=str(tmp_path / "keys"), waits=aws.waits)


_SOURCE = {}


def source_ami(ec2):
    """An AL2023 AMI id (moto's default AMIs keep their ids across resets; filtering them is slow)."""
    if "id" not in _SOURCE:
        _SOURCE["id"] = eb.resolve_source_ami(ec2, source_ami_filter=dict(AL2023, most_recent=True))["ImageId"]
    return _SOURCE["id"]


def launch(builder, port, **kw):
    args = dict(source_ami=source_ami(builder.ec2), allowed_cidrs=["203.0.113.7/32"],
                ssh_host="127.0.0.1", ssh_port=port, ssh_timeout=5)
    args.update(kw)
    return builder.launch(**args)


def counts(ec2):
    live = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopped"]}])
    return {"instances": sum(len(r["Instances"]) for r in live["Reservations"]),
            "key_pairs": len(ec2.describe_key_pairs()["KeyPairs"]),
            "security_groups": len([g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"])}


# --- source AMI -------------------------------------------------------------------------------

def test_ami_query():
    query = eb.ami_query({"name": "debian-12-*", "owners": ["136693071363"], "architecture": "arm64",
                          "filters": {"virtualization-type": "hvm", "root-device-type": ["ebs"]}})
    assert query["Owners"] == ["136693071363"]
    assert {"Name": "name", "Values": ["debian-12-*"]} in query["Filters"]
    assert {"Name": "architecture", "Values": ["arm64"]} in query["Filters"]
    assert {"Name": "virtualization-type", "Values": ["hvm"]} in query["Filters"]
    assert {"Name": "state", "Values": ["available"]} in query["Filters"]


def test_source_ami_by_id_and_missing(aws):
    ec2 = aws.client("ec2")
    some = eb.resolve_source_ami(ec2, source_ami_filter=dict(AL2023, most_recent=True))
    assert eb.resolve_source_ami(ec2, source_ami=some["ImageId"])["ImageId"] == some["ImageId"]
    with pytest.raises(eb.Ec2BuilderError, match="does not exist"):
        eb.resolve_source_ami(ec2, source_ami="ami-0123456789abcdef0")


def test_source_ami_filter_none_and_ambiguous(aws):
    ec2 = aws.client("ec2")
    with pytest.raises(eb.Ec2BuilderError, match="matches no available AMI"):
        eb.resolve_source_ami(ec2, source_ami_filter={"name": "debian-12-*", "owners": ["137112412989"]})
    with pytest.raises(eb.Ec2BuilderError, match=r"matches 3 AMIs.*most_recent"):
        eb.resolve_source_ami(ec2, source_ami_filter=AL2023)
    one = eb.resolve_source_ami(ec2, source_ami_filter=dict(AL2023, name="al2023-ami-2023*-kernel-6.1-x86_64"))
    assert one["Name"].endswith("kernel-6.1-x86_64")


def test_source_ami_most_recent_by_creation_date(aws):
    ec2 = aws.client("ec2")
    images = ec2.describe_images(**eb.ami_query(AL2023))["Images"]
    backend = aws.moto_backend()
    # moto dates every default AMI at server start; give them distinct dates, the newest in the middle.
    for days, image in zip((10, 30, 20), sorted(images, key=lambda i: i["ImageId"])):
        backend.amis[image["ImageId"]].creation_date = datetime.datetime(2026, 1, days, tzinfo=datetime.timezone.utc)
    newest = sorted(images, key=lambda i: i["ImageId"])[1]["ImageId"]
    assert eb.resolve_source_ami(ec2, source_ami_filter=dict(AL2023, most_recent=True))["ImageId"] == newest


def test_source_ami_raw_filters(aws):
    ec2 = aws.client("ec2")
    flt = {"owners": ["137112412989"], "filters": {"name": "al2023-ami-2023*-kernel-6.12-x86_64"}}
    assert eb.resolve_source_ami(ec2, source_ami_filter=flt)["Name"].endswith("kernel-6.12-x86_64")


AL2023_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"  # AWS's public one


def test_source_ami_from_a_systems_manager_parameter(aws):
    """resolve:ssm: as RunInstances takes it: AWS's public parameter (moto has them, with their AMIs), a parameter of
    the account's own (what publish_parameter writes), its version; the SSM client is made only when asked for."""
    ec2, ssm = aws.client("ec2"), aws.client("ssm")
    latest = ssm.get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]
    image = eb.resolve_source_ami(ec2, "resolve:ssm:" + AL2023_PARAMETER, ssm=lambda: ssm)
    assert image["ImageId"] == latest and image["Name"].startswith("al2023-ami-")
    first = source_ami(ec2)
    ssm.put_parameter(Name="/images/base/latest", Value=first, Type="String", DataType="aws:ec2:image")
    ssm.put_parameter(Name="/images/base/latest", Value=latest, Type="String", DataType="aws:ec2:image", Overwrite=True)
    assert eb.resolve_source_ami(ec2, "resolve:ssm:/images/base/latest", ssm=lambda: ssm)["ImageId"] == latest
    assert eb.resolve_source_ami(ec2, "resolve:ssm:/images/base/latest:1", ssm=lambda: ssm)["ImageId"] == first
    assert eb.resolve_source_ami(ec2, first, ssm=lambda: pytest.fail("no SSM client for an AMI id"))["ImageId"] == first


@pytest.mark.parametrize("name, value, said", [
    ("/images/none", None, "source_ami resolve:ssm:/images/none: no such parameter in us-east-1"),
    ("/images/base:7", "ami-0123456789abcdef0", "resolve:ssm:/images/base:7: no such parameter version or label"),
    ("/images/base", "hello", "resolve:ssm:/images/base: the parameter holds 'hello', not an AMI id"),
    ("/images/base", "ami-0123456789abcdef0",
     "source_ami resolve:ssm:/images/base (ami-0123456789abcdef0) does not exist or is not visible to this account"),
])
def test_a_parameter_without_an_ami_fails_before_anything_is_created(aws, builder, ssh_port, name, value, said):
    if value:
        aws.client("ssm").put_parameter(Name="/images/base", Value=value, Type="String")
    builder.ssm = lambda: aws.client("ssm")
    with pytest.raises(eb.Ec2BuilderError) as info:
        launch(builder, ssh_port, source_ami="resolve:ssm:" + name)
    assert said in str(info.value)
    assert counts(aws.client("ec2")) == {"instances": 0, "key_pairs": 0, "security_groups": 0}


def test_a_builder_from_a_parameters_ami(aws, builder, ssh_port):
    builder.ssm = lambda: aws.client("ssm")
    latest = aws.client("ssm").get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]
    _changed, facts = launch(builder, ssh_port, source_ami="resolve:ssm:" + AL2023_PARAMETER)
    assert facts["source_ami"]["image_id"] == latest
    (instance,) = [i for r in aws.client("ec2").describe_instances(InstanceIds=[facts["instance_id"]])["Reservations"]
                   for i in r["Instances"]]
    assert instance["ImageId"] == latest


# --- security group rules ---------------------------------------------------------------------

def test_allowed_sources():
    assert eb.allowed_sources(["203.0.113.7/32", "2001:db8::/64"]) == ["203.0.113.7/32", "2001:db8::/64"]
    assert eb.allowed_sources([], caller_ip="198.51.100.4") == ["198.51.100.4/32"]
    assert eb.allowed_sources(None, caller_ip="2001:db8::5") == ["2001:db8::5/128"]
    with pytest.raises(eb.Ec2BuilderError, match="allowed_cidrs"):
        eb.allowed_sources([], None)


def test_ingress_permissions_exactly_the_cidrs_and_port():
    rules = eb.ingress_permissions(2222, ["10.0.0.0/8", "2001:db8::/64"])
    assert len(rules) == 1
    rule = rules[0]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 2222, 2222)
    assert [r["CidrIp"] for r in rule["IpRanges"]] == ["10.0.0.0/8"]
    assert [r["CidrIpv6"] for r in rule["Ipv6Ranges"]] == ["2001:db8::/64"]
    assert "Ipv6Ranges" not in eb.ingress_permissions(22, ["0.0.0.0/0"])[0]


def test_a_root_volume_override_names_the_amis_own_snapshot():
    image = {"ImageId": "ami-1", "RootDeviceName": "/dev/xvda", "BlockDeviceMappings": [
        {"DeviceName": "/dev/sdb", "Ebs": {"SnapshotId": "snap-data", "DeleteOnTermination": True}},
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-root", "VolumeSize": 8, "DeleteOnTermination": True}}]}
    assert eb.block_devices(image, {"encrypted": True, "kms_key_id": "alias/images"}) == [{
        "DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": "alias/images", "DeleteOnTermination": True,
                                           "SnapshotId": "snap-root"}}]
    assert eb.block_devices(image, None) is None


def test_every_volume_of_the_builder_goes_with_it():
    # An AMI that keeps its volumes after termination (registered so, or made of an instance whose volumes were set
    # so): the builder's would outlive the build. The mapping says otherwise, with the AMI's own snapshot, size and type.
    image = {"ImageId": "ami-1", "RootDeviceName": "/dev/sda1", "BlockDeviceMappings": [
        {"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": "snap-root", "VolumeSize": 30, "VolumeType": "gp3",
                                            "DeleteOnTermination": False, "Encrypted": False}},
        {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
        {"DeviceName": "/dev/sdc", "Ebs": {"SnapshotId": "snap-data", "VolumeSize": 10}}]}
    assert eb.block_devices(image) == [
        {"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": "snap-root", "VolumeSize": 30, "VolumeType": "gp3",
                                            "DeleteOnTermination": True}},
        {"DeviceName": "/dev/sdc", "Ebs": {"SnapshotId": "snap-data", "VolumeSize": 10, "DeleteOnTermination": True}}]
    # extra volumes: after the root's override, each replacing the AMI's mapping of its device
    extra = [{"device_name": "/dev/sdc", "size": 20, "type": "gp3", "encrypted": True},
             {"device_name": "/dev/sdf", "size": 4, "encrypted": None, "kms_key_id": None, "type": None}]
    assert eb.block_devices(image, {"size": 40}, extra) == [
        {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 40, "DeleteOnTermination": True, "SnapshotId": "snap-root"}},
        {"DeviceName": "/dev/sdc", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3", "Encrypted": True,
                                           "DeleteOnTermination": True}},
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 4, "DeleteOnTermination": True}}]
    with pytest.raises(eb.Ec2BuilderError, match="/dev/sda1 is the root device of ami-1"):
        eb.block_devices(image, None, [{"device_name": "/dev/sda1", "size": 4}])


def test_volume_performance_is_asked_for_and_the_amis_own_kept():
    image = {"ImageId": "ami-1", "RootDeviceName": "/dev/xvda", "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-root", "VolumeSize": 8, "DeleteOnTermination": True}},
        {"DeviceName": "/dev/sdb", "Ebs": {"SnapshotId": "snap-db", "VolumeSize": 100, "VolumeType": "io2",
                                           "Iops": 8000, "DeleteOnTermination": False}}]}
    assert eb.block_devices(image, {"type": "gp3", "iops": 6000, "throughput": 500},
                            [{"device_name": "/dev/sdf", "size": 4, "type": "gp3", "throughput": 250}]) == [
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeType": "gp3", "Iops": 6000, "Throughput": 500,
                                            "DeleteOnTermination": True, "SnapshotId": "snap-root"}},
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 4, "VolumeType": "gp3", "Throughput": 250,
                                           "DeleteOnTermination": True}},
        # the AMI's volume it said to keep: named with its own IOPS, as AWS would have made it
        {"DeviceName": "/dev/sdb", "Ebs": {"SnapshotId": "snap-db", "VolumeSize": 100, "VolumeType": "io2",
                                           "Iops": 8000, "DeleteOnTermination": True}}]


def test_extra_volumes_are_attached_and_removed_with_the_builder(aws, builder, ssh_port):
    ec2 = aws.client("ec2")
    changed, facts = launch(builder, ssh_port, extra_volumes=[
        {"device_name": "/dev/sdf", "size": 4, "type": "gp3", "encrypted": True, "kms_key_id": "alias/images"}])
    instance = ec2.describe_instances(InstanceIds=[facts["instance_id"]])["Reservations"][0]["Instances"][0]
    attached = {m["DeviceName"]: m["Ebs"] for m in instance["BlockDeviceMappings"]}
    assert set(attached) == {instance["RootDeviceName"], "/dev/sdf"}  # moto's AMI keeps its root: overridden too
    assert all(ebs["DeleteOnTermination"] for ebs in attached.values())
    volume = ec2.describe_volumes(VolumeIds=[attached["/dev/sdf"]["VolumeId"]])["Volumes"][0]
    assert (volume["Size"], volume["VolumeType"], volume["Encrypted"]) == (4, "gp3", True)
    assert {"Key": "immutable.images.build-id", "Value": BUILD} in volume["Tags"]  # the janitor's to find
    builder.teardown([facts["instance_id"]], [facts["key_name"]], [facts["security_group_id"]])
    assert ec2.describe_volumes()["Volumes"] == []


def test_an_extra_volume_on_the_root_device_creates_nothing(aws, builder, ssh_port):
    ec2 = aws.client("ec2")
    root = ec2.describe_images(ImageIds=[source_ami(ec2)])["Images"][0]["RootDeviceName"]
    with pytest.raises(eb.Ec2BuilderError, match="is the root device of"):
        launch(builder, ssh_port, extra_volumes=[{"device_name": root, "size": 4}])
    assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 0}
    with pytest.raises(eb.Ec2BuilderError, match="is the root device of"):
        builder.plan(source_ami=source_ami(ec2), allowed_cidrs=["203.0.113.7/32"],
                     extra_volumes=[{"device_name": root, "size": 4}])


def test_existing_security_groups_instead_of_a_temporary_one(aws, builder, ssh_port):
    # Accounts whose builds may not create security groups: the instance gets the user's, which stay untouched.
    ec2 = aws.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    own = ec2.create_security_group(GroupName="build-ssh", Description="ours", VpcId=vpc)["GroupId"]
    changed, facts = launch(builder, ssh_port, allowed_cidrs=[], security_group_ids=[own])
    assert changed and facts["security_group_id"] is None
    instance = ec2.describe_instances(InstanceIds=[facts["instance_id"]])["Reservations"][0]["Instances"][0]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [own]
    assert counts(ec2)["security_groups"] == 1  # only the user's
    builder.teardown([facts["instance_id"]], [facts["key_name"]], [own])
    assert [g["GroupId"] for g in ec2.describe_security_groups(GroupNames=["build-ssh"])["SecurityGroups"]] == [own]
    # given allowed_cidrs too, the temporary group for them comes beside the user's
    changed, facts = launch(builder, ssh_port, security_group_ids=[own])
    instance = ec2.describe_instances(InstanceIds=[facts["instance_id"]])["Reservations"][0]["Instances"][0]
    assert sorted(g["GroupId"] for g in instance["SecurityGroups"]) == sorted([own, facts["security_group_id"]])
    builder.teardown([facts["instance_id"]], [facts["key_name"]], [facts["security_group_id"]])
    assert counts(ec2)["security_groups"] == 1


def test_a_public_address_in_a_subnet_that_assigns_none(aws, builder, ssh_port):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    # (moto places a subnet in a random zone, us-east-1e too, which offers no t3 type: the zone is named)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]  # assigns no public IP

    def public_ip(**kw):
        changed, facts = launch(builder, ssh_port, subnet_id=subnet, **kw)
        instance = ec2.describe_instances(InstanceIds=[facts["instance_id"]])["Reservations"][0]["Instances"][0]
        builder.teardown([facts["instance_id"]], [facts["key_name"]], [facts["security_group_id"]])
        assert instance["SubnetId"] == subnet and instance["VpcId"] == vpc
        # the interface's groups (moto lists an instance's groups only when the request named them itself)
        assert [g["GroupId"] for n in instance["NetworkInterfaces"] for g in n["Groups"]] == [facts["security_group_id"]]
        return instance.get("PublicIpAddress")
    assert public_ip() is None
    assert public_ip(associate_public_ip_address=True)
    assert counts(ec2)["security_groups"] == 0


def tagged_vpc(ec2):
    """A VPC with three subnets tagged for builds (/24, /26, /28), one untagged, and two groups, one tagged."""
    vpc = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    subnets = {}
    for cidr, purpose in (("10.43.1.0/24", "build"), ("10.43.2.0/26", "build"), ("10.43.3.0/28", "build"),
                          ("10.43.4.0/24", None)):
        tags = [{"ResourceType": "subnet", "Tags": [{"Key": "Purpose", "Value": purpose}]}] if purpose else []
        subnets[cidr] = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, TagSpecifications=tags,
                                          AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="build-ssh", Description="ours", VpcId=vpc, TagSpecifications=[
        {"ResourceType": "security-group", "Tags": [{"Key": "Purpose", "Value": "build"}]}])["GroupId"]
    ec2.create_security_group(GroupName="other", Description="not ours", VpcId=vpc)
    return vpc, subnets, group


def test_subnet_and_security_groups_found_by_filters(aws, builder, ssh_port):
    ec2 = aws.client("ec2")
    vpc, subnets, group = tagged_vpc(ec2)
    build = {"filters": {"tag:Purpose": "build"}}
    with pytest.raises(network.NetworkError, match="3 subnets match .*set most_free or random") as info:
        network.subnet_by_filter(ec2, build)
    assert all(subnets[c] in str(info.value) for c in ("10.43.1.0/24", "10.43.2.0/26", "10.43.3.0/28"))
    assert network.subnet_by_filter(ec2, dict(build, most_free=True)) == subnets["10.43.1.0/24"]
    with pytest.raises(network.NetworkError, match="most_free or random, not both"):
        network.subnet_by_filter(ec2, dict(build, random=True, most_free=True))
    assert network.subnet_by_filter(ec2, dict(build, random=True)) in [subnets[c] for c in subnets if c != "10.43.4.0/24"]
    assert network.subnet_by_filter(ec2, {"filters": {"tag:Purpose": "build", "cidr-block": ["10.43.3.0/28"]}}) == \
        subnets["10.43.3.0/28"]
    # the builder: the subnet with the most room, the tagged group of its VPC, no temporary group
    changed, facts = launch(builder, ssh_port, allowed_cidrs=[], subnet_filter=dict(build, most_free=True),
                            security_group_filter={"filters": {"tag:Purpose": "build"}})
    instance = ec2.describe_instances(InstanceIds=[facts["instance_id"]])["Reservations"][0]["Instances"][0]
    assert instance["SubnetId"] == subnets["10.43.1.0/24"] and facts["security_group_id"] is None
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group]
    builder.teardown([facts["instance_id"]], [facts["key_name"]], [])
    assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 2}  # the user's, untouched


def test_a_subnet_is_taken_only_in_a_zone_that_offers_the_instance_type(aws, builder, ssh_port):
    # us-east-1e offers no t3 type (moto has EC2's offerings): RunInstances there fails on AWS ("Unsupported"), after
    # the key pair and group were made. A subnet named there is refused first; a filter passes over it.
    ec2 = aws.client("ec2")
    by_zone = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]}
    assert "us-east-1e" not in network.zones_offering(ec2, "t3.micro")
    with pytest.raises(eb.Ec2BuilderError, match=r"subnet_id: %s is in us-east-1e, which does not offer the instance "
                       r"type t3.micro \(zones that offer t3.micro: us-east-1a, us-east-1b" % by_zone["us-east-1e"]):
        launch(builder, ssh_port, subnet_id=by_zone["us-east-1e"])
    with pytest.raises(eb.Ec2BuilderError, match="subnets that match .* are in zones that do not offer the instance type"):
        launch(builder, ssh_port, subnet_filter={"filters": {"subnet-id": by_zone["us-east-1e"]}})
    with pytest.raises(eb.Ec2BuilderError, match="is in us-east-1e"):  # check mode says so too
        builder.plan(source_ami=source_ami(ec2), allowed_cidrs=["203.0.113.7/32"], subnet_id=by_zone["us-east-1e"],
                     instance_type="t3.micro")
    assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 0}
    both = {"filters": {"subnet-id": [by_zone["us-east-1e"], by_zone["us-east-1a"]]}, "random": True}
    assert {network.subnet_by_filter(ec2, both, "t3.micro", network.zones_offering(ec2, "t3.micro"))
            for _ in range(20)} == {by_zone["us-east-1a"]}
    # an instance type that zone offers is taken there
    changed, facts = launch(builder, ssh_port, subnet_id=by_zone["us-east-1e"], instance_type="t2.micro")
    assert changed and facts["subnet_id"] == by_zone["us-east-1e"]
    builder.teardown([facts["instance_id"]], [facts["key_name"]], [facts["security_group_id"]])


def test_when_ec2_does_not_say_which_zones_offer_a_type_no_zone_is_ruled_out(aws):
    ec2 = aws.client("ec2")

    class Denied:
        def describe_instance_type_offerings(self, **kwargs):
            raise botocore.exceptions.ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}},
                                                  "DescribeInstanceTypeOfferings")

    assert network.zones_offering(Denied(), "t3.micro") is None
    zone_e = ec2.describe_subnets(Filters=[{"Name": "availability-zone", "Values": ["us-east-1e"]}])["Subnets"][0]
    network.check_subnet_zone(ec2, zone_e["SubnetId"], "t3.micro", None)  # nothing to check against
    assert network.zones_offering(ec2, "t3.nosuchsize") == set()


class NoCapacityIn:
    """The moto client, but RunInstances in the given subnets is refused as EC2 refuses it when a zone has no
    capacity for the type; the subnets asked for are recorded."""

    def __init__(self, ec2, subnets, code="InsufficientInstanceCapacity"):
        self._ec2, self.subnets, self.asked, self.code = ec2, set(subnets), [], code

    def __getattr__(self, name):
        return getattr(self._ec2, name)

    def run_instances(self, **kwargs):
        subnet = kwargs.get("SubnetId") or (kwargs.get("NetworkInterfaces") or [{}])[0].get("SubnetId")
        self.asked.append(subnet)
        if subnet in self.subnets:
            raise botocore.exceptions.ClientError({"Error": {
                "Code": self.code,
                "Message": "We currently do not have sufficient g5.xlarge capacity in the Availability Zone you "
                           "requested"}}, "RunInstances")
        return self._ec2.run_instances(**kwargs)


class NotYetKnown:
    """The moto client, but the first `times` calls of each of `calls` are refused as EC2 refuses a call that names a
    security group or key pair it does not know yet, right after they are made (eventual consistency)."""

    def __init__(self, ec2, calls, times=2, message="The security group or key pair does not exist"):
        self._ec2, self.refused = ec2, {name: 0 for name in calls}
        self.codes, self.times, self.message = calls, times, message
        self.tokens = []  # the ClientToken of each RunInstances

    def __getattr__(self, name):
        call = getattr(self._ec2, name)
        if name not in self.refused:
            return call

        def refusing(**kwargs):
            self.tokens += [kwargs["ClientToken"]] if "ClientToken" in kwargs else []
            if self.refused[name] < self.times:
                self.refused[name] += 1
                raise botocore.exceptions.ClientError({"Error": {"Code": self.codes[name], "Message": self.message}},
                                                      name)
            return call(**kwargs)
        return refusing


def zoned_subnets(ec2):
    """Subnets tagged for builds in three zones, most free addresses first (a, b, c), and one more in zone a."""
    vpc = ec2.create_vpc(CidrBlock="10.44.0.0/16")["Vpc"]["VpcId"]
    tags = [{"ResourceType": "subnet", "Tags": [{"Key": "Purpose", "Value": "gpu"}]}]
    return [ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone, TagSpecifications=tags)["Subnet"]["SubnetId"]
            for cidr, zone in (("10.44.1.0/24", "us-east-1a"), ("10.44.2.0/25", "us-east-1a"),
                               ("10.44.3.0/26", "us-east-1b"), ("10.44.4.0/28", "us-east-1c"))]


def test_no_capacity_in_one_zone_goes_on_in_another_subnet_the_filter_found(aws, tmp_path, ssh_port):
    ec2 = aws.client("ec2")
    a_big, a_small, b, c = zoned_subnets(ec2)
    refusing = NoCapacityIn(ec2, [a_big])
    builder = eb.Ec2Builder(refusing, BUILD, "webapp", "aws", key_dir=str(tmp_path / "keys"), waits=aws.waits)
    changed, facts = launch(builder, ssh_port, subnet_filter={"filters": {"tag:Purpose": "gpu"}, "most_free": True})
    # the most free first; not zone a again (no capacity there), the next zone's
    assert refusing.asked == [a_big, b] and facts["subnet_id"] == b
    assert builder.notes == ["no capacity for t3.micro in the zone of %s (An error occurred (InsufficientInstanceCapacity) "
                             "when calling the RunInstances operation: We currently do not have sufficient g5.xlarge "
                             "capacity in the Availability Zone you requested): tried %s" % (a_big, b)]
    assert counts(ec2) == {"instances": 1, "key_pairs": 1, "security_groups": 1}  # one of each, as without
    builder.teardown([facts["instance_id"]], [facts["key_name"]], [facts["security_group_id"]])

    # no zone has any: the last refusal is the launch's error, and nothing is left
    refusing = NoCapacityIn(ec2, [a_big, b, c])
    builder = eb.Ec2Builder(refusing, BUILD, "webapp", "aws", key_dir=str(tmp_path / "keys"), waits=aws.waits)
    with pytest.raises(eb.Ec2BuilderError, match="failed at run instance: .*InsufficientInstanceCapacity"):
        launch(builder, ssh_port, subnet_filter={"filters": {"tag:Purpose": "gpu"}, "most_free": True})
    assert refusing.asked == [a_big, b, c]
    # a subnet named by id has no other to go to; another refusal is not retried
    for subnet, code, filters in ((a_big, "InsufficientInstanceCapacity", None),
                                  (a_big, "InstanceLimitExceeded", {"filters": {"tag:Purpose": "gpu"}, "most_free": True})):
        refusing = NoCapacityIn(ec2, [subnet], code)
        builder = eb.Ec2Builder(refusing, BUILD, "webapp", "aws", key_dir=str(tmp_path / "keys"), waits=aws.waits)
        with pytest.raises(eb.Ec2BuilderError, match=code):
            launch(builder, ssh_port, **({"subnet_filter": filters} if filters else {"subnet_id": subnet}))
        assert refusing.asked == [a_big]
    assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 0}


def test_a_group_and_key_pair_ec2_does_not_know_yet_are_waited_for(aws, tmp_path, ssh_port):
    """Right after the launch makes its security group and key pair, EC2 may refuse the calls that name them with a
    NotFound for a moment: they are retried (before, the launch failed at "security group" and rolled back)."""
    ec2 = aws.client("ec2")
    unknown = NotYetKnown(ec2, {"authorize_security_group_ingress": "InvalidGroup.NotFound",
                                "run_instances": "InvalidKeyPair.NotFound"})
    builder = eb.Ec2Builder(unknown, BUILD, "webapp", "aws", key_dir=str(tmp_path / "keys"), waits=aws.waits)
    _, facts = launch(builder, ssh_port)
    assert unknown.refused == {"authorize_security_group_ingress": 2, "run_instances": 2}
    assert counts(ec2) == {"instances": 1, "key_pairs": 1, "security_groups": 1}  # one of each, as without
    group = ec2.describe_security_groups(GroupIds=[facts["security_group_id"]])["SecurityGroups"][0]
    assert [r["CidrIp"] for p in group["IpPermissions"] for r in p["IpRanges"]] == ["203.0.113.7/32"]
    builder.teardown([facts["instance_id"]], [facts["key_name"]], [facts["security_group_id"]])


def test_a_security_group_of_ones_own_that_ec2_does_not_know_is_not_waited_for(aws, tmp_path, ssh_port):
    """Only what this launch made is waited for: a group given in security_group_ids that EC2 does not know fails the
    launch at once, with nothing left."""
    ec2 = aws.client("ec2")
    own = ec2.create_security_group(GroupName="builders", Description="ssh")["GroupId"]
    unknown = NotYetKnown(ec2, {"run_instances": "InvalidGroup.NotFound"}, times=1)
    builder = eb.Ec2Builder(unknown, BUILD, "webapp", "aws", key_dir=str(tmp_path / "keys"), waits=aws.waits)
    with pytest.raises(eb.Ec2BuilderError, match="failed at run instance: .*InvalidGroup.NotFound"):
        launch(builder, ssh_port, security_group_ids=[own], allowed_cidrs=None, ssh_keypair_name=None)
    assert unknown.refused == {"run_instances": 1}
    assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 1}  # the group of one's own


def test_an_instance_type_that_cannot_run_the_ami_or_does_not_exist_creates_nothing(aws, builder, ssh_port):
    """An arm64 AMI on t3.micro, an x86_64 one on t4g.micro, a type the region does not have: refused before the key
    pair and group are made (RunInstances refused the first two after making them; moto takes them all)."""
    ec2 = aws.client("ec2")
    arm = eb.resolve_source_ami(ec2, source_ami_filter=dict(AL2023, architecture="arm64", most_recent=True))
    arm_on_t3 = "source AMI %s is arm64, which instance_type t3.micro cannot run (its processors: x86_64)" % arm["ImageId"]
    x86_on_t4g = ("is x86_64, which instance_type t4g.micro cannot run (its processors: arm64): choose an instance type "
                  "for x86_64, or an AMI for arm64")
    for kw, said in (({"source_ami": arm["ImageId"]}, arm_on_t3), ({"instance_type": "t4g.micro"}, x86_on_t4g),
                     ({"instance_type": "t3.nano-typo"}, "instance_type t3.nano-typo is not an instance type of this region")):
        with pytest.raises(eb.Ec2BuilderError, match=re.escape(said)):
            launch(builder, ssh_port, **kw)
        with pytest.raises(eb.Ec2BuilderError, match=re.escape(said)):  # check mode says so too
            builder.plan(**dict({"source_ami": source_ami(ec2), "allowed_cidrs": ["203.0.113.7/32"]}, **kw))
    assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 0}
    _, facts = launch(builder, ssh_port, source_ami=arm["ImageId"], instance_type="t4g.micro")  # a type for it
    builder.teardown([facts["instance_id"]], [facts["key_name"]], [facts["security_group_id"]])


def test_metadata_options_beside_imdsv2(aws, builder, ssh_port):
    assert eb.instance_metadata() == {"HttpTokens": "required", "HttpEndpoint": "enabled"}
    ec2 = aws.client("ec2")
    changed, facts = launch(builder, ssh_port, metadata_options={"http_put_response_hop_limit": 2,
                                                                 "instance_metadata_tags": True})
    metadata = ec2.describe_instances(InstanceIds=[facts["instance_id"]])["Reservations"][0]["Instances"][0]["MetadataOptions"]
    assert (metadata["HttpTokens"], metadata["HttpPutResponseHopLimit"], metadata["InstanceMetadataTags"]) == (
        "required", 2, "enabled")
    builder.teardown([facts["instance_id"]], [facts["key_name"]], [facts["security_group_id"]])


def test_filters_that_find_nothing_create_nothing(aws, builder, ssh_port):
    ec2 = aws.client("ec2")
    vpc, subnets, group = tagged_vpc(ec2)
    with pytest.raises(eb.Ec2BuilderError, match="subnet_filter: no available subnet matches"):
        launch(builder, ssh_port, subnet_filter={"filters": {"tag:Purpose": "nothing"}})
    with pytest.raises(eb.Ec2BuilderError, match="security_group_filter: no security group of %s matches" % vpc):
        launch(builder, ssh_port, subnet_filter={"filters": {"cidr-block": "10.43.4.0/24"}},
               security_group_filter={"filters": {"group-name": "nothing"}})
    # a group of another VPC is not the builder's (one of the default VPC, here); check mode says so too
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    ec2.create_security_group(GroupName="elsewhere", Description="another VPC's", VpcId=default_vpc, TagSpecifications=[
        {"ResourceType": "security-group", "Tags": [{"Key": "Purpose", "Value": "elsewhere"}]}])
    with pytest.raises(eb.Ec2BuilderError, match="no security group of %s matches" % vpc):
        builder.plan(source_ami=source_ami(ec2), subnet_filter={"filters": {"cidr-block": "10.43.4.0/24"}},
                     security_group_filter={"filters": {"tag:Purpose": "elsewhere"}})
    assert builder.plan(source_ami=source_ami(ec2), security_group_filter={"filters": {"tag:Purpose": "elsewhere"}},
                        allowed_cidrs=["203.0.113.7/32"])["security_group_ids"]  # in the default VPC, it is
    assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 3}


def test_an_encryption_only_override_launches(aws, builder, ssh_port):
    # No size: without the AMI's snapshot in the mapping, RunInstances refuses it (moto: MissingParameter)
    changed, facts = launch(builder, ssh_port, root_volume={"encrypted": True, "kms_key_id": "alias/images"})
    assert changed and facts["instance_id"]
    builder.teardown([facts["instance_id"]], [facts["key_name"]], [facts["security_group_id"]])


# --- launch and teardown ----------------------------------------------------------------------

def test_launch_and_teardown(aws, builder, ssh_port, tmp_path):
    ec2 = aws.client("ec2")
    changed, facts = launch(builder, ssh_port, root_volume={"size": 20, "type": "gp3", "encrypted": True},
                            user_data="#!/bin/sh\ntrue\n")
    assert changed is True
    name = naming.builder_name("webapp", "aws", BUILD)
    assert facts["name"] == name and facts["key_name"] == name and facts["key_pair_temporary"] is True
    assert (facts["ssh_host"], facts["ssh_port"]) == ("127.0.0.1", ssh_port)
    assert "KeyMaterial" not in str(facts) and "PRIVATE KEY" not in str(facts)

    # Private key: 0600 in a 0700 directory, usable by OpenSSH (trailing newline).
    key_file = facts["private_key_file"]
    assert key_file == str(tmp_path / "keys" / (name + ".pem"))
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "keys").st_mode) == 0o700
    with open(key_file) as f:
        text = f.read()
    assert text.startswith("-----BEGIN OPENSSH PRIVATE KEY-----") and text.endswith("\n")

    # Security group: exactly one rule, the SSH port from the allowed CIDR only.
    group = ec2.describe_security_groups(GroupIds=[facts["security_group_id"]])["SecurityGroups"][0]
    assert group["VpcId"] == facts["vpc_id"]
    assert [(p["IpProtocol"], p["FromPort"], p["ToPort"], [r["CidrIp"] for r in p["IpRanges"]])
            for p in group["IpPermissions"]] == [("tcp", ssh_port, ssh_port, ["203.0.113.7/32"])]

    instance = ec2.describe_instances(InstanceIds=[facts["instance_id"]])["Reservations"][0]["Instances"][0]
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["Name"] == name and tags["team"] == "web"
    assert tags[naming.LABEL_KIND] == "builder" and tags[naming.LABEL_BUILD_ID] == BUILD
    assert tags[naming.LABEL_BUILD_HASH] == "abc123" and tags[naming.LABEL_IMAGE_VERSION] == "1.4.2"
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["KeyName"] == name
    behaviour = ec2.describe_instance_attribute(InstanceId=facts["instance_id"], Attribute="instanceInitiatedShutdownBehavior")
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [facts["instance_id"]]}])["Volumes"]
    assert [(v["Size"], v["VolumeType"], v["Encrypted"]) for v in volumes] == [(20, "gp3", True)]
    assert {t["Key"]: t["Value"] for t in volumes[0]["Tags"]}[naming.LABEL_BUILD_ID] == BUILD
    for kind in ("key_pairs", "security_groups"):
        described = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"] if kind == "key_pairs" else [group]
        assert {t["Key"]: t["Value"] for t in described[0]["Tags"]}[naming.LABEL_KIND] == "builder"

    # A re-run finds the running builder instead of launching another.
    changed, again = launch(builder, ssh_port)
    assert changed is False and again["instance_id"] == facts["instance_id"]
    assert again["security_group_id"] == facts["security_group_id"] and again["private_key_file"] == key_file

    done = builder.teardown([facts["instance_id"]], [facts["key_name"]], [facts["security_group_id"]])
    assert done["instances"] == [facts["instance_id"]] and done["key_pairs"] == [name]
    assert done["security_groups"] == [facts["security_group_id"]] and done["skipped"] == []
    assert done["files"] == [key_file, str(tmp_path / "keys")]
    assert not os.path.exists(tmp_path / "keys")
    assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 0}
    # Idempotent: a second teardown (e.g. from an always: block) finds nothing and fails on nothing.
    assert builder.teardown([facts["instance_id"]], [facts["key_name"]], [facts["security_group_id"]]) == {
        "instances": [], "key_pairs": [], "security_groups": [], "files": [], "skipped": []}


def test_teardown_by_tags_only(aws, builder, ssh_port):
    _, facts = launch(builder, ssh_port)
    done = builder.teardown()  # the run that launched it lost its bookkeeping
    assert done["instances"] == [facts["instance_id"]] and done["security_groups"] == [facts["security_group_id"]]
    assert counts(aws.client("ec2")) == {"instances": 0, "key_pairs": 0, "security_groups": 0}


def test_own_key_pair_is_used_and_never_deleted(aws, builder, ssh_port, tmp_path):
    ec2 = aws.client("ec2")
    ec2.create_key_pair(KeyName="mine", KeyType="ed25519")
    own_key = tmp_path / "mine.pem"
    own_key.write_text("not really a key\n")
    _, facts = launch(builder, ssh_port, ssh_keypair_name="mine", ssh_private_key_file=str(own_key))
    assert (facts["key_name"], facts["key_pair_temporary"], facts["private_key_file"]) == ("mine", False, str(own_key))
    assert not os.path.exists(tmp_path / "keys" / (builder.name + ".pem"))
    done = builder.teardown([facts["instance_id"]], ["mine"], [facts["security_group_id"]])
    assert done["skipped"] == ["mine"] and done["key_pairs"] == []
    assert ec2.describe_key_pairs(KeyNames=["mine"])["KeyPairs"] and own_key.exists()


def test_caller_ip_when_no_cidrs(aws, builder, ssh_port):
    _, facts = launch(builder, ssh_port, allowed_cidrs=[], caller_ip="198.51.100.4")
    group = aws.client("ec2").describe_security_groups(GroupIds=[facts["security_group_id"]])["SecurityGroups"][0]
    assert [r["CidrIp"] for r in group["IpPermissions"][0]["IpRanges"]] == ["198.51.100.4/32"]


def test_no_cidrs_fails_before_creating_anything(aws, builder, ssh_port):
    with pytest.raises(eb.Ec2BuilderError, match="set allowed_cidrs"):
        launch(builder, ssh_port, allowed_cidrs=[])
    assert counts(aws.client("ec2")) == {"instances": 0, "key_pairs": 0, "security_groups": 0}


def test_spot_and_instance_profile(aws, builder, ssh_port):
    aws.client("iam").create_instance_profile(InstanceProfileName="builder-profile")
    _, facts = launch(builder, ssh_port, spot=True, iam_instance_profile="builder-profile")
    assert facts["spot"] is True
    instance = aws.client("ec2").describe_instances(InstanceIds=[facts["instance_id"]])["Reservations"][0]["Instances"][0]
    assert instance["IamInstanceProfile"]["Arn"].endswith("instance-profile/builder-profile")


PROFILE_NOT_YET_IN_EC2 = ("Value (builder-profile) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance "
                          "Profile name")


def test_an_instance_profile_iam_does_not_have_is_refused_before_anything_is_created(aws, tmp_path, ssh_port):
    """By name or ARN, in a launch and in check mode's plan (before, RunInstances refused it after the key pair and
    group were made)."""
    ec2 = aws.client("ec2")
    builder = eb.Ec2Builder(ec2, BUILD, "webapp", "aws", key_dir=str(tmp_path / "keys"), waits=aws.waits,
                            iam=lambda: aws.client("iam"))
    for profile in ("no-such-profile", "arn:aws:iam::123456789012:instance-profile/ci/no-such-profile"):
        said = "iam_instance_profile %s: IAM has no instance profile of that name in this account" % profile
        with pytest.raises(eb.Ec2BuilderError, match=re.escape(said)):
            launch(builder, ssh_port, iam_instance_profile=profile)
        with pytest.raises(eb.Ec2BuilderError, match=re.escape(said)):
            builder.plan(source_ami=source_ami(ec2), allowed_cidrs=["203.0.113.7/32"], iam_instance_profile=profile)
    assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 0}
    assert not os.path.exists(tmp_path / "keys")


class IamDenied:
    def get_instance_profile(self, **kwargs):
        raise botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: "
                                                         "iam:GetInstanceProfile"}}, "GetInstanceProfile")


def test_an_instance_profile_ec2_does_not_know_yet_is_waited_for(aws, tmp_path, ssh_port, monkeypatch):
    """IAM has the profile, RunInstances refuses it twice as EC2 refuses one IAM made moments ago: the launch tries
    again (each try with its own ClientToken: a refused request made nothing) and the builder has the profile. Also
    when IAM may not be asked."""
    monkeypatch.setattr(eb.instance_profile, "NOT_YET_IN_EC2_DELAYS", (0.01,) * 8)
    ec2 = aws.client("ec2")
    aws.client("iam").create_instance_profile(InstanceProfileName="builder-profile")
    for iam in (lambda: aws.client("iam"), IamDenied):
        unknown = NotYetKnown(ec2, {"run_instances": "InvalidParameterValue"}, message=PROFILE_NOT_YET_IN_EC2)
        builder = eb.Ec2Builder(unknown, BUILD, "webapp", "aws", key_dir=str(tmp_path / "keys"), waits=aws.waits,
                                iam=iam)
        _, facts = launch(builder, ssh_port, iam_instance_profile="builder-profile")
        assert unknown.refused == {"run_instances": 2} and len(set(unknown.tokens)) == 3
        instance = ec2.describe_instances(InstanceIds=[facts["instance_id"]])["Reservations"][0]["Instances"][0]
        assert instance["IamInstanceProfile"]["Arn"].endswith("instance-profile/builder-profile")
        assert counts(ec2) == {"instances": 1, "key_pairs": 1, "security_groups": 1}
        builder.teardown([facts["instance_id"]], [facts["key_name"]], [facts["security_group_id"]])


def test_an_instance_profile_ec2_never_knows_fails_saying_so_and_leaves_nothing(aws, tmp_path, ssh_port, monkeypatch):
    """Refused on every try: the launch fails after the delays, saying how long it waited, and removes what it made.
    Another InvalidParameterValue is not tried again."""
    monkeypatch.setattr(eb.instance_profile, "NOT_YET_IN_EC2_DELAYS", (0.01,) * 3)
    ec2 = aws.client("ec2")
    for message, tries, said in (
            (PROFILE_NOT_YET_IN_EC2, 4, "EC2 did not know the instance profile builder-profile after 0 s"),
            ("Value (8) for parameter cpuOptions is invalid", 1, "failed at run instance: .*cpuOptions is invalid")):
        unknown = NotYetKnown(ec2, {"run_instances": "InvalidParameterValue"}, times=10, message=message)
        builder = eb.Ec2Builder(unknown, BUILD, "webapp", "aws", key_dir=str(tmp_path / "keys"), waits=aws.waits)
        with pytest.raises(eb.Ec2BuilderError, match=said):
            launch(builder, ssh_port, iam_instance_profile="builder-profile")
        assert unknown.refused == {"run_instances": tries}
        assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 0}


def test_failed_run_instances_removes_key_pair_and_group(aws, builder, ssh_port, tmp_path):
    with pytest.raises(eb.Ec2BuilderError, match="failed at run instance"):
        launch(builder, ssh_port, iam_instance_profile="no-such-profile")
    assert counts(aws.client("ec2")) == {"instances": 0, "key_pairs": 0, "security_groups": 0}
    assert not os.path.exists(tmp_path / "keys")


def test_bogus_subnet_creates_nothing(aws, builder, ssh_port):
    with pytest.raises(Exception, match="InvalidSubnetID.NotFound"):
        launch(builder, ssh_port, subnet_id="subnet-0bogus000000000")
    assert counts(aws.client("ec2")) == {"instances": 0, "key_pairs": 0, "security_groups": 0}


def test_ssh_timeout_terminates_the_instance(aws, builder):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    with pytest.raises(eb.Ec2BuilderError, match="failed at wait for SSH"):
        launch(builder, port, ssh_timeout=0.3)
    ec2 = aws.client("ec2")
    assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 0}
    assert builder.teardown() == {"instances": [], "key_pairs": [], "security_groups": [], "files": [], "skipped": []}


def shutting_down_for(client, polls):
    """The client reports a terminated instance `shutting-down` to its first `polls` DescribeInstances calls after a
    TerminateInstances (AWS takes a minute; moto none)."""
    seen = {"terminated": False, "polls": 0}

    def terminated(**_):
        seen["terminated"] = True

    def describe(parsed, **_):
        if seen["terminated"] and seen["polls"] < polls:
            seen["polls"] += 1
            for instance in (i for r in parsed.get("Reservations") or [] for i in r["Instances"]):
                if instance["State"]["Name"] == "terminated":
                    instance["State"] = {"Code": 32, "Name": "shutting-down"}

    client.meta.events.register("after-call.ec2.TerminateInstances", terminated)
    client.meta.events.register("after-call.ec2.DescribeInstances", describe)
    return seen


def test_a_removal_waits_as_long_as_aws_takes_whatever_the_launchs_polling(aws, tmp_path):
    """aws_polling sets how long the launch waits; the rollback of a failed launch and a teardown wait as long as the
    termination takes: a group deleted before its instance is gone is refused, and would be left behind."""
    ec2 = aws.client("ec2")
    seen = shutting_down_for(ec2, polls=3)
    builder = eb.Ec2Builder(ec2, BUILD, "webapp", "aws", key_dir=str(tmp_path / "keys"),
                            waits=aws_client.Waits(0, 1), removal_waits=aws_client.Waits(0, 10))
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: the launch fails and rolls back
    with pytest.raises(eb.Ec2BuilderError, match="failed at wait for SSH") as info:
        launch(builder, port, ssh_timeout=0.3)
    assert "could not" not in str(info.value) and seen["polls"] == 3, info.value
    assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 0}


def test_subnet_decides_the_vpc(aws, builder, ssh_port):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", AvailabilityZone="us-east-1c")["Subnet"]["SubnetId"]
    _, facts = launch(builder, ssh_port, subnet_id=subnet, ssh_interface="private_ip")
    assert (facts["vpc_id"], facts["subnet_id"]) == (vpc, subnet)
    group = ec2.describe_security_groups(GroupIds=[facts["security_group_id"]])["SecurityGroups"][0]
    assert group["VpcId"] == vpc


def test_ssh_address_from_interface():
    instance = {"InstanceId": "i-1", "PublicIpAddress": "54.1.2.3", "PrivateIpAddress": "10.0.0.5",
                "PublicDnsName": "", "PrivateDnsName": "ip-10-0-0-5.ec2.internal"}
    assert eb.ssh_address(instance, "public_ip") == "54.1.2.3"
    assert eb.ssh_address(instance, "private_dns") == "ip-10-0-0-5.ec2.internal"
    with pytest.raises(eb.Ec2BuilderError, match="no public_dns"):
        eb.ssh_address(instance, "public_dns")


def test_plan_creates_nothing(aws, builder):
    ec2 = aws.client("ec2")
    plan = builder.plan(source_ami_filter=dict(AL2023, most_recent=True), allowed_cidrs=["203.0.113.7/32"],
                        instance_type="t3.small", ssh_port=22)
    assert plan["source_ami"]["image_id"].startswith("ami-") and plan["existing_instance_id"] is None
    assert plan["would_create"]["security_group"] == {"name": builder.name, "port": 22, "cidrs": ["203.0.113.7/32"]}
    assert plan["would_create"]["key_pair"] == builder.name
    assert counts(ec2) == {"instances": 0, "key_pairs": 0, "security_groups": 0}
    assert not os.path.exists(builder.key_dir)


def test_loose_key_directory_is_refused(aws, builder, ssh_port):
    os.makedirs(builder.key_dir, mode=0o755)
    os.chmod(builder.key_dir, 0o755)
    with pytest.raises(eb.Ec2BuilderError, match="accessible to other users"):
        launch(builder, ssh_port)
    assert counts(aws.client("ec2")) == {"instances": 0, "key_pairs": 0, "security_groups": 0}


def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there: connections are refused
    return port


def test_a_port_refused_again_and_again_fails_long_before_ssh_timeout(aws, builder, monkeypatch):
    monkeypatch.setattr(eb, "SSH_REFUSED_GIVE_UP", 0.5)
    started = time.monotonic()
    with pytest.raises(eb.Ec2BuilderError, match=r"failed at wait for SSH: 127\.0\.0\.1:\d+ refused every connection"
                                                 r" for \d+s: the host answers but nothing listens"):
        launch(builder, closed_port(), ssh_timeout=300)
    assert time.monotonic() - started < 30
    assert counts(aws.client("ec2")) == {"instances": 0, "key_pairs": 0, "security_groups": 0}


def test_an_instance_that_stopped_running_is_not_waited_for(aws, builder, ssh_port):
    _, facts = launch(builder, ssh_port)
    aws.client("ec2").terminate_instances(InstanceIds=[facts["instance_id"]])
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="can never answer: instance %s is (shutting-down|terminated)" % facts["instance_id"]):
        builder._wait_for_ssh(facts["instance_id"], "127.0.0.1", closed_port(), 300)
    assert time.monotonic() - started < 5
    builder.teardown()
