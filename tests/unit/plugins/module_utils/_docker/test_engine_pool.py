"""Placement on a pool of engines (engine_pool): which engine, max_builds, skipped engines, the base image."""

from __future__ import annotations

import os
import random
import uuid

import pytest

from ansible_collections.immutable.images.plugins.module_utils._docker import engine_pool
from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure, RefusedEngine, docker_errors


def test_normalize_takes_strings_and_dicts_and_makes_tls_paths_absolute():
    pool = engine_pool.normalize(["unix:///a.sock", {"docker_host": "tcp://b:2376", "tls": {"ca_cert": "e/ca.pem", "verify": True},
                                                     "max_builds": 2}], "/src")
    assert pool == [{"docker_host": "unix:///a.sock", "tls": None, "max_builds": None},
                    {"docker_host": "tcp://b:2376", "tls": {"ca_cert": "/src/e/ca.pem", "verify": True}, "max_builds": 2}]


def load(count, max_builds=None, has_base=True):
    return {"count": count, "max_builds": max_builds, "has_base": has_base}


def test_choose_the_least_busy_engine_with_room():
    assert engine_pool.choose([load(3), load(1), load(2)]) == 1
    assert engine_pool.choose([load(2, 2), load(5)]) == 1
    assert engine_pool.choose([load(2, 2), load(1, 1)]) is None


def test_among_equally_busy_engines_one_with_the_base_image_then_any():
    assert engine_pool.choose([load(1, has_base=False), load(1)]) == 1
    picks = {engine_pool.choose([load(0), load(0)], random.Random(seed)) for seed in range(20)}
    assert picks == {0, 1}  # builds placed at the same moment spread over the pool


def test_a_builder_beyond_max_builds_is_not_admitted():
    builders = [(10, "b"), (10, "c"), (11, "a")]  # oldest first; same second: by id
    assert engine_pool.admitted(builders, "b", 2) and engine_pool.admitted(builders, "c", 2)
    assert not engine_pool.admitted(builders, "a", 2)
    assert engine_pool.admitted(builders, "a", None)


def test_builders_created_in_the_same_second_are_in_the_order_the_engine_created_them():
    """The list's Created has whole seconds: by id, "aaa" (created later) came first for whoever looked after both
    existed, while "zzz" had seen itself alone and first - both stayed on an engine with one place."""
    engine = FakeEngine("tcp://a:2376")
    engine.builders = [(1796402000, "zzz"), (1796402000, "aaa")]
    engine.created_text = {"zzz": "2026-12-04T16:33:20.5Z", "aaa": "2026-12-04T16:33:20.700000001Z"}
    assert [cid for _t, cid in engine_pool.builders_on(engine, precise=True)] == ["zzz", "aaa"]
    assert not engine_pool.admitted(engine_pool.builders_on(engine, precise=True), "aaa", 1)
    assert [cid for _t, cid in engine_pool.builders_on(engine)] == ["aaa", "zzz"]  # seconds only: by id
    engine.created_text = {"zzz": "2026-12-04T17:33:20.5+01:00", "aaa": "2026-12-04T16:33:20Z"}  # zones, no fraction
    assert [cid for _t, cid in engine_pool.builders_on(engine, precise=True)] == ["aaa", "zzz"]


@pytest.mark.docker
def test_on_the_engine_builders_are_in_the_order_they_were_created(client):
    """Pairs of builders created back to back (mostly within one second, their ids in either order): the precise
    order is the order of creation every time."""
    base = os.environ.get("IMMUTABLE_BASE_IMAGE", "immutable-images/debian-python:bookworm")
    labels = {naming.LABEL_KIND: naming.KIND_BUILDER, naming.LABEL_BUILD_ID: "arch-unit-%s" % uuid.uuid4().hex[:8]}
    made = []
    try:
        for _pair in range(6):
            pair = [client.api.create_container(base, ["true"], labels=labels)["Id"] for _one in range(2)]
            made += pair
            ours = [cid for _t, cid in engine_pool.builders_on(client, precise=True) if cid in pair]
            assert ours == pair
    finally:
        for cid in made:
            client.api.remove_container(cid, force=True)


