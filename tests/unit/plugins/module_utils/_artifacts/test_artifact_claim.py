# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""artifact_claim.py: identical builds at once make one artifact (fake engine; the real race is in
tests/integration/test_security_and_concurrency.py::test_a_double_trigger_leaves_one_truthful_artifact)."""

from __future__ import annotations

import pytest

from ansible_collections.immutable.images.plugins.module_utils._artifacts import claim as artifact_claim
from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._artifacts.reuse import LABEL_BASE_ID
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure, docker_errors

ME, OTHER = "20261203T1900Z-aaaa01", "20261203T1900Z-bbbb02"
BASE = "sha256:" + "b" * 64


def labels(build_id, kind=naming.KIND_ARTIFACT):
    return dict(naming.build_labels(build_id, "webapp", "container", kind, "0123456789ab", "1.0.0"),
                **{LABEL_BASE_ID: BASE})


class Conflict:
    status_code = 409
    reason = "Conflict"


class Obj:
    def __init__(self, rid, attrs, tags=()):
        self.id, self.attrs, self.tags = rid, attrs, list(tags)
        self.status = attrs.get("State", {}).get("Status")
        self.labels = (attrs.get("Config") or {}).get("Labels") or {}


class EngineImages:
    """client.images and, the fake's api being the engine itself, client.api.images (the raw listing) at once."""

    def __init__(self, engine):
        self.engine = engine

    def __call__(self, filters=None):
        return [{"Id": o.id} for o in self.engine.list(filters)]

    def get(self, rid):
        for artifact in self.engine.artifacts:
            if artifact.id == rid:
                return artifact
        raise docker_errors.ImageNotFound(rid)


class Engine:
    """Containers by name, as the engine gives a name to one container only."""

    def __init__(self):
        self.by_name, self.builders, self.artifacts, self.tagged, self.on_sleep = {}, [], [], [], []
        self.api, self.containers, self.images = self, self, EngineImages(self)

    def create_container(self, image, name=None, labels=None, **kwargs):
        if name in self.by_name:
            raise docker_errors.APIError("Conflict. The container name is already in use", response=Conflict())
        self.by_name[name] = {"Id": "c-%s" % labels[naming.LABEL_BUILD_ID], "Config": {"Labels": labels}, "Image": image}
        return {"Id": self.by_name[name]["Id"]}

    def inspect_container(self, name):
        if name not in self.by_name:
            raise docker_errors.NotFound("no such container")
        return self.by_name[name]

    def remove_container(self, rid, force=False, v=False):
        assert v, "a claim of an image with a VOLUME has a volume of its own: removed with it"
        self.by_name = {n: c for n, c in self.by_name.items() if c["Id"] != rid}

    def list(self, filters=None, **_kwargs):
        wanted = dict(f.split("=", 1) for f in filters["label"] if "=" in f)
        source = self.builders if wanted.get(naming.LABEL_KIND) == naming.KIND_BUILDER else self.artifacts
        return [o for o in source if all(o.labels.get(k) == v for k, v in wanted.items())]

    def tag(self, image, repo, tag, force=False):
        self.tagged.append((image, "%s:%s" % (repo, tag)))

    def builder(self, build_id, running=True):
        self.builders.append(Obj("b-" + build_id, {"Config": {"Labels": labels(build_id, naming.KIND_BUILDER)},
                                                   "State": {"Status": "running" if running else "exited"},
                                                   "HostConfig": {"AutoRemove": True}}))
        self.builders[-1].status = "running" if running else "exited"

    def artifact(self, build_id, created="2026-12-03T19:00:00Z"):
        self.artifacts.append(Obj("sha256:" + build_id[-2:] * 32, {
            "Config": {"Labels": labels(build_id)}, "Created": created, "Comment": naming.build_comment(build_id)},
            tags=["webapp:1.0.0"]))


def claim(engine, **kwargs):
    def sleep(_seconds):
        if engine.on_sleep:
            engine.on_sleep.pop(0)()
    return artifact_claim.ArtifactClaim(engine, sleep=sleep, **kwargs)


def test_the_first_build_holds_the_claim_and_commits():
    engine = Engine()
    assert claim(engine).acquire(labels(ME), BASE) is None
    (held,) = engine.by_name.values()
    assert held["Config"]["Labels"][naming.LABEL_KIND] == naming.KIND_CLAIM  # cleanup removes it by build id
    assert held["Config"]["Labels"][naming.LABEL_BUILD_ID] == ME
    # the name depends on image name, target and build hash only: every identical build asks for the same one
    assert list(engine.by_name) == [artifact_claim.claim_name("webapp", "container", "0123456789ab")]


def test_an_identical_build_waits_for_the_holder_then_reuses_its_artifact():
    engine = Engine()
    claim(engine).acquire(labels(OTHER), BASE)
    engine.builder(OTHER)

    def holder_finishes():  # it commits, tags, pushes; its end-of-build cleanup removes the claim
        engine.artifact(OTHER)
        engine.by_name.clear()
    engine.on_sleep.append(holder_finishes)
    found = claim(engine).acquire(labels(ME), BASE, force=True)  # even with image_force: it was made meanwhile
    assert found["build_id"] == OTHER and found["image_id"] == engine.artifacts[0].id
    assert list(engine.by_name.values())[0]["Config"]["Labels"][naming.LABEL_BUILD_ID] == ME


def test_a_holder_that_failed_leaves_the_commit_to_the_next():
    engine = Engine()
    claim(engine).acquire(labels(OTHER), BASE)
    engine.builder(OTHER)
    engine.on_sleep.append(engine.by_name.clear)  # released without an artifact (its push failed and was undone)
    assert claim(engine).acquire(labels(ME), BASE) is None


def test_the_claim_of_a_killed_build_is_taken_over():
    engine = Engine()
    claim(engine).acquire(labels(OTHER), BASE)
    engine.builder(OTHER, running=False)  # its builder ended with its lease
    assert claim(engine).acquire(labels(ME), BASE) is None
    assert list(engine.by_name.values())[0]["Config"]["Labels"][naming.LABEL_BUILD_ID] == ME


def test_image_force_never_reuses_an_older_artifact_but_a_plain_build_does():
    engine = Engine()
    engine.artifact(OTHER)  # finished before this build committed (after its plan looked)
    assert claim(engine).acquire(labels(ME), BASE, force=True) is None
    engine.by_name.clear()
    assert claim(engine).acquire(labels(ME), BASE)["build_id"] == OTHER


def test_waiting_is_bounded():
    engine = Engine()
    claim(engine).acquire(labels(OTHER), BASE)
    engine.builder(OTHER)
    ticks = iter(range(0, 100000, 10))
    with pytest.raises(DockerFailure) as info:
        claim(engine, wait=30, clock=lambda: next(ticks)).acquire(labels(ME), BASE)
    assert info.value.stage == "commit" and OTHER in str(info.value)


def test_reused_image_is_tagged_and_never_deleted():
    engine = Engine()
    claim(engine).tag("sha256:" + "1" * 64, ["webapp:1.0.0", "registry.example.com/webapp"])
    assert engine.tagged == [("sha256:" + "1" * 64, "webapp:1.0.0"), ("sha256:" + "1" * 64, "registry.example.com/webapp:latest")]
