# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cleanup.py: Docker timestamps, and finding/removing temporary resources by label (fake engine)."""

from __future__ import annotations

import datetime
import threading

import pytest

from ansible_collections.immutable.images.plugins.module_utils._docker import janitor as cleanup
from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure, docker_errors

UTC = datetime.timezone.utc
BUILD = "20261123T2135Z-7f3a"


@pytest.mark.parametrize("text, expected", [
    ("2026-11-23T21:35:07.123456789Z", datetime.datetime(2026, 11, 23, 21, 35, 7, 123456, tzinfo=UTC)),
    ("2026-11-23T21:35:07Z", datetime.datetime(2026, 11, 23, 21, 35, 7, tzinfo=UTC)),
    ("2026-11-23T21:35:07.5Z", datetime.datetime(2026, 11, 23, 21, 35, 7, 500000, tzinfo=UTC)),
    ("2026-11-23T21:35:07+00:00", datetime.datetime(2026, 11, 23, 21, 35, 7, tzinfo=UTC)),
    ("2026-11-23T23:35:07+02:00", datetime.datetime(2026, 11, 23, 21, 35, 7, tzinfo=UTC)),
    ("2026-11-23T16:35:07-05:00", datetime.datetime(2026, 11, 23, 21, 35, 7, tzinfo=UTC)),
    ("2026-11-23T21:35:07", datetime.datetime(2026, 11, 23, 21, 35, 7, tzinfo=UTC)),  # naive means UTC
    ("0001-01-01T00:00:00Z", datetime.datetime(1, 1, 1, tzinfo=UTC)),  # Docker's "never"
])
def test_parse_time(text, expected):
    moment = cleanup.parse_time(text)
    assert moment == expected
    assert moment.tzinfo is not None


def test_parse_time_keeps_offset():
    moment = cleanup.parse_time("2026-11-23T23:35:07+02:00")
    assert moment.utcoffset() == datetime.timedelta(hours=2)


FRACTION_OFFSET_BUG = ("parse_time collects *every* digit after the '.' (including the offset's) as the "
                       "fraction and then cuts `rest` by that count, so the offset is lost and the time is off "
                       "by it: take only the leading digits (cleanup.py parse_time, the `frac = ...` line)")


@pytest.mark.parametrize("text, expected", [
    ("2026-11-23T23:35:07.987654321+02:00", datetime.datetime(2026, 11, 23, 21, 35, 7, 987654, tzinfo=UTC)),
    ("2026-11-23T16:35:07.1-05:00", datetime.datetime(2026, 11, 23, 21, 35, 7, 100000, tzinfo=UTC)),
])
def test_parse_time_fraction_with_offset(text, expected):
    assert cleanup.parse_time(text) == expected


@pytest.mark.parametrize("text", [None, "", "garbage", "2026-13-01T00:00:00Z", "2026-11-23T25:00:00Z",
                                  "yesterday", "23/11/2026 21:35", 12])
def test_parse_time_garbage_is_none(text):
    assert cleanup.parse_time(text) is None


# --- the janitor, against a small fake engine -------------------------------------------------

class Obj:
    def __init__(self, rid, name, created, labels, comment=None, status="exited", tags=()):
        self.id = rid
        self.tags = list(tags)
        self.name = name
        self.short_id = rid[:19]
        self.labels = labels
        self.status = status
        # what a commit by the build of the labels sets; an image built FROM it has its labels, not this
        made_by = naming.build_comment(labels.get(naming.LABEL_BUILD_ID)) if labels.get(naming.LABEL_BUILD_ID) else ""
        self.attrs = {"Created": created, "Config": {"Labels": labels}, "Comment": made_by if comment is None else comment}


class FakeContainers:
    def __init__(self, engine):
        self.engine = engine

    def list(self, all=False, filters=None, ignore_removed=False):
        assert ignore_removed, "a container removed while listed (by another build) would fail the listing"
        self.engine.queries.append(("containers", all, filters))
        return list(self.engine.containers_)


class FakeImages:
    def __init__(self, engine):
        self.engine = engine

    def list(self, filters=None):
        self.engine.queries.append(("images", filters))
        return list(self.engine.images_)

    def get(self, rid):
        for image in self.engine.images_:
            if image.id == rid:
                return image
        raise docker_errors.ImageNotFound("no such image: %s" % rid)