class FakeImages:
    def __init__(self, engine):
        self.engine = engine

    def get(self, image):
        if image not in self.engine.images_present:
            raise docker_errors.ImageNotFound("no such image")
        return image

    def pull(self, image, platform=None, auth_config=None):
        if not self.engine.can_pull:
            raise docker_errors.APIError("pull access denied")
        self.engine.pulled_with = auth_config
        self.engine.images_present.add(image)
        return image


class FakeApi:
    def __init__(self, engine):
        self.engine = engine
        self.immutable_engine = {"url": engine.url}
        self.timeout = 5

    def containers(self, **kwargs):
        assert kwargs["all"] and kwargs["filters"]["label"] == "%s=%s" % (naming.LABEL_KIND, naming.KIND_BUILDER)
        return [{"Id": cid, "Created": created} for created, cid in self.engine.builders]

    def inspect_container(self, cid):
        created = dict((c, t) for t, c in self.engine.builders)[cid]
        return {"Created": self.engine.created_text.get(cid) or "1970-01-01T00:%02d:%02dZ" % divmod(created, 60)}

    def get_image(self, image):
        return iter([b"tar of " + image.encode()])

    def load_image(self, data):
        self.engine.loaded.append(b"".join(data))
        self.engine.images_present.add("base:1")
        return iter([{"stream": "Loaded image: base:1"}])


class FakeEngine:
    def __init__(self, url, builders=0, images=("base:1",), can_pull=False, answers=True):
        self.url, self.answers, self.can_pull = url, answers, can_pull
        self.builders = [(i, "old%d" % i) for i in range(builders)]
        self.images_present, self.loaded = set(images), []
        self.created_text = {}  # the engine's Created of a builder, where a test gives one
        self.images, self.api = FakeImages(self), FakeApi(self)


def pool_of(*engines):
    by_host = {e.url: e for e in engines}

    def client_for(engine):
        fake = by_host[engine["docker_host"]]
        if not fake.answers:
            raise DockerFailure("client", "cannot reach the Docker engine at %s: connection refused" % fake.url)
        return fake
    return [{"docker_host": e.url, "tls": None, "max_builds": 2} for e in engines], client_for


def starter(created_at=100, rivals=None):
    """start(): creates a builder on the engine (and rivals created in the same instant), asks admit()."""
    def start(client, admit):
        for rival in (rivals or {}).get(client.url, []):
            client.builders.append(rival)
        client.builders.append((created_at, "ours"))
        client.builders.sort()
        if not admit("ours"):
            client.builders.remove((created_at, "ours"))
            raise engine_pool.NotAdmitted("ours")
        return "started on %s" % client.url
    return start


def test_place_goes_to_the_least_busy_engine_and_says_how_the_base_got_there():
    a, b = FakeEngine("tcp://a:2376", builders=1), FakeEngine("tcp://b:2376", builders=0)
    pool, client_for = pool_of(a, b)
    engine, client, result, notes = engine_pool.place(pool, "base:1", "missing", starter(), client_for=client_for,
                                                      timeout=120, name="builder-1")
    assert engine["docker_host"] == "tcp://b:2376" and result == "started on tcp://b:2376" and client.api.timeout == 120
    assert notes == ["builder-1: placed on tcp://b:2376 (0 builder(s) there before, max_builds 2); base image present on tcp://b:2376"]


def test_an_engine_that_does_not_answer_is_skipped_with_one_message():
    a, b = FakeEngine("tcp://a:2376", answers=False), FakeEngine("tcp://b:2376", builders=1)
    pool, client_for = pool_of(a, b)
    engine, _client, _result, notes = engine_pool.place(pool, "base:1", "missing", starter(), client_for=client_for)
    assert engine["docker_host"] == "tcp://b:2376"
    assert notes[0] == "image_engines: the engine at tcp://a:2376 does not answer, skipped: cannot reach the Docker engine at tcp://a:2376: connection refused"
    assert len(notes) == 2


