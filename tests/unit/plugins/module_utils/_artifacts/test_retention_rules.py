# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""retention.py: the selection rules (pure), docker retention on a fake engine, AMI retention on moto."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._artifacts import retention
from ansible_collections.immutable.images.plugins.module_utils._ec2 import resources as res
from ansible_collections.immutable.images.plugins.module_utils._docker.client import docker_errors

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def ago(days):
    return NOW - datetime.timedelta(days=days)


def art(version, days_old, rid=None, **extra):
    return dict({"id": rid or "id-%s-%s" % (version, days_old), "version": version,
                 "created": ago(days_old) if days_old is not None else None}, **extra)


def ids(items):
    return [a["id"] for a in items]


def select(artifacts, **kw):
    return retention.select(artifacts, now=NOW, **kw)


# --- semantic version precedence ---------------------------------------------------------------

def test_version_key_follows_semver_precedence():
    # semver.org, section 11, plus numeric (not lexical) comparison of each part
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
               "1.0.0-rc.1", "1.0.0", "1.2.0", "1.9.0", "1.10.0", "2.0.0-rc.1", "2.0.0", "10.0.0"]
    keys = [retention.version_key(v) for v in ordered]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_version_key_ignores_build_metadata_and_rejects_non_semver():
    assert retention.version_key("1.4.2+build.7") == retention.version_key("1.4.2")
    for bad in (None, "", "latest", "1.4", "v1.4.2", "01.2.3", "1.4.2\n"):
        assert retention.version_key(bad) is None, bad


# --- the selection rules -----------------------------------------------------------------------

def test_count_keeps_the_newest_versions():
    found = [art("1.0.0", 40), art("1.1.0", 30), art("1.2.0", 20), art("1.3.0", 10), art("1.4.0", 1)]
    chosen = select(found, count=2)
    assert [a["version"] for a in chosen["keep"]] == ["1.4.0", "1.3.0"]
    assert [a["version"] for a in chosen["remove"]] == ["1.2.0", "1.1.0", "1.0.0"]
    assert chosen["skipped"] == []
    assert chosen["keep"][0]["reason"] == "one of the newest 2"
    assert chosen["remove"][0]["reason"] == "not the newest 2"


def test_version_order_is_semantic_not_lexical_nor_by_time():
    # 1.10.0 was built first (e.g. the 1.9 line got a late hotfix): semver still ranks it newest
    found = [art("1.10.0", 30), art("1.9.0", 20), art("1.2.0", 10), art("1.9.1-rc.1", 5)]
    chosen = select(found, count=2)
    assert [a["version"] for a in chosen["keep"]] == ["1.10.0", "1.9.1-rc.1"]
    assert [a["version"] for a in chosen["remove"]] == ["1.9.0", "1.2.0"]


def test_rebuilds_of_a_version_count_separately_the_later_is_newer():
    found = [art("1.4.2", 10, "first"), art("1.4.2", 2, "second"), art("1.4.1", 1, "older-version")]
    chosen = select(found, count=2)
    assert ids(chosen["keep"]) == ["second", "first"]
    assert ids(chosen["remove"]) == ["older-version"]


def test_days_keeps_what_is_newer_than_the_cutoff():
    found = [art("1.0.0", 45), art("1.1.0", 31), art("1.2.0", 29), art("1.3.0", 0)]
    chosen = select(found, days=30)
    assert [a["version"] for a in chosen["keep"]] == ["1.3.0", "1.2.0"]
    assert [a["version"] for a in chosen["remove"]] == ["1.1.0", "1.0.0"]
    assert chosen["keep"][0]["reason"] == "created in the last 30 days"
    assert chosen["remove"][0]["reason"] == "not created in the last 30 days"


def test_days_never_removes_what_cannot_be_dated():
    chosen = select([art("1.0.0", None), art("1.1.0", 100)], days=7)
    assert [a["version"] for a in chosen["keep"]] == ["1.0.0"]
    assert chosen["keep"][0]["reason"] == "creation time unknown"