class FakeApi:
    def __init__(self, engine):
        self.engine = engine

    def images(self, filters=None):
        """The raw listing (Id, Labels), as the engine gives it; not filtered."""
        self.engine.queries.append(("images", filters))
        return [{"Id": image.id, "Labels": image.labels} for image in self.engine.images_]

    def remove_container(self, rid, force=False, v=False):
        self.engine.removed.append(("container", rid, force, v))
        self.engine.maybe_fail(rid)

    def remove_image(self, rid, force=False):
        self.engine.removed.append(("image", rid, force))
        self.engine.maybe_fail(rid)


class InUse:
    status_code = 409
    reason = "Conflict"


class FakeClient:
    """The engine's filtering is not emulated: the fake returns what it holds and records the filters."""

    def __init__(self, containers=(), images=(), gone=(), failing=()):
        self.containers_ = list(containers)
        self.images_ = list(images)
        self.gone, self.failing, self.in_use = set(gone), set(failing), set()
        self.queries, self.removed = [], []
        self.containers = FakeContainers(self)
        self.images = FakeImages(self)
        self.api = FakeApi(self)

    def maybe_fail(self, rid):
        if rid in self.in_use:
            raise docker_errors.APIError("conflict: unable to remove repository reference %s (must force)" % rid,
                                         response=InUse())
        if rid in self.gone:
            raise docker_errors.NotFound("no such object: %s" % rid)
        if rid in self.failing:
            raise docker_errors.APIError("conflict: %s is busy" % rid)


def labels(kind=naming.KIND_BUILDER, build=BUILD, target="container"):
    return {naming.LABEL_BUILD_ID: build, naming.LABEL_KIND: kind, naming.LABEL_IMAGE_NAME: "webapp",
            naming.LABEL_TARGET: target}


OLD = "2026-11-20T10:00:00.123456789Z"
NEW = "2026-11-23T21:00:00Z"
CUTOFF = datetime.datetime(2026, 11, 22, tzinfo=UTC)


def engine():
    return FakeClient(
        containers=[Obj("c1" * 32, "immutable-webapp-container-" + BUILD, OLD, labels()),
                    Obj("c2" * 32, "immutable-webapp-other-" + BUILD, NEW, labels(target="other"))],
        images=[Obj("sha256:" + "1" * 64, None, OLD, labels(kind=naming.KIND_CACHE)),
                Obj("sha256:" + "2" * 64, None, NEW, labels(kind=naming.KIND_CACHE))])


def test_find_by_build_id_filters_on_label_and_builder_kind():
    client = engine()
    found = cleanup.DockerJanitor(client).find(build_id=BUILD)
    (builders_query, verify_query, pins_query, claims_query, images_query) = client.queries
    assert builders_query[0] == "containers" and builders_query[1] is True  # stopped ones too
    assert sorted(builders_query[2]["label"]) == sorted(["immutable.images.build-id=" + BUILD,
                                                         "immutable.images.kind=builder"])
    # the containers of run tests (docker_run_test) are temporary too; label filters are ANDed,
    # hence a query of their own
    assert verify_query[0] == "containers" and verify_query[1] is True
    assert sorted(verify_query[2]["label"]) == sorted(["immutable.images.build-id=" + BUILD,
                                                       "immutable.images.kind=verify"])
    # and the pins of cache layers a build looked up (layer_cache.py)
    assert sorted(pins_query[2]["label"]) == sorted(["immutable.images.build-id=" + BUILD,
                                                     "immutable.images.kind=cache-pin"])
    # and the claims of artifacts (artifact_claim.py)
    assert sorted(claims_query[2]["label"]) == sorted(["immutable.images.build-id=" + BUILD,
                                                       "immutable.images.kind=claim"])
    # every build's untagged images in one listing (each listing scans every image on the engine): this build's are
    # taken from it by their labels
    assert images_query[1] == {"dangling": True, "label": "immutable.images.build-id"}
    # the fake answers every query with every container: each is reported once
    assert [(r["kind"], r["id"]) for r in found] == [
        ("container", "c1" * 32), ("container", "c2" * 32),
        ("image", "sha256:" + "1" * 64), ("image", "sha256:" + "2" * 64)]