def test_a_podman_service_in_the_pool_fails_the_placement_instead_of_being_skipped():
    """Not an engine that is down: bad input, as the plan says before anything starts."""
    a, b = FakeEngine("unix:///run/podman/podman.sock"), FakeEngine("tcp://b:2376")
    pool, answering = pool_of(a, b)

    def client_for(engine):
        if engine["docker_host"] == a.url:
            raise RefusedEngine("client", "the engine at %s is Podman 4.3.1" % a.url)
        return answering(engine)
    with pytest.raises(RefusedEngine, match="is Podman 4.3.1"):
        engine_pool.probe(pool, client_for=client_for)
    with pytest.raises(RefusedEngine, match="is Podman 4.3.1"):
        engine_pool.place(pool, "base:1", "missing", starter(), client_for=client_for)
    assert b.builders == [] and a.builders == []


def test_no_engine_answers():
    pool, client_for = pool_of(FakeEngine("tcp://a:2376", answers=False))
    with pytest.raises(DockerFailure, match=r"image_engines: no engine of the pool answers \(tcp://a:2376: cannot reach"):
        engine_pool.place(pool, "base:1", "missing", starter(), client_for=client_for)


def test_a_builder_that_lost_the_race_for_the_last_place_tries_the_next_engine():
    a, b = FakeEngine("tcp://a:2376", builders=1), FakeEngine("tcp://b:2376", builders=1, images=())
    b.images_present = set()  # a is preferred (it has the base image); a rival takes a's last place first
    pool, client_for = pool_of(a, b)
    sleeps = []
    engine, _client, _result, notes = engine_pool.place(
        pool, "base:1", "never", starter(rivals={"tcp://a:2376": [(99, "rival")]}), client_for=client_for,
        sleep=sleeps.append, rand=random.Random(1))
    assert engine["docker_host"] == "tcp://b:2376" and len(sleeps) == 1
    assert ("ours" not in [cid for _c, cid in a.builders]) and (100, "ours") in b.builders
    # pull: never and the base only on a: copied through the controller
    assert b.loaded == [b"tar of base:1"]
    assert notes[-1].endswith("base image copied from tcp://a:2376 to tcp://b:2376 (docker save | docker load through the controller)")


def test_every_engine_full_waits_then_fails_naming_the_pool():
    a = FakeEngine("tcp://a:2376", builders=2)
    pool, client_for = pool_of(a)
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds
    with pytest.raises(DockerFailure, match="every engine stayed at its max_builds for 60 s \\(tcp://a:2376: 2\\)"):
        engine_pool.place(pool, "base:1", "missing", starter(), client_for=client_for, wait=60, clock=lambda: now[0], sleep=sleep)
    assert now[0] > 60


def test_a_base_image_nowhere_in_the_pool_fails_naming_the_engine():
    a, b = FakeEngine("tcp://a:2376", images=()), FakeEngine("tcp://b:2376", images=(), builders=1)
    pool, client_for = pool_of(a, b)
    with pytest.raises(DockerFailure, match=r"base image base:1 is not on the engine at tcp://a:2376, cannot pull it: pull "
                                            r"access denied, and no other engine of image_engines has it"):
        engine_pool.place(pool, "base:1", "missing", starter(), client_for=client_for)


def test_pull_missing_pulls_on_the_chosen_engine():
    a = FakeEngine("tcp://a:2376", images=(), can_pull=True)
    pool, client_for = pool_of(a)
    _engine, _client, _result, notes = engine_pool.place(pool, "base:1", "missing", starter(), client_for=client_for)
    assert notes[-1].endswith("base image pulled on tcp://a:2376") and not a.loaded
    assert a.pulled_with is None  # the Docker client configuration's credentials (docker login)


def test_the_base_images_registry_credentials_go_with_the_pull():
    a = FakeEngine("tcp://a:2376", images=(), can_pull=True)
    pool, client_for = pool_of(a)
    auth = {"username": "puller", "password": "secret"}
    engine_pool.place(pool, "base:1", "always", starter(), client_for=client_for, pull_auth=auth)
    assert a.pulled_with == auth