@pytest.mark.parametrize("count, days, kept", [
    (2, None, ["1.4.0", "1.3.0"]),
    (None, 15, ["1.4.0", "1.2.0"]),
    # both: kept if either rule keeps it (AWS Image Builder's age rule with "retain at least")
    (2, 15, ["1.4.0", "1.3.0", "1.2.0"]),
    (1, 15, ["1.4.0", "1.2.0"]),
    (4, 1, ["1.4.0", "1.3.0", "1.2.0", "1.1.0"]),
    (0, None, []),
    (0, 0, []),
    (None, None, ["1.4.0", "1.3.0", "1.2.0", "1.1.0", "1.0.0"]),
])
def test_count_and_days_together_keep_what_either_keeps(count, days, kept):
    # 1.3.0 was built long ago, 1.2.0 recently (a hotfix of an old line)
    found = [art("1.0.0", 50), art("1.1.0", 40), art("1.2.0", 10), art("1.3.0", 20), art("1.4.0", 5)]
    chosen = select(found, count=count, days=days)
    assert [a["version"] for a in chosen["keep"]] == kept
    assert sorted(a["version"] for a in chosen["remove"]) == sorted(set(a["version"] for a in found) - set(kept))


def test_reasons_name_every_rule_that_keeps():
    chosen = select([art("2.0.0", 1, "new")], count=1, days=3, current=["new"])
    assert chosen["keep"][0]["reason"] == "current build, one of the newest 1, created in the last 3 days"
    chosen = select([art("2.0.0", 1), art("1.0.0", 9)], count=1, days=3)
    assert chosen["remove"][0]["reason"] == "not the newest 1 or created in the last 3 days"


def test_no_rule_keeps_everything():
    chosen = select([art("1.0.0", 400), art("0.1.0", 800)])
    assert chosen["remove"] == []
    assert {a["reason"] for a in chosen["keep"]} == {"no retention rule"}


def test_current_is_never_removed():
    found = [art("3.0.0", 2), art("2.0.0", 3), art("1.0.0", 900, "just-built")]
    # a rebuild of an old line (or a reused artifact): old by version and by date, still kept
    chosen = select(found, count=1, days=1, current=["just-built"])
    assert ids(chosen["keep"]) == ["id-3.0.0-2", "just-built"]
    assert ids(chosen["remove"]) == ["id-2.0.0-3"]
    assert chosen["keep"][1]["reason"] == "current build"
    chosen = select(found, count=0, current=["just-built"])
    assert ids(chosen["keep"]) == ["just-built"]


def test_current_takes_a_place_among_the_newest():
    found = [art("1.0.0", 3), art("1.1.0", 2), art("1.2.0", 1, "just-built")]
    chosen = select(found, count=2, current=["just-built"])
    assert ids(chosen["keep"]) == ["just-built", "id-1.1.0-2"]
    assert ids(chosen["remove"]) == ["id-1.0.0-3"]


def test_current_matches_any_id_of_a_grouped_artifact():
    build = art("1.0.0", 9, "20261117T0900Z-aaaaaa", ids=["ami-0aaa", "ami-0bbb"])
    chosen = select([build, art("2.0.0", 1)], count=1, current=["ami-0bbb"])
    assert ids(chosen["keep"]) == ["id-2.0.0-1", "20261117T0900Z-aaaaaa"]


def test_unrankable_versions_are_skipped_never_removed():
    found = [art("latest", 100, "odd"), art("1.0.0", 100), art("2.0.0", 1), art(None, 100, "none")]
    chosen = select(found, count=1)
    assert ids(chosen["skipped"]) == ["odd", "none"]
    assert "not a semantic version" in chosen["skipped"][0]["reason"]
    assert ids(chosen["remove"]) == ["id-1.0.0-100"]
    assert ids(select(found, count=0, current=["odd"])["keep"]) == ["odd"]


def test_selection_keeps_extra_keys_and_does_not_change_its_input():
    found = [art("1.0.0", 10, tags=["webapp:1.0.0"]), art("1.1.0", 1)]
    before = [dict(a) for a in found]
    chosen = select(found, count=1)
    assert chosen["remove"][0]["tags"] == ["webapp:1.0.0"]
    assert found == before


@pytest.mark.parametrize("count, days", [(-1, None), (None, -3), (True, None)])
def test_negative_rules_are_refused(count, days):
    with pytest.raises(ValueError, match="must be a number >= 0"):
        select([art("1.0.0", 1)], count=count, days=days)


