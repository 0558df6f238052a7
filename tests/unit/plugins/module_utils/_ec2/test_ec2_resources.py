# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tags, discovery and deletion of a build's EC2 resources (moto server, plus a Stubber for retries)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.immutable.images.plugins.module_utils._ec2 import resources as res
from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._ec2.client import Waits, make_client

botocore_stub = pytest.importorskip("botocore.stub")
from botocore.exceptions import WaiterError  # noqa: E402

BUILD, OTHER = "20261123T2135Z-7f3a", "20261124T0900Z-beef"


def test_ec2_tags_user_tags_cannot_fake_our_labels():
    tags = res.ec2_tags(naming.KIND_BUILDER, BUILD, "webapp", "aws", name="n", version="1.0.0", build_hash="abc",
                        extra={"team": "web", naming.LABEL_KIND: "artifact", "count": 3})
    assert tags["team"] == "web" and tags["count"] == "3" and tags["Name"] == "n"
    assert tags[naming.LABEL_KIND] == "builder"
    assert tags[naming.LABEL_BUILD_ID] == BUILD and tags[naming.LABEL_TARGET] == "aws"
    assert tags[naming.LABEL_IMAGE_VERSION] == "1.0.0" and tags[naming.LABEL_BUILD_HASH] == "abc"
    assert res.ec2_tags(naming.KIND_BUILDER, BUILD, "w", "t", name="n", extra={"Name": "mine"})["Name"] == "mine"


def test_tag_filters():
    assert res.tag_filters(BUILD, "aws") == [
        {"Name": "tag:" + naming.LABEL_KIND, "Values": ["builder", "cache"]},
        {"Name": "tag:" + naming.LABEL_BUILD_ID, "Values": [BUILD]},
        {"Name": "tag:" + naming.LABEL_TARGET, "Values": ["aws"]},
    ]
    assert {"Name": "tag-key", "Values": [naming.LABEL_BUILD_ID]} in res.tag_filters()


def test_created_at_prefers_our_tag():
    tagged = {"Tags": [{"Key": naming.LABEL_CREATED, "Value": "2026-01-02T03:04:05Z"}],
              "LaunchTime": datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)}
    assert res.created_at(tagged) == datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert res.created_at({"CreationDate": "2026-05-01T00:00:00.000Z"}).year == 2026
    assert res.created_at({}) is None


def _tags(build, kind=naming.KIND_BUILDER, created=None):
    tags = res.ec2_tags(kind, build, "webapp", "aws", name="x")
    if created:
        tags[naming.LABEL_CREATED] = created
    return naming.aws_tag_list(tags)


def _make_build(aws, build, suffix, created=None):
    """One of everything a build leaves around, tagged for `build`."""
    ec2 = aws.client("ec2")
    image_id = ec2.describe_images(Owners=["137112412989"], Filters=[{"Name": "name", "Values": ["al2023-ami-2023*"]}])["Images"][0]["ImageId"]
    tags = _tags(build, created=created)
    ec2.create_key_pair(KeyName="kp-" + suffix, TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags}])
    sg = ec2.create_security_group(GroupName="sg-" + suffix, Description="t",
                                   TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}])["GroupId"]
    inst = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                             TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"][0]["InstanceId"]
    images = {}
    for kind in (naming.KIND_CACHE, naming.KIND_ARTIFACT):
        images[kind] = ec2.create_image(InstanceId=inst, Name="%s-%s" % (kind, suffix), TagSpecifications=[
            {"ResourceType": "image", "Tags": _tags(build, kind, created)}])["ImageId"]
    return {"instance": inst, "sg": sg, "key": "kp-" + suffix, "images": images}


def _snapshots_of(ec2, image_id):
    return res.image_snapshot_ids(ec2.describe_images(ImageIds=[image_id])["Images"][0])