def test_find_without_build_id_matches_any_build():
    client = engine()
    cleanup.DockerJanitor(client).find()
    assert "immutable.images.build-id" in client.queries[0][2]["label"]
    assert "immutable.images.kind=builder" in client.queries[0][2]["label"]
    assert "immutable.images.kind=verify" in client.queries[1][2]["label"]
    assert "immutable.images.kind=cache-pin" in client.queries[2][2]["label"]
    assert "immutable.images.kind=claim" in client.queries[3][2]["label"]
    assert client.queries[4][1]["label"] == "immutable.images.build-id"
    assert client.queries[4][1]["dangling"] is True


class KindFilteringContainers(FakeContainers):
    def list(self, all=False, filters=None, ignore_removed=False):
        super().list(all=all, filters=filters, ignore_removed=ignore_removed)
        kinds = [lbl.split("=", 1)[1] for lbl in filters["label"] if lbl.startswith(naming.LABEL_KIND + "=")]
        return [c for c in self.engine.containers_ if c.labels.get(naming.LABEL_KIND) in kinds]


def test_find_includes_run_test_containers_and_never_artifacts():
    client = FakeClient(containers=[
        Obj("c1" * 32, "immutable-webapp-container-" + BUILD, OLD, labels()),
        Obj("c3" * 32, "immutable-webapp-container-%s-verify-1a2b" % BUILD, OLD, labels(kind=naming.KIND_VERIFY)),
        Obj("c4" * 32, "someone-elses", OLD, labels(kind=naming.KIND_ARTIFACT))])
    client.containers = KindFilteringContainers(client)
    found = cleanup.DockerJanitor(client).find(build_id=BUILD)
    assert [(r["kind"], r["id"]) for r in found] == [("container", "c1" * 32), ("container", "c3" * 32)]


def test_find_describes_resources():
    found = cleanup.DockerJanitor(engine()).find(build_id=BUILD)
    assert found[0] == {"kind": "container", "id": "c1" * 32, "name": "immutable-webapp-container-" + BUILD,
                        "build_id": BUILD, "image_name": "webapp", "target": "container",
                        "created": "2026-11-20T10:00:00Z"}
    assert found[2]["name"] == ("sha256:" + "1" * 64)[:19]


def test_find_keep_list_by_name_or_id():
    keep = ["immutable-webapp-container-" + BUILD, "sha256:" + "2" * 64]
    found = cleanup.DockerJanitor(engine()).find(keep=keep)
    assert [r["id"] for r in found] == ["c2" * 32, "sha256:" + "1" * 64]


def test_find_keep_container_by_id():
    found = cleanup.DockerJanitor(engine()).find(keep={"c2" * 32})
    assert "c2" * 32 not in [r["id"] for r in found]
    assert "c1" * 32 in [r["id"] for r in found]


def test_find_older_than():
    found = cleanup.DockerJanitor(engine()).find(older_than=CUTOFF)
    assert [r["id"] for r in found] == ["c1" * 32, "sha256:" + "1" * 64]


def test_find_older_than_skips_unparsable_times():
    client = FakeClient(containers=[Obj("c3" * 32, "x", "garbage", labels())],
                        images=[Obj("i", None, None, labels(kind=naming.KIND_CACHE))])
    assert cleanup.DockerJanitor(client).find(older_than=CUTOFF) == []
    # without an age limit they are found (by label alone)
    assert len(cleanup.DockerJanitor(client).find()) == 2


def test_remove_containers_before_images():
    client = engine()
    janitor = cleanup.DockerJanitor(client)
    found = janitor.find()
    removed = janitor.remove(list(reversed(found)))
    kinds = [r[0] for r in client.removed]
    assert kinds == ["container", "container", "image", "image"]
    assert sorted(removed) == sorted(r["id"] for r in found)
    for call in client.removed:
        if call[0] == "container":
            assert call[2:] == (True, True)  # force, and anonymous volumes too
        else:
            assert call[2] is False  # an image a container still uses is left, never forced away


def test_remove_already_gone_counts_as_removed():
    client = engine()
    client.gone = {"c1" * 32}
    janitor = cleanup.DockerJanitor(client)
    assert "c1" * 32 in janitor.remove(janitor.find())