# --- docker, on a fake engine ------------------------------------------------------------------

IMAGE_NAME = "webapp"


def labels(version, build, kind=naming.KIND_ARTIFACT, image_name=IMAGE_NAME, target="container", days_old=None):
    created = naming.iso_utc(ago(days_old)) if days_old is not None else None
    return naming.build_labels(build, image_name, target, kind, build_hash="abc123", version=version, created=created)


class FakeEngine:
    """Tags and images like the engine keeps them: removing an image's last tag deletes the image,
    unless a container uses it (409); the label filter is *not* applied (the code must check itself)."""

    def __init__(self):
        self.images_, self.containers_ = {}, []
        self.queries, self.calls = [], []
        self.api = self

    def add(self, rid, tags=(), labels_=None):
        self.images_[rid] = {"tags": list(tags), "labels": labels_ or {}}
        return rid

    # client.api
    def images(self, filters=None):
        self.queries.append(filters)
        return [{"Id": rid, "RepoTags": list(i["tags"]) or None, "Labels": i["labels"] or None, "Created": 1767225600}
                for rid, i in self.images_.items()]

    def containers(self, all=False):
        return [{"Id": "c%d" % i, "Names": ["/" + name], "ImageID": image} for i, (name, image) in enumerate(self.containers_)]

    def inspect_image(self, ref):
        rid = self._resolve(ref)
        labels = self.images_[rid]["labels"]
        # the comment a commit by the build of the labels sets (an image built FROM ours has none)
        comment = naming.build_comment(labels[naming.LABEL_BUILD_ID]) if labels.get(naming.LABEL_BUILD_ID) else ""
        return {"Id": rid, "RepoTags": list(self.images_[rid]["tags"]), "Config": {"Labels": labels},
                "Comment": self.images_[rid].get("comment", comment)}

    def remove_image(self, ref, force=False):
        self.calls.append(("remove_image", ref, force))
        rid = self._resolve(ref)
        used = any(image == rid for _name, image in self.containers_)
        image = self.images_[rid]
        if ref in image["tags"]:
            if len(image["tags"]) == 1 and used:
                raise docker_errors.APIError("conflict: container is using its referenced image", response=_Resp(409))
            image["tags"].remove(ref)
            if image["tags"]:
                return
        elif image["tags"] and not force:
            raise docker_errors.APIError("conflict: image is referenced in multiple repositories", response=_Resp(409))
        if used:
            raise docker_errors.APIError("conflict: image is being used by a container", response=_Resp(409))
        del self.images_[rid]

    def _resolve(self, ref):
        for rid, image in self.images_.items():
            if ref == rid or ref in image["tags"]:
                return rid
        raise docker_errors.NotFound("no such image: %s" % ref)


class _Resp:
    def __init__(self, status):
        self.status_code = status
        self.reason = "Conflict"
        self.url = "http://engine"

    def json(self):
        return {}


@pytest.fixture
def engine():
    e = FakeEngine()
    e.add("sha256:" + "1" * 64, ["webapp:1.0.0", "webapp:1.0.0-abc123"], labels("1.0.0", "b1", days_old=50))
    e.add("sha256:" + "2" * 64, ["webapp:1.9.0", "webapp:1.9.0-abc123", "mirror/webapp:1.9.0"],
          labels("1.9.0", "b2", days_old=40))
    e.add("sha256:" + "3" * 64, ["webapp:1.10.0", "webapp:1.10.0-abc123"], labels("1.10.0", "b3", days_old=30))
    e.add("sha256:" + "4" * 64, ["webapp:1.11.0", "webapp:1.11.0-abc123", "webapp:latest"],
          labels("1.11.0", "b4", days_old=0))
    e.add("sha256:" + "5" * 64, [], labels("0.9.0", "b0", days_old=90))  # lost its tags to a rebuild
    # never touched: no labels, a cache layer, a builder, another image's artifact, another target
    e.add("sha256:" + "a" * 64, ["webapp:0.1.0"], {})
    e.add("sha256:" + "b" * 64, ["immutable-images-cache/webapp:r1"], labels("0.5.0", "b9", kind=naming.KIND_CACHE))
    e.add("sha256:" + "c" * 64, ["webapp:builder"], labels("0.5.0", "b9", kind=naming.KIND_BUILDER))
    e.add("sha256:" + "d" * 64, ["webapp:0.2.0"], labels("0.2.0", "b8", image_name="other"))
    e.add("sha256:" + "e" * 64, ["webapp:0.3.0"], labels("0.3.0", "b7", target="slim"))
    e.add("sha256:" + "f" * 64, ["webapp:0.4.0"], {naming.LABEL_KIND: naming.KIND_ARTIFACT,
                                                   naming.LABEL_IMAGE_NAME: IMAGE_NAME,
                                                   naming.LABEL_TARGET: "container",
                                                   naming.LABEL_IMAGE_VERSION: "0.4.0"})  # no build id: not ours
    return e


