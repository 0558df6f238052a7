# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AMI creation against a moto server: tags, snapshots, copies, sharing, SSM, rollback, force_deregister."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.immutable.images.plugins.module_utils._ec2 import ami as ec2_ami
from ansible_collections.immutable.images.plugins.module_utils._ec2 import client as aws_client
from ansible_collections.immutable.images.plugins.module_utils._ec2 import resources as res
from ansible_collections.immutable.images.plugins.module_utils._common import naming

botocore_exceptions = pytest.importorskip("botocore.exceptions")

BUILD = "20261123T2135Z-7f3a"
AL2023_ID = {}
UTC = datetime.timezone.utc


def al2023(ec2):
    if "id" not in AL2023_ID:  # ids are stable across resets; the owner scan is slow
        AL2023_ID["id"] = ec2.describe_images(Owners=["137112412989"], Filters=[
            {"Name": "name", "Values": ["al2023-ami-2023*-kernel-6.1-x86_64"]}])["Images"][0]["ImageId"]
    return AL2023_ID["id"]


def run_instance(ec2, **kw):
    return ec2.run_instances(ImageId=al2023(ec2), MinCount=1, MaxCount=1, **kw)["Instances"][0]["InstanceId"]


def creator(aws, client_for=None, region="us-east-1"):
    return ec2_ami.AmiCreator(client_for or aws.factory, region, waits=aws.waits)


TAGS = ec2_ami.artifact_tags(BUILD, "webapp", "aws", "webapp-1.4.2", version="1.4.2", extra={"team": "web"})


def tags_of(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def image(ec2, image_id):
    found = ec2.describe_images(ImageIds=[image_id])["Images"]
    return found[0] if found else None


def failing_in(aws, region, operation, code="UnauthorizedOperation"):
    """A client factory whose client for `region` fails `operation` (botocore before-call hook)."""
    def fail(**_):
        raise botocore_exceptions.ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)

    def factory(service, reg):
        client = aws.factory(service, reg)
        if reg == region:
            client.meta.events.register("before-call.%s.%s" % (service, operation), fail)
        return client
    return factory


# --- pure helpers -----------------------------------------------------------------------------

def test_parse_deprecate_after():
    now = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert ec2_ami.parse_deprecate_after("90d", now) == now + datetime.timedelta(days=90)
    assert ec2_ami.parse_deprecate_after("12h", now) == now + datetime.timedelta(hours=12)
    assert ec2_ami.parse_deprecate_after("2w", now) == now + datetime.timedelta(weeks=2)
    assert ec2_ami.parse_deprecate_after("30", now) == now + datetime.timedelta(days=30)
    assert ec2_ami.parse_deprecate_after("2027-06-30", now) == datetime.datetime(2027, 6, 30, tzinfo=UTC)
    assert ec2_ami.parse_deprecate_after("2027-06-30T10:00:00Z", now) == datetime.datetime(2027, 6, 30, 10, tzinfo=UTC)
    assert ec2_ami.parse_deprecate_after(datetime.date(2027, 1, 1), now).year == 2027
    for bad in ("soon", "2020-01-01", "5y"):
        with pytest.raises(ValueError):
            ec2_ami.parse_deprecate_after(bad, now)


def test_artifact_tags_and_permissions():
    assert TAGS["Name"] == "webapp-1.4.2" and TAGS["team"] == "web"
    assert TAGS[naming.LABEL_KIND] == naming.KIND_ARTIFACT and TAGS[naming.LABEL_BUILD_ID] == BUILD
    assert ec2_ami.launch_permissions(["111122223333"], ["arn:aws:organizations::1:organization/o-1"], ["arn:ou"]) == [
        {"UserId": "111122223333"}, {"OrganizationArn": "arn:aws:organizations::1:organization/o-1"},
        {"OrganizationalUnitArn": "arn:ou"}]


# --- create -----------------------------------------------------------------------------------