def test_remove_reports_failures_after_trying_everything():
    client = engine()
    client.failing = {"c2" * 32}
    janitor = cleanup.DockerJanitor(client)
    with pytest.raises(DockerFailure) as info:
        janitor.remove(janitor.find())
    assert info.value.stage == "cleanup"
    assert "immutable-webapp-other-" + BUILD in str(info.value)
    assert len(client.removed) == 4  # the failure did not stop the others


def test_remove_nothing():
    assert cleanup.DockerJanitor(FakeClient()).remove([]) == []


def test_a_running_builder_with_a_lease_is_live_wherever_its_controller_runs():
    """No host name or pid: a builder that removes itself when its controller goes away (a lease) is live while
    it runs; one without a lease, or stopped, is a leftover once it is older than the janitor's age."""
    def builder(rid, name, status, leased):
        c = Obj(rid, name, OLD, labels(), status=status)
        c.attrs["HostConfig"] = {"AutoRemove": leased}  # a leased builder is created with AutoRemove
        return c

    assert cleanup.build_alive(builder("c1" * 32, "b", "running", True))
    assert not cleanup.build_alive(builder("c1" * 32, "b", "exited", True))
    assert cleanup.build_alive(builder("c1" * 32, "b", "paused", True))  # being committed
    assert not cleanup.build_alive(builder("c1" * 32, "b", "running", False))
    client = FakeClient(containers=[builder("c1" * 32, "immutable-webapp-container-" + BUILD, "running", True),
                                    builder("c2" * 32, "immutable-webapp-container-" + OTHER, "running", False)])
    client.containers_[1].labels = labels(build=OTHER)
    assert [r["id"] for r in cleanup.DockerJanitor(client).find(older_than=CUTOFF)] == ["c2" * 32]


OTHER = "20261123T2000Z-0b1c"


def test_a_run_test_container_is_live_until_its_timeout_has_passed():
    """A run test runs the image's own command: no stdin lease ends it, its timeout does. Within its lease (labelled
    in seconds from its creation) it and everything of its build are a live build's, whatever the janitor's age,
    running or not (the run test still reads its logs and removes it); after it, or without a lease, leftovers."""
    created = datetime.datetime(2026, 11, 23, 21, 0, tzinfo=UTC)

    def run_test(rid, build, lease, status="running"):
        extra = {} if lease is None else {naming.LABEL_LEASE_SECONDS: lease}
        return Obj(rid, "verify-" + rid[:2], NEW, dict(labels(kind=naming.KIND_VERIFY, build=build), **extra), status=status)

    within = created + datetime.timedelta(seconds=179)
    assert cleanup.build_alive(run_test("c1" * 32, BUILD, "180"), now=within)
    assert cleanup.build_alive(run_test("c1" * 32, BUILD, "180", status="exited"), now=within)
    assert not cleanup.build_alive(run_test("c1" * 32, BUILD, "180"), now=created + datetime.timedelta(seconds=181))
    assert not cleanup.build_alive(run_test("c1" * 32, BUILD, None), now=within)
    assert not cleanup.build_alive(run_test("c1" * 32, BUILD, "soon"), now=within)
    # the live run test's build keeps its untagged candidate; a run test past its lease goes with its candidate
    live, past = run_test("c1" * 32, BUILD, "3600"), run_test("c2" * 32, OTHER, "1")
    candidate = Obj("sha256:" + "1" * 64, None, OLD, labels(kind=naming.KIND_ARTIFACT))
    other_candidate = Obj("sha256:" + "2" * 64, None, OLD, labels(kind=naming.KIND_ARTIFACT, build=OTHER))
    client = FakeClient(containers=[live, past], images=[candidate, other_candidate])
    client.containers = KindFilteringContainers(client)
    future = datetime.datetime.now(UTC) + datetime.timedelta(days=1)
    live.attrs["Created"] = naming.iso_utc()  # past: created days ago, with a lease of a second
    assert [r["id"] for r in cleanup.DockerJanitor(client).find(older_than=future)] == [past.id, other_candidate.id]


def leased(rid, build):
    c = Obj(rid, "immutable-webapp-container-" + build, OLD, labels(build=build), status="running")
    c.attrs["HostConfig"] = {"AutoRemove": True}
    return c