NOT_OURS = ["sha256:" + c * 64 for c in "abcdef"]


def test_docker_plan_filters_by_our_labels_and_changes_nothing(engine):
    before = {rid: list(i["tags"]) for rid, i in engine.images_.items()}
    plan = retention.DockerRetention(engine, IMAGE_NAME, "container").plan(count=2, current=["4" * 12], now=NOW)
    assert engine.queries == [{"label": ["immutable.images.kind=artifact", "immutable.images.image-name=webapp",
                                         "immutable.images.target=container"]}]
    assert [e["version"] for e in plan["kept"]] == ["1.11.0", "1.10.0"]
    assert plan["kept"][0]["reason"] == "current build, one of the newest 2"
    assert plan["kept"][0]["tags"] == ["webapp:1.11.0", "webapp:1.11.0-abc123", "webapp:latest"]
    assert [e["version"] for e in plan["remove"]] == ["1.9.0", "1.0.0", "0.9.0"]
    assert plan["remove"][0]["tags"] == ["webapp:1.9.0", "webapp:1.9.0-abc123"]
    assert plan["remove"][0]["remaining_tags"] == ["mirror/webapp:1.9.0"]
    assert plan["remove"][0]["deleted"] is False
    assert plan["remove"][1] == {
        "id": "sha256:" + "1" * 64, "version": "1.0.0", "build_id": "b1", "target": "container",
        "created": naming.iso_utc(ago(50)), "reason": "not the newest 2",
        "tags": ["webapp:1.0.0", "webapp:1.0.0-abc123"], "remaining_tags": [], "deleted": True}
    assert plan["remove"][2]["tags"] == [] and plan["remove"][2]["deleted"] is True
    listed = {e["id"] for part in plan.values() for e in part}
    assert not listed & set(NOT_OURS)
    assert {rid: i["tags"] for rid, i in engine.images_.items()} == before
    assert engine.calls == []


def test_docker_apply_untags_then_deletes_and_never_touches_others(engine):
    r = retention.DockerRetention(engine, IMAGE_NAME, "container")
    done = r.apply(r.plan(count=2, current=["sha256:" + "4" * 64], now=NOW))
    assert done["errors"] == []
    assert [e["version"] for e in done["removed"]] == ["1.9.0", "1.0.0", "0.9.0"]
    assert [e["deleted"] for e in done["removed"]] == [False, True, True]
    # 1.9.0 keeps its tag in a repository retention was not given
    assert engine.images_["sha256:" + "2" * 64]["tags"] == ["mirror/webapp:1.9.0"]
    assert "sha256:" + "1" * 64 not in engine.images_ and "sha256:" + "5" * 64 not in engine.images_
    assert all(rid in engine.images_ for rid in NOT_OURS)
    assert engine.images_["sha256:" + "a" * 64]["tags"] == ["webapp:0.1.0"]
    assert not any(force for _call, _ref, force in engine.calls)
    # idempotent: a second run removes nothing (1.9.0 is only tagged elsewhere now)
    again = r.apply(r.plan(count=2, current=["sha256:" + "4" * 64], now=NOW))
    assert again["removed"] == []
    assert [(e["version"], e["reason"]) for e in again["skipped"]] == [
        ("1.9.0", "tagged only outside the repositories webapp")]