def test_create_copy_share_publish(aws):
    ec2, ec2_eu = aws.client("ec2"), aws.client("ec2", "eu-west-1")
    instance_id = run_instance(ec2)
    maker = creator(aws)
    result = maker.create(instance_id, "webapp-1.4.2", description="webapp 1.4.2", tags=TAGS,
                          copy_to_regions=["eu-west-1", "us-east-1"], share_with_accounts=["111122223333"],
                          deprecate_after="90d", publish_parameter="/images/webapp/latest")
    assert set(result["images"]) == {"us-east-1", "eu-west-1"} and result["image_id"] == result["images"]["us-east-1"]
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "stopped"

    for region, client in (("us-east-1", ec2), ("eu-west-1", ec2_eu)):
        img = image(client, result["images"][region])
        assert img["Name"] == "webapp-1.4.2" and img["Description"] == "webapp 1.4.2"
        # each AMI, the copy too, carries its own id: what a copy made outside the build cannot have
        own = dict(TAGS, **{naming.LABEL_AMI_ID: img["ImageId"]})
        assert tags_of(img) == own and naming.is_our_ami(img)
        snaps = result["snapshots"][region]
        assert snaps == res.image_snapshot_ids(img) and snaps
        for snap in client.describe_snapshots(SnapshotIds=snaps)["Snapshots"]:
            assert tags_of(snap) == own
        perms = client.describe_image_attribute(ImageId=img["ImageId"], Attribute="launchPermission")
        assert perms["LaunchPermissions"] == [{"UserId": "111122223333"}]

    param = aws.client("ssm").get_parameter(Name="/images/webapp/latest")["Parameter"]
    assert param["Value"] == result["images"]["us-east-1"] and param["DataType"] == "aws:ec2:image"
    assert result["parameter"] == {"name": "/images/webapp/latest", "version": 1, "region": "us-east-1"}
    # moto does not implement EnableImageDeprecation: warned, not failed.
    assert result["deprecation_time"] is None and "EnableImageDeprecation" in maker.warnings[0]
    assert result["warnings"] == maker.warnings


def test_each_copy_is_encrypted_with_the_key_of_its_region(aws):
    copies = []

    def factory(service, region):  # records what each CopyImage request carries (moto keeps no key)
        client = aws.factory(service, region)
        client.meta.events.register("before-parameter-build.ec2.CopyImage",
                                    lambda params, **_: copies.append((region, params.get("Encrypted"),
                                                                       params.get("KmsKeyId"))))
        return client
    key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    result = creator(aws, factory).create(
        run_instance(aws.client("ec2")), "webapp-1.4.2", tags=TAGS,
        copy_to_regions=["eu-west-1", "eu-central-1", "ap-south-1"],
        region_kms_key_ids={"eu-west-1": key, "eu-central-1": ""})
    assert set(result["images"]) == {"us-east-1", "eu-west-1", "eu-central-1", "ap-south-1"}
    # "": the region's default EBS key; no entry: as the source (CopyImage's own default)
    assert sorted(copies) == [("ap-south-1", None, None), ("eu-central-1", True, None), ("eu-west-1", True, key)]


def test_imds_support_on_the_ami_and_every_copy(aws):
    asked = []

    def factory(service, region):  # moto takes the attribute without keeping it: what the requests carried
        client = aws.factory(service, region)
        client.meta.events.register("before-parameter-build.ec2.ModifyImageAttribute",
                                    lambda params, **_: asked.append((region, params["ImageId"], params.get("ImdsSupport"))))
        return client
    result = creator(aws, factory).create(run_instance(aws.client("ec2")), "webapp-1.4.2", tags=TAGS,
                                          copy_to_regions=["eu-west-1"], imds_support="v2.0")
    assert sorted(asked) == sorted((region, image, {"Value": "v2.0"}) for region, image in result["images"].items())
    assert result["imds_support"] == "v2.0" and len(result["images"]) == 2
    asked.clear()
    creator(aws, factory).create(run_instance(aws.client("ec2")), "webapp-1.4.3", tags=TAGS)
    assert asked == []  # unset: the source's (AWS's legacy default)


def test_snapshots_shared_with_the_accounts_when_asked(aws):
    result = creator(aws).create(run_instance(aws.client("ec2")), "webapp-1.4.2", tags=TAGS,
                                 copy_to_regions=["eu-west-1"], share_with_accounts=["111122223333"],
                                 share_with_organizations=["arn:aws:organizations::111122223333:organization/o-abc"],
                                 share_snapshots=True)
    assert result["snapshots_shared_with"] == ["111122223333"]
    for region, snapshots in result["snapshots"].items():
        for snapshot in snapshots:  # accounts only: AWS has no organization permission on snapshots
            perms = aws.client("ec2", region).describe_snapshot_attribute(
                SnapshotId=snapshot, Attribute="createVolumePermission")["CreateVolumePermissions"]
            assert perms == [{"UserId": "111122223333"}], (region, perms)


def test_existing_name_fails_before_anything(aws):
    ec2 = aws.client("ec2")
    instance_id = run_instance(ec2)
    old = ec2.create_image(InstanceId=instance_id, Name="webapp-1.4.2")["ImageId"]
    with pytest.raises(ec2_ami.AmiError, match="prevalidate: .*exists already.*force_deregister") as info:
        creator(aws).create(instance_id, "webapp-1.4.2", tags=TAGS)
    assert info.value.stage == "prevalidate" and old in str(info.value)
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"