def test_the_janitor_takes_nothing_of_a_build_that_still_runs():
    """A live build's cache pin (created, never started), run-test container and the untagged image it is about
    to tag are left; a dead build's of the same age are not. The end of the build itself finds its own."""
    pin = Obj("c3" * 32, "pin", OLD, labels(kind=naming.KIND_CACHE_PIN), status="created")
    verify = Obj("c4" * 32, "verify", OLD, labels(kind=naming.KIND_VERIFY), status="exited")
    dead_pin = Obj("c5" * 32, "dead-pin", OLD, labels(kind=naming.KIND_CACHE_PIN, build=OTHER), status="created")
    committing = Obj("sha256:" + "1" * 64, None, OLD, labels(kind=naming.KIND_CACHE))
    dead_image = Obj("sha256:" + "2" * 64, None, OLD, labels(kind=naming.KIND_CACHE, build=OTHER))
    client = FakeClient(containers=[leased("c1" * 32, BUILD), pin, verify, dead_pin], images=[committing, dead_image])
    client.containers = KindFilteringContainers(client)
    janitor = cleanup.DockerJanitor(client)
    assert [r["id"] for r in janitor.find(older_than=CUTOFF)] == [dead_pin.id, dead_image.id]
    assert {pin.id, verify.id, committing.id} <= {r["id"] for r in janitor.find(build_id=BUILD)}


def test_the_janitor_can_be_limited_to_image_names():
    other_name = dict(labels(build=OTHER), **{naming.LABEL_IMAGE_NAME: "theirs"})
    client = FakeClient(containers=[Obj("c1" * 32, "a", OLD, labels()), Obj("c2" * 32, "b", OLD, other_name)],
                        images=[Obj("sha256:" + "1" * 64, None, OLD, labels(kind=naming.KIND_CACHE),
                                    tags=["immutable-images-cache/webapp:k1"]),
                                Obj("sha256:" + "2" * 64, None, OLD, dict(other_name, **{naming.LABEL_KIND: "cache"}),
                                    tags=["immutable-images-cache/theirs:k1"])])
    janitor = cleanup.DockerJanitor(client)
    assert [r["id"] for r in janitor.find(older_than=CUTOFF, image_names=["webapp"])] == ["c1" * 32, "sha256:" + "1" * 64]
    assert [r["id"] for r in janitor.stale_cache(0, image_names=["webapp"])] == ["sha256:" + "1" * 64]
    assert len(janitor.stale_cache(0)) == 2


def test_stale_cache_layers_go_by_their_tags_unforced_and_a_layer_in_use_stays():
    """The engine refuses (409) to delete the last tag of an image a container uses - a build's pin, or its
    builder - in the same step as the delete: the layer stays, and that is not an error."""
    layers = [Obj("sha256:%s" % (str(n) * 64), None, "2026-11-2%dT10:00:00Z" % n, labels(kind=naming.KIND_CACHE),
                  tags=["immutable-images-cache/webapp:k%d" % n, "someone/else:%d" % n]) for n in (1, 2, 3)]
    client = FakeClient(images=layers)
    client.in_use = {"immutable-images-cache/webapp:k1"}
    janitor = cleanup.DockerJanitor(client)
    stale = janitor.stale_cache(1)
    assert [r["refs"] for r in stale] == [["immutable-images-cache/webapp:k2"], ["immutable-images-cache/webapp:k1"]]
    assert janitor.remove(stale) == [layers[1].id]
    assert client.removed == [("image", "immutable-images-cache/webapp:k2", False),
                              ("image", "immutable-images-cache/webapp:k1", False)]


def test_an_image_built_from_ours_is_never_taken_for_ours():
    """Untagged images with our labels: only those whose comment names the build of their labels are ours."""
    ours = Obj("sha256:" + "1" * 64, None, OLD, labels(kind=naming.KIND_ARTIFACT))
    child = Obj("sha256:" + "2" * 64, None, OLD, labels(kind=naming.KIND_ARTIFACT), comment="")
    forged = Obj("sha256:" + "3" * 64, None, OLD, labels(kind=naming.KIND_ARTIFACT),
                 comment=naming.build_comment("20261101T0000Z-000000"))
    client = FakeClient(images=[ours, child, forged])
    janitor = cleanup.DockerJanitor(client)
    assert [r["id"] for r in janitor.find(older_than=CUTOFF)] == [ours.id]
    assert [r["id"] for r in janitor.find(build_id=BUILD, superseded_of="webapp")] == [ours.id]