def test_docker_repositories_decide_which_tags_go(engine):
    r = retention.DockerRetention(engine, IMAGE_NAME, "container", repositories=["docker.io/library/webapp", "mirror/webapp"])
    plan = r.plan(count=2, current=["4" * 64], now=NOW)
    assert plan["remove"][0]["tags"] == ["mirror/webapp:1.9.0", "webapp:1.9.0", "webapp:1.9.0-abc123"]
    assert plan["remove"][0]["deleted"] is True
    done = r.apply(plan)
    assert "sha256:" + "2" * 64 not in engine.images_ and done["errors"] == []


def test_docker_image_used_by_a_container_is_skipped_not_forced(engine):
    engine.containers_.append(("someones-app", "sha256:" + "1" * 64))
    r = retention.DockerRetention(engine, IMAGE_NAME, "container")
    plan = r.plan(count=2, current=["webapp:latest"], now=NOW)
    assert [e["version"] for e in plan["remove"]] == ["1.9.0", "0.9.0"]
    assert [(e["version"], e["reason"]) for e in plan["skipped"]] == [
        ("1.0.0", "used by container(s) someones-app; never forced")]
    r.apply(plan)
    assert engine.images_["sha256:" + "1" * 64]["tags"] == ["webapp:1.0.0", "webapp:1.0.0-abc123"]


def test_docker_container_that_appears_after_planning_moves_the_image_to_skipped(engine):
    r = retention.DockerRetention(engine, IMAGE_NAME, "container")
    plan = r.plan(count=3, now=NOW)
    assert [e["version"] for e in plan["remove"]] == ["1.0.0", "0.9.0"]
    engine.containers_.append(("late", "sha256:" + "1" * 64))
    done = r.apply(plan)
    assert done["errors"] == []
    assert [e["version"] for e in done["removed"]] == ["0.9.0"]
    assert done["skipped"][-1]["version"] == "1.0.0" and done["skipped"][-1]["reason"].startswith("in use, not removed")
    assert done["skipped"][-1]["tags_removed"] == ["webapp:1.0.0"]
    assert engine.images_["sha256:" + "1" * 64]["tags"] == ["webapp:1.0.0-abc123"]


def test_docker_tag_moved_to_another_image_after_planning_stays(engine):
    r = retention.DockerRetention(engine, IMAGE_NAME, "container")
    plan = r.plan(count=3, now=NOW)
    assert plan["remove"][0]["tags"] == ["webapp:1.0.0", "webapp:1.0.0-abc123"]
    # a concurrent build takes the tag webapp:1.0.0 (docker tag --force) before apply()
    engine.images_["sha256:" + "1" * 64]["tags"].remove("webapp:1.0.0")
    engine.add("sha256:" + "9" * 64, ["webapp:1.0.0"], labels("1.0.0", "b-new"))
    done = r.apply(plan)
    assert done["removed"][0]["tags"] == ["webapp:1.0.0-abc123"] and done["removed"][0]["deleted"] is True
    assert engine.images_["sha256:" + "9" * 64]["tags"] == ["webapp:1.0.0"]


def test_docker_without_target_considers_every_target(engine):
    plan = retention.DockerRetention(engine, IMAGE_NAME).plan(count=10, now=NOW)
    assert "0.3.0" in [e["version"] for e in plan["kept"]]
    assert engine.queries[-1] == {"label": ["immutable.images.kind=artifact", "immutable.images.image-name=webapp"]}


def test_docker_creation_time_falls_back_to_the_engine_and_none_tags_are_dropped():
    e = FakeEngine()
    undated = {k: v for k, v in labels("1.0.0", "b1").items() if k != naming.LABEL_CREATED}
    e.add("sha256:" + "1" * 64, ["<none>:<none>"], undated)
    found = retention.DockerRetention(e, IMAGE_NAME, "container").artifacts()
    assert found[0]["created"] == datetime.datetime(2026, 1, 1, tzinfo=UTC)  # the list's Created (epoch seconds)
    assert found[0]["all_tags"] == []


def test_docker_current_by_short_id_or_tag():
    found = [{"id": "sha256:" + "ab" * 32, "all_tags": ["webapp:2.0.0"]}, {"id": "sha256:" + "cd" * 32, "all_tags": []}]
    assert retention.DockerRetention.current_ids(found, ["abababababab"]) == {found[0]["id"]}
    assert retention.DockerRetention.current_ids(found, ["sha256:cdcdcdcdcdcd"]) == {found[1]["id"]}
    assert retention.DockerRetention.current_ids(found, ["webapp:2.0.0"]) == {found[0]["id"]}
    assert retention.DockerRetention.current_ids(found, ["abab", "nothing"]) == set()  # too short to be an id