def test_force_deregister_in_every_region(aws):
    ec2, ec2_eu = aws.client("ec2"), aws.client("ec2", "eu-west-1")
    instance_id = run_instance(ec2)
    old = ec2.create_image(InstanceId=instance_id, Name="webapp-1.4.2")["ImageId"]
    old_snaps = res.image_snapshot_ids(image(ec2, old))
    old_eu = ec2_eu.copy_image(SourceRegion="us-east-1", SourceImageId=old, Name="webapp-1.4.2")["ImageId"]
    result = creator(aws).create(instance_id, "webapp-1.4.2", tags=TAGS, copy_to_regions=["eu-west-1"],
                                 force_deregister=True)
    assert [(d["region"], d["image_id"]) for d in result["deregistered"]] == [("us-east-1", old), ("eu-west-1", old_eu)]
    assert result["deregistered"][0]["snapshots"] == old_snaps
    assert image(ec2, old) is None and image(ec2_eu, old_eu) is None
    assert not ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": old_snaps}])["Snapshots"]
    assert [i["ImageId"] for i in maker_find(aws, "us-east-1")] == [result["images"]["us-east-1"]]


def maker_find(aws, region):
    return creator(aws).find_by_name(region, "webapp-1.4.2")


def test_copy_failure_removes_every_ami_made(aws):
    ec2 = aws.client("ec2")
    instance_id = run_instance(ec2)
    # moto lists the default AMIs' snapshots as ours: compare counts, not emptiness.
    snapshots_before = {r: snapshot_count(aws, r) for r in ("us-east-1", "eu-west-1")}
    maker = creator(aws, failing_in(aws, "eu-central-1", "CopyImage"))
    with pytest.raises(ec2_ami.AmiError, match="^copy: .*injected") as info:
        maker.create(instance_id, "webapp-1.4.2", tags=TAGS, copy_to_regions=["eu-west-1", "eu-central-1"])
    assert info.value.stage == "copy" and info.value.images == {} and info.value.leftovers == []
    for region in ("us-east-1", "eu-west-1", "eu-central-1"):
        assert maker_find(aws, region) == []
    # The snapshots of the AMIs that were made are gone too.
    assert {r: snapshot_count(aws, r) for r in snapshots_before} == snapshots_before


def snapshot_count(aws, region):
    return len(aws.client("ec2", region).describe_snapshots(OwnerIds=["self"])["Snapshots"])


def test_publish_failure_rolls_back_and_names_the_stage(aws):
    instance_id = run_instance(aws.client("ec2"))
    with pytest.raises(ec2_ami.AmiError) as info:
        creator(aws, failing_in(aws, "us-east-1", "PutParameter", "AccessDeniedException")).create(
            instance_id, "webapp-1.4.2", tags=TAGS, copy_to_regions=["eu-west-1"], publish_parameter="/p")
    assert info.value.stage == "publish"
    assert maker_find(aws, "us-east-1") == [] and maker_find(aws, "eu-west-1") == []


def once_an_ami_is_made(aws, event, handler, region=None):
    """A client factory whose EC2 clients (of `region`, or all) run handler(seen, **kwargs) on `event` of each
    DescribeImages call after a CreateImage or CopyImage: what AWS answers meanwhile that moto does not. .seen is the
    handler's record."""
    seen = {"made": False}

    def made(**_):
        seen["made"] = True

    def describe(**kwargs):
        if seen["made"]:
            handler(seen, **kwargs)

    def factory(service, reg):
        client = aws.factory(service, reg)
        if service == "ec2" and region in (None, reg):
            client.meta.events.register("after-call.ec2.CreateImage", made)
            client.meta.events.register("after-call.ec2.CopyImage", made)
            client.meta.events.register("%s.ec2.DescribeImages" % event, describe)
        return client
    factory.seen = seen
    return factory


def pending_for(aws, region, polls):
    """The AMIs the client for `region` describes are `pending` for its first `polls` DescribeImages calls after they are
    made (AWS's state while the snapshots are made, which moto skips); .seen["polls"] counts the calls."""
    def pending(seen, parsed, **_):
        seen["polls"] = seen.get("polls", 0) + 1
        if seen["polls"] <= polls:
            for found in parsed.get("Images") or []:
                found["State"] = "pending"
    return once_an_ami_is_made(aws, "after-call", pending, region)


