# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reused AMIs brought in line with the definition, against a moto server: sharing, SSM parameter, deprecation."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.immutable.images.plugins.module_utils._ec2 import ami as ec2_ami
from ansible_collections.immutable.images.plugins.module_utils._ec2.ami_reuse import ReusedAmis

pytest.importorskip("botocore")

UTC = datetime.timezone.utc
ACCOUNT, OTHER = "111122223333", "444455556666"
PARAM = "/images/webapp/latest"


@pytest.fixture
def built(aws):
    """The AMIs of an earlier build, in us-east-1 and a copy in eu-west-1, shared with nobody."""
    ec2 = aws.client("ec2")
    image_id = ec2.describe_images(Owners=["137112412989"], Filters=[
        {"Name": "name", "Values": ["al2023-ami-2023*-kernel-6.1-x86_64"]}])["Images"][0]["ImageId"]
    instance_id = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tags = ec2_ami.artifact_tags("20261123T2135Z-7f3a", "webapp", "aws", "webapp-1.4.2")
    made = ec2_ami.AmiCreator(aws.factory, "us-east-1", waits=aws.waits).create(
        instance_id, "webapp-1.4.2", tags=tags, copy_to_regions=["eu-west-1"])
    return made["images"]


def reused(aws):
    return ReusedAmis(aws.factory, "us-east-1", waits=aws.waits)


def permissions(aws, region, image_id):
    return aws.client("ec2", region).describe_image_attribute(
        ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]


def test_missing_launch_permissions_are_granted_once(aws, built):
    first = reused(aws).update(built, share_with_accounts=[ACCOUNT])
    assert first["changed"] is True and first["shared_with"] == [{"UserId": ACCOUNT}]
    for region, image_id in built.items():
        assert permissions(aws, region, image_id) == [{"UserId": ACCOUNT}]

    again = reused(aws).update(built, share_with_accounts=[ACCOUNT])
    assert again["changed"] is False and again["shared_with"] == []


def volume_permissions(aws, region, image_id):
    """{snapshot id: the accounts that may create volumes from it} of the AMI's snapshots."""
    ec2 = aws.client("ec2", region)
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    snapshots = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if m.get("Ebs", {}).get("SnapshotId")]
    assert snapshots
    return {s: [p["UserId"] for p in ec2.describe_snapshot_attribute(
        SnapshotId=s, Attribute="createVolumePermission")["CreateVolumePermissions"]] for s in snapshots}


def test_snapshots_are_shared_once_when_asked(aws, built):
    assert reused(aws).update(built, share_with_accounts=[ACCOUNT])["snapshots_shared_with"] == []
    first = reused(aws).update(built, share_with_accounts=[ACCOUNT], share_snapshots=True)
    assert first["changed"] is True and first["snapshots_shared_with"] == [ACCOUNT]
    for region, image_id in built.items():
        assert set(map(tuple, volume_permissions(aws, region, image_id).values())) == {(ACCOUNT,)}
    again = reused(aws).update(built, share_with_accounts=[ACCOUNT], share_snapshots=True)
    assert again["changed"] is False and again["snapshots_shared_with"] == []


def test_permissions_beyond_the_definition_are_left_alone(aws, built):
    ec2 = aws.client("ec2")
    ec2.modify_image_attribute(ImageId=built["us-east-1"], LaunchPermission={"Add": [{"UserId": OTHER}]})
    result = reused(aws).update(built, share_with_accounts=[ACCOUNT])
    assert result["changed"] is True
    assert sorted(p["UserId"] for p in permissions(aws, "us-east-1", built["us-east-1"])) == [ACCOUNT, OTHER]
    assert permissions(aws, "eu-west-1", built["eu-west-1"]) == [{"UserId": ACCOUNT}]


def test_check_mode_reports_and_changes_nothing(aws, built):
    result = reused(aws).update(built, share_with_accounts=[ACCOUNT], publish_parameter=PARAM, check_mode=True)
    assert result["changed"] is True and result["shared_with"] == [{"UserId": ACCOUNT}]
    assert result["parameter"] == {"name": PARAM, "version": None, "region": "us-east-1"}
    for region, image_id in built.items():
        assert permissions(aws, region, image_id) == []
    with pytest.raises(aws.client("ssm").exceptions.ParameterNotFound):
        aws.client("ssm").get_parameter(Name=PARAM)


def test_parameter_is_pointed_at_the_build_region_ami(aws, built):
    ssm = aws.client("ssm")
    ssm.put_parameter(Name=PARAM, Value="ami-0123456789abcdef0", Type="String", DataType="text")
    result = reused(aws).update(built, name="webapp-1.4.2", publish_parameter=PARAM)
    assert result["changed"] is True
    assert ssm.get_parameter(Name=PARAM)["Parameter"]["Value"] == built["us-east-1"]
    assert result["parameter"] == {"name": PARAM, "version": 2, "region": "us-east-1"}

    again = reused(aws).update(built, publish_parameter=PARAM)
    assert again["changed"] is False and again["parameter"]["version"] == 2


def test_deprecation_on_an_endpoint_without_it_is_a_warning(aws, built):
    amis = reused(aws)
    result = amis.update(built, deprecate_after="90d")
    assert result["changed"] is False and result["deprecation_time"] is None
    assert "EnableImageDeprecation" in result["warnings"][0]


@pytest.mark.parametrize("value, created, expected", [
    ("14d", "2026-11-20T10:00:00.000Z", datetime.datetime(2026, 12, 4, 10, tzinfo=UTC)),
    ("90d", "2020-01-01T00:00:00.000Z", None),
    ("2027-06-30", "2020-01-01T00:00:00.000Z", datetime.datetime(2027, 6, 30, tzinfo=UTC)),
])
def test_a_duration_counts_from_the_ami_creation(value, created, expected):
    now = datetime.datetime(2026, 11, 26, 9, tzinfo=UTC)
    assert ReusedAmis._deprecation_of({"CreationDate": created}, value, now) == expected