def test_normalize_repository():
    assert retention.normalize_repository("docker.io/library/webapp") == "webapp"
    assert retention.normalize_repository("docker.io/team/webapp") == "team/webapp"
    assert retention.normalize_repository("127.0.0.1:5000/webapp") == "127.0.0.1:5000/webapp"
    assert retention.repository_of("127.0.0.1:5000/team/webapp:1.0.0") == "127.0.0.1:5000/team/webapp"


# --- AMIs, on the moto server ------------------------------------------------------------------

def register_ami(ec2, name, tags=None):
    """An AMI with a snapshot of its own, registered and tagged like a build tags its artifacts."""
    volume = ec2.create_volume(AvailabilityZone=ec2.meta.region_name + "a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    image_id = ec2.register_image(Name=name, RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                                  BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}])["ImageId"]
    snapshots = res.image_snapshot_ids(ec2.describe_images(ImageIds=[image_id])["Images"][0])
    if tags:
        own = {naming.LABEL_AMI_ID: image_id} if tags.get(naming.LABEL_BUILD_ID) else {}  # as a build tags its AMIs
        ec2.create_tags(Resources=[image_id] + snapshots, Tags=naming.aws_tag_list(dict(tags, **own)))
    return image_id, snapshots


def ami_tags(version, build, days_old, image_name=IMAGE_NAME, target="aws", kind=naming.KIND_ARTIFACT):
    tags = res.ec2_tags(kind, build, image_name, target, name="%s-%s" % (image_name, version), version=version,
                        build_hash="abc123")
    tags[naming.LABEL_CREATED] = naming.iso_utc(ago(days_old))
    return tags


def tagged(image_id, tags):
    """AWS tag list of an AMI as a build tags it: with its own id (naming.is_our_ami)."""
    return naming.aws_tag_list(dict(tags, **{naming.LABEL_AMI_ID: image_id}))


def exists(ec2, image_id):
    return bool(ec2.describe_images(ImageIds=[image_id])["Images"])


def snapshots_left(ec2, snapshot_ids):
    return [s for s in snapshot_ids if ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [s]}])["Snapshots"]]


@pytest.fixture
def amis(aws):
    ec2 = aws.client("ec2")
    made = {v: register_ami(ec2, "webapp-" + v, ami_tags(v, "b-" + v, d))
            for v, d in (("1.0.0", 40), ("1.9.0", 30), ("1.10.0", 20), ("1.11.0", 1))}
    made["untagged"] = register_ami(ec2, "handmade-webapp")
    made["other-name"] = register_ami(ec2, "other-0.1.0", ami_tags("0.1.0", "b-o", 99, image_name="other"))
    made["other-target"] = register_ami(ec2, "webapp-arm-0.1.0", ami_tags("0.1.0", "b-t", 99, target="arm"))
    made["cache"] = register_ami(ec2, "webapp-cache", ami_tags("0.1.0", "b-c", 99, kind=naming.KIND_CACHE))
    return made


NEVER = ("untagged", "other-name", "other-target", "cache")


def test_ami_retention_deregisters_older_amis_and_their_snapshots(aws, amis):
    ec2 = aws.client("ec2")
    r = retention.AmiRetention(aws.factory, IMAGE_NAME, ["us-east-1"], target="aws", waits=aws.waits)
    plan = r.plan(count=1, current=[amis["1.11.0"][0]], now=NOW)
    assert [e["version"] for e in plan["kept"]] == ["1.11.0"]
    assert [e["version"] for e in plan["remove"]] == ["1.10.0", "1.9.0", "1.0.0"]
    assert plan["remove"][0]["region"] == "us-east-1" and plan["remove"][0]["name"] == "webapp-1.10.0"
    assert plan["remove"][0]["snapshots"] == amis["1.10.0"][1]
    assert all(exists(ec2, amis[v][0]) for v in ("1.10.0", "1.9.0", "1.0.0"))  # planning changes nothing

    done = r.apply(plan)
    assert done["errors"] == []
    for version in ("1.10.0", "1.9.0", "1.0.0"):
        image_id, snapshots = amis[version]
        assert not exists(ec2, image_id)
        assert snapshots_left(ec2, snapshots) == []
        assert next(e for e in done["removed"] if e["id"] == image_id)["snapshots"] == snapshots
    assert exists(ec2, amis["1.11.0"][0]) and snapshots_left(ec2, amis["1.11.0"][1]) == amis["1.11.0"][1]
    for key in NEVER:
        assert exists(ec2, amis[key][0]) and snapshots_left(ec2, amis[key][1]) == amis[key][1], key
    again = r.plan(count=1, current=[amis["1.11.0"][0]], now=NOW)
    assert again["remove"] == []