def test_cleanup_removes_only_temporary_resources_of_the_build(aws):
    ec2 = aws.client("ec2")
    mine, other = _make_build(aws, BUILD, "a"), _make_build(aws, OTHER, "b")
    cache_snaps = _snapshots_of(ec2, mine["images"]["cache"])

    dry = res.cleanup(ec2, build_id=BUILD, waits=aws.waits, dry_run=True)
    assert dry["instances"] == [mine["instance"]] and dry["images"] == [mine["images"]["cache"]]
    assert ec2.describe_key_pairs(KeyNames=["kp-a"])["KeyPairs"]  # dry run deleted nothing

    done = res.cleanup(ec2, build_id=BUILD, waits=aws.waits)
    assert done == {"instances": [mine["instance"]], "images": [mine["images"]["cache"]], "snapshots": cache_snaps,
                    "key_pairs": ["kp-a"], "security_groups": [mine["sg"]]}
    state = ec2.describe_instances(InstanceIds=[mine["instance"]])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "terminated"
    assert ec2.describe_images(ImageIds=[mine["images"]["cache"]])["Images"] == []
    # The artifact and the other build are untouched.
    assert ec2.describe_images(ImageIds=[mine["images"]["artifact"]])["Images"]
    assert res.find_instances(ec2, OTHER) and res.find_key_pairs(ec2, OTHER) and res.find_security_groups(ec2, OTHER)
    assert [i["ImageId"] for i in res.find_images(ec2, OTHER)] == [other["images"]["cache"]]

    again = res.cleanup(ec2, build_id=BUILD, waits=aws.waits)
    assert again == {k: [] for k in done}


def test_cleanup_older_than(aws):
    ec2 = aws.client("ec2")
    _make_build(aws, BUILD, "old", created="2020-01-01T00:00:00Z")
    young = _make_build(aws, OTHER, "new")
    cutoff = datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc)
    done = res.cleanup(ec2, older_than=cutoff, waits=aws.waits)
    assert done["key_pairs"] == ["kp-old"] and len(done["instances"]) == 1 and len(done["images"]) == 1
    assert [i["InstanceId"] for i in res.find_instances(ec2)] == [young["instance"]]


def test_deletes_are_idempotent(aws):
    ec2 = aws.client("ec2")
    assert res.terminate_instances(ec2, ["i-0123456789abcdef0"], aws.waits) == []
    assert res.delete_key_pair(ec2, "nope") is False
    assert res.delete_security_group(ec2, "sg-0123456789abcdef0", aws.waits) is False
    assert res.deregister_image(ec2, "ami-0123456789abcdef0", aws.waits) is None
    assert res.delete_snapshot(ec2, "snap-0123456789abcdef0", aws.waits) is False


def _stubbed_ec2():
    ec2 = make_client("ec2", "us-east-1", endpoint_url="http://127.0.0.1:9", aws_access_key_id="x",
                      aws_secret_access_key="x")
    return ec2, botocore_stub.Stubber(ec2)


def test_security_group_delete_retries_dependency_violation():
    ec2, stub = _stubbed_ec2()
    stub.add_response("describe_security_groups", {"SecurityGroups": [{"GroupId": "sg-1"}]})
    stub.add_client_error("delete_security_group", "DependencyViolation", http_status_code=400)
    stub.add_client_error("delete_security_group", "DependencyViolation", http_status_code=400)
    stub.add_response("delete_security_group", {"ResponseMetadata": {"HTTPStatusCode": 200}})
    with stub:
        assert res.delete_security_group(ec2, "sg-1", Waits(delay=0, max_attempts=5)) is True
    stub.assert_no_pending_responses()


def test_security_group_delete_retry_is_bounded():
    ec2, stub = _stubbed_ec2()
    stub.add_response("describe_security_groups", {"SecurityGroups": [{"GroupId": "sg-1"}]})
    for _ in range(2):
        stub.add_client_error("delete_security_group", "DependencyViolation", http_status_code=400)
    with stub, pytest.raises(WaiterError):
        res.delete_security_group(ec2, "sg-1", Waits(delay=0, max_attempts=2))