def test_one_listing_gives_this_builds_untagged_images_and_the_artifacts_a_rebuild_superseded():
    """From the one listing of untagged build images: this build's, and the artifacts of the same image name that lost
    their last tag (whatever build made them); not another build's candidate, nor an artifact of another name. Only
    those are inspected."""
    other = "20261101T0000Z-000000"
    mine = Obj("sha256:" + "1" * 64, None, NEW, labels())
    superseded = Obj("sha256:" + "2" * 64, None, OLD, labels(kind=naming.KIND_ARTIFACT, build=other))
    others_candidate = Obj("sha256:" + "3" * 64, None, OLD, labels(build=other))
    other_name_labels = dict(labels(kind=naming.KIND_ARTIFACT, build=other), **{naming.LABEL_IMAGE_NAME: "api"})
    other_name = Obj("sha256:" + "4" * 64, None, OLD, other_name_labels)
    client = FakeClient(images=[mine, superseded, others_candidate, other_name])
    inspected = []
    get = client.images.get
    client.images.get = lambda rid: inspected.append(rid) or get(rid)
    found = cleanup.DockerJanitor(client).find(build_id=BUILD, superseded_of="webapp")
    assert [r["id"] for r in found] == [mine.id, superseded.id]
    assert inspected == [mine.id, superseded.id]
    listings = [q for q in client.queries if q[0] == "images"]
    assert listings == [("images", {"dangling": True, "label": "immutable.images.build-id"})]


def test_unfinished_artifacts_are_those_the_build_made_itself():
    """The rollback of an interrupted build: its tagged artifacts by their own comment, never an image built FROM
    one (same labels, inherited; its own comment), nor one whose comment names another build."""
    ours = Obj("sha256:" + "1" * 64, None, NEW, labels(kind=naming.KIND_ARTIFACT), tags=["webapp:1.0.0"])
    squashed = Obj("sha256:" + "4" * 64, None, NEW, labels(kind=naming.KIND_ARTIFACT),
                   comment=naming.build_comment(BUILD, "squashed by ci"), tags=["webapp:1.0.0-sq"])
    child = Obj("sha256:" + "2" * 64, None, NEW, labels(kind=naming.KIND_ARTIFACT), comment="", tags=["webapp:child"])
    committed_child = Obj("sha256:" + "3" * 64, None, NEW, labels(kind=naming.KIND_ARTIFACT), comment="my fix")
    untagged = Obj("sha256:" + "5" * 64, None, NEW, labels(kind=naming.KIND_ARTIFACT))  # find()'s: dangling
    client = FakeClient(images=[ours, squashed, child, committed_child, untagged])
    janitor = cleanup.DockerJanitor(client)
    found = janitor.unfinished_artifacts(BUILD)
    assert client.queries[-1][1] == {"label": ["immutable.images.build-id=" + BUILD, "immutable.images.kind=artifact"]}
    expected = [(ours.id, True, ["webapp:1.0.0"]), (squashed.id, True, ["webapp:1.0.0-sq"])]
    assert [(r["id"], r["tagged"], r["untag"]) for r in found] == expected
    # one that an image was built FROM cannot be deleted (409): it loses its tags, unforced
    client.in_use = {ours.id}
    assert janitor.remove(found) == [ours.id, squashed.id]
    assert client.removed == [("image", ours.id, True), ("image", "webapp:1.0.0", False), ("image", squashed.id, True)]


def test_containers_are_removed_at_once_and_their_images_after_them():
    """A build with several targets has a builder each: the engine removes them together, not one after another.
    Each removal here waits for the others to have started (a barrier): one at a time, the first would time out."""
    client = engine()
    containers = [dict(r) for r in cleanup.DockerJanitor(client).find() if r["kind"] == "container"]
    barrier = threading.Barrier(len(containers), timeout=5)
    remove_container = client.api.remove_container

    def together(rid, force=False, v=False):
        barrier.wait()
        remove_container(rid, force=force, v=v)
    client.api.remove_container = together
    found = cleanup.DockerJanitor(client).find()
    removed = cleanup.DockerJanitor(client).remove(found)
    assert sorted(removed) == sorted(r["id"] for r in found)
    assert [r[0] for r in client.removed] == ["container"] * len(containers) + ["image", "image"]