def test_ami_retention_treats_a_build_in_every_region_as_one(aws, amis):
    west = aws.client("ec2", "eu-west-1")
    copies = {v: register_ami(west, "webapp-" + v, ami_tags(v, "b-" + v, d)) for v, d in (("1.10.0", 20), ("1.11.0", 1))}
    r = retention.AmiRetention(aws.factory, IMAGE_NAME, ["us-east-1", "eu-west-1", "us-east-1"], target="aws",
                               waits=aws.waits)
    # the copy's id protects the whole build, the original too
    plan = r.plan(count=2, current=[copies["1.11.0"][0]], now=NOW)
    assert sorted((e["version"], e["region"]) for e in plan["kept"]) == [
        ("1.10.0", "eu-west-1"), ("1.10.0", "us-east-1"), ("1.11.0", "eu-west-1"), ("1.11.0", "us-east-1")]
    assert [(e["version"], e["region"]) for e in plan["remove"]] == [("1.9.0", "us-east-1"), ("1.0.0", "us-east-1")]
    plan = r.plan(count=0, days=10, now=NOW)
    assert sorted((e["version"], e["region"]) for e in plan["remove"])[:2] == [("1.0.0", "us-east-1"), ("1.10.0", "eu-west-1")]
    r.apply(plan)
    assert not exists(west, copies["1.10.0"][0]) and exists(west, copies["1.11.0"][0])
    assert not exists(aws.client("ec2"), amis["1.10.0"][0])


def test_ami_snapshot_shared_with_an_ami_that_stays_is_not_deleted(aws, amis):
    ec2 = aws.client("ec2")
    r = retention.AmiRetention(aws.factory, IMAGE_NAME, ["us-east-1"], target="aws", waits=aws.waits)
    plan = r.plan(count=1, now=NOW)
    plan["kept"][0]["snapshots"] = list(amis["1.9.0"][1])  # as if 1.11.0 were registered from 1.9.0's snapshot
    done = r.apply(plan)
    assert next(e for e in done["removed"] if e["version"] == "1.9.0")["snapshots"] == []
    assert snapshots_left(ec2, amis["1.9.0"][1]) == amis["1.9.0"][1]