def test_an_ami_not_available_in_time_fails_saying_so_and_is_removed(aws):
    """A build's waits are aws_polling's: an AMI still pending after its polls fails the create stage, saying how long
    it waited, and is deregistered; with polls enough it is made."""
    instance_id = run_instance(aws.client("ec2"))
    slow = pending_for(aws, "us-east-1", polls=4)
    maker = ec2_ami.AmiCreator(slow, "us-east-1", waits=aws_client.Waits(0, 3, "aws_polling"))
    with pytest.raises(ec2_ami.AmiError) as info:
        maker.create(instance_id, "webapp-1.4.2", tags=TAGS)
    assert info.value.stage == "create"
    assert "Waiter ImageAvailable failed: not done after 3 polls 0 s apart (0 s); aws_polling sets how long a build waits" \
        in str(info.value)
    assert slow.seen["polls"] >= 3 and maker_find(aws, "us-east-1") == []

    slow = pending_for(aws, "eu-west-1", polls=4)  # a copy waits as long
    made = ec2_ami.AmiCreator(slow, "us-east-1", waits=aws_client.Waits(0, 5)).create(
        instance_id, "webapp-1.4.2", tags=TAGS, copy_to_regions=["eu-west-1"])
    assert slow.seen["polls"] == 6 and set(made["images"]) == {"us-east-1", "eu-west-1"}  # 5 polls, then the tags'


def not_yet_known(aws, calls):
    """Every region's clients refuse the first `calls` DescribeImages after an AMI is made with InvalidAMIID.NotFound, as
    EC2 may for an AMI it has just made (eventual consistency); .seen["refused"] counts them."""
    def refuse(seen, **_):
        if seen.setdefault("refused", 0) < calls:
            seen["refused"] += 1
            raise botocore_exceptions.ClientError({"Error": {"Code": "InvalidAMIID.NotFound",
                                                             "Message": "The image id does not exist"}}, "DescribeImages")
    return once_an_ami_is_made(aws, "before-call", refuse)


def test_an_ami_ec2_does_not_know_yet_is_waited_for(aws):
    """Right after CreateImage and CopyImage, EC2 may answer that the new AMI does not exist: the wait goes on
    (botocore's image_available fails at once on it: the build failed at create)."""
    instance_id = run_instance(aws.client("ec2"))
    unknown = not_yet_known(aws, calls=2)
    made = ec2_ami.AmiCreator(unknown, "us-east-1", waits=aws_client.Waits(0, 5)).create(
        instance_id, "webapp-1.4.2", tags=TAGS, copy_to_regions=["eu-west-1"])
    assert unknown.seen["refused"] == 2 and set(made["images"]) == {"us-east-1", "eu-west-1"}
    assert tags_of(image(aws.client("ec2"), made["image_id"]))["immutable.images.build-id"] == BUILD


def test_share_failure_with_keep_on_error_keeps_the_amis(aws):
    instance_id = run_instance(aws.client("ec2"))
    maker = creator(aws, failing_in(aws, "us-east-1", "ModifyImageAttribute"))
    with pytest.raises(ec2_ami.AmiError, match="^share: .*kept for debugging") as info:
        maker.create(instance_id, "webapp-1.4.2", tags=TAGS, share_with_accounts=["111122223333"], keep_on_error=True)
    assert info.value.stage == "share"
    assert [i["ImageId"] for i in maker_find(aws, "us-east-1")] == [info.value.images["us-east-1"]]


def test_share_with_organizations(aws):
    ec2 = aws.client("ec2")
    org = "arn:aws:organizations::123456789012:organization/o-abcdefghij"
    result = creator(aws).create(run_instance(ec2), "webapp-1.4.2", tags=TAGS, share_with_organizations=[org])
    perms = ec2.describe_image_attribute(ImageId=result["image_id"], Attribute="launchPermission")["LaunchPermissions"]
    assert perms == [{"OrganizationArn": org}] and result["shared_with"] == perms


def test_spot_instance_is_not_stopped(aws):
    ec2 = aws.client("ec2")
    instance_id = run_instance(ec2, InstanceMarketOptions={"MarketType": "spot"})
    creator(aws).create(instance_id, "webapp-1.4.2", tags=TAGS)
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"


def test_invalid_name_and_missing_instance(aws):
    with pytest.raises(ec2_ami.AmiError, match="AMI name 'a|b' is invalid"):
        creator(aws).create("i-0123456789abcdef0", "a|b")
    with pytest.raises(ec2_ami.AmiError, match="does not exist or is terminated"):
        creator(aws).create("i-0123456789abcdef0", "webapp-1.4.2")


def test_plan_changes_nothing(aws):
    ec2 = aws.client("ec2")
    instance_id = run_instance(ec2)
    old = ec2.create_image(InstanceId=instance_id, Name="webapp-1.4.2")["ImageId"]
    plan = creator(aws).plan(instance_id, "webapp-1.4.2", copy_to_regions=["eu-west-1"], force_deregister=True)
    assert plan == {"instance_state": "running", "regions": ["us-east-1", "eu-west-1"],
                    "would_deregister": {"us-east-1": [old]}}
    assert image(ec2, old) is not None
    with pytest.raises(ec2_ami.AmiError, match="prevalidate"):
        creator(aws).plan(instance_id, "webapp-1.4.2")