def test_ami_retention_reads_every_page():
    """EC2 pages DescribeImages (moto does not): a Stubber gives two pages."""
    from botocore.stub import Stubber
    from ansible_collections.immutable.images.plugins.module_utils._ec2.client import make_client

    ec2 = make_client("ec2", "us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ec2)

    def image(version, build, days_old):
        image_id = "ami-%s" % build.ljust(17, "0")[:17]
        return {"ImageId": image_id, "Name": "webapp-" + version,
                "Tags": tagged(image_id, ami_tags(version, build, days_old)), "BlockDeviceMappings": []}
    filters = retention.ami_filters(IMAGE_NAME, "aws")
    stub.add_response("describe_images", {"Images": [image("1.0.0", "a", 30)], "NextToken": "page2"},
                      {"Owners": ["self"], "Filters": filters, "MaxResults": 5})
    stub.add_response("describe_images", {"Images": [image("2.0.0", "b", 1)]},
                      {"Owners": ["self"], "Filters": filters, "MaxResults": 5, "NextToken": "page2"})
    with stub:
        r = retention.AmiRetention(lambda _service, _region: ec2, IMAGE_NAME, ["us-east-1"], target="aws", page_size=5)
        plan = r.plan(count=1, now=NOW)
    stub.assert_no_pending_responses()
    assert [e["version"] for e in plan["kept"]] == ["2.0.0"]
    assert [e["version"] for e in plan["remove"]] == ["1.0.0"]


def test_ami_tags_are_checked_again_after_the_filter():
    """An endpoint that ignored the filters still could not make retention touch an AMI without our tags."""
    class Pages:
        def paginate(self, **_):
            return [{"Images": [
                {"ImageId": "ami-0000000000000000a", "Tags": tagged("ami-0000000000000000a", ami_tags("1.0.0", "x", 99))},
                {"ImageId": "ami-0000000000000000b", "Tags": [{"Key": "Name", "Value": "webapp-0.1.0"}]},
                {"ImageId": "ami-0000000000000000c",
                 "Tags": tagged("ami-0000000000000000c",
                                {k: v for k, v in ami_tags("0.2.0", "y", 99).items() if k != naming.LABEL_BUILD_ID})},
            ]}]

    class Client:
        def get_paginator(self, _name):
            return Pages()
    r = retention.AmiRetention(lambda _s, _r: Client(), IMAGE_NAME, ["us-east-1"], target="aws")
    plan = r.plan(count=0, now=NOW)
    assert [e["id"] for e in plan["remove"]] == ["ami-0000000000000000a"]
    assert plan["kept"] == [] and plan["skipped"] == []


def test_a_pending_ami_is_left_to_a_later_run():
    class Pages:
        def paginate(self, **_):
            return [{"Images": [
                {"ImageId": "ami-0000000000000000a", "State": "pending", "Tags": tagged("ami-0000000000000000a", ami_tags("1.0.0", "x", 99))},
                {"ImageId": "ami-0000000000000000b", "State": "available", "Tags": tagged("ami-0000000000000000b", ami_tags("0.9.0", "y", 99))},
            ]}]

    class Client:
        def get_paginator(self, _name):
            return Pages()
    plan = retention.AmiRetention(lambda _s, _r: Client(), IMAGE_NAME, ["us-east-1"]).plan(count=0, now=NOW)
    assert [e["id"] for e in plan["remove"]] == ["ami-0000000000000000b"]
    assert [(e["id"], e["reason"]) for e in plan["skipped"]] == [("ami-0000000000000000a", "AMI is pending, not available yet")]


def test_an_ami_copy_made_outside_the_build_is_never_reused_or_deregistered(aws, amis):
    """A CopyImage someone makes of our artifact, with our tags copied onto it (CopyImageTags, or by hand):
    it lacks its own id in immutable.images.ami-id, so neither reuse nor retention takes it for ours."""
    from ansible_collections.immutable.images.plugins.module_utils._artifacts import reuse as built_artifacts

    ec2 = aws.client("ec2")
    original = amis["1.11.0"][0]
    ec2.create_tags(Resources=[original], Tags=[{"Key": built_artifacts.LABEL_BASE_ID, "Value": "ami-src"}])
    copy_id = ec2.copy_image(SourceRegion="us-east-1", SourceImageId=original, Name="someones-copy")["ImageId"]
    ours = {t["Key"]: t["Value"] for t in ec2.describe_images(ImageIds=[original])["Images"][0]["Tags"]}
    ec2.create_tags(Resources=[copy_id], Tags=naming.aws_tag_list(ours))  # every tag, ami-id included

    # reuse: the copy is newer and has the same build id, hash and base; the original is still the one found
    found = built_artifacts.find_amis(aws.factory, ["us-east-1"], IMAGE_NAME, "aws", "abc123", "ami-src")
    assert found["us-east-1"]["image_id"] == original

    # retention keeping only the copy's "version" would deregister everything else of ours, never the copy
    r = retention.AmiRetention(aws.factory, IMAGE_NAME, ["us-east-1"], target="aws", waits=aws.waits)
    plan = r.plan(count=1, current=[original], now=NOW)
    listed = [i for e in plan["remove"] + plan["kept"] + plan["skipped"] for i in [e["id"]] + list(e.get("ids") or [])]
    assert original in listed and copy_id not in listed
    assert r.apply(plan)["errors"] == []
    assert exists(ec2, copy_id) and exists(ec2, original)
