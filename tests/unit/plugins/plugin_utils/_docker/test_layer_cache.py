# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""layer_cache.py on the real engine: store a builder as a layer, find it by key, and re-create the builder from
it (swap) with the same name; the layer the plan expects a build to start from. Every name starts with arch-unit-;
the layers are removed afterwards."""

from __future__ import annotations

import os
import uuid

import pytest

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.builder import DockerBuilder
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure
from ansible_collections.immutable.images.plugins.plugin_utils._docker.layer_cache import (
    CACHE_REPOSITORY,
    LayerCache,
    cache_key,
    expected_layer,
)

BASE_IMAGE = os.environ.get("IMMUTABLE_BASE_IMAGE", "immutable-images/debian-python:bookworm")
pytestmark = pytest.mark.docker


@pytest.fixture
def builder(client):
    name = "arch-unit-%s" % uuid.uuid4().hex[:8]
    labels = {naming.LABEL_BUILD_ID: name}
    DockerBuilder(client).launch(name, BASE_IMAGE, labels, pull="never")
    yield client, name, labels
    DockerBuilder(client).remove(name)
    for image in client.images.list(name=CACHE_REPOSITORY % name):
        client.images.remove(image.id, force=True)


def test_store_find_and_swap(builder):
    client, name, labels = builder
    cache = LayerCache(client)
    assert cache.pin(name, "k1", labels) is None
    client.containers.get(name).exec_run(["sh", "-c", "echo layer > /opt/arch-layer"])
    layer = cache.store(name, "k1", name, labels)
    found, pin = cache.pin(name, "k1", labels)
    assert found == layer and cache.pin(name, "k2", labels) is None
    assert client.containers.get(pin).attrs["Image"] == layer  # the pin holds the layer
    cache.unpin(pin)
    cache.unpin(pin)  # gone already is fine
    assert client.images.get(layer).labels[naming.LABEL_KIND] == naming.KIND_CACHE
    client.containers.get(name).exec_run(["rm", "/opt/arch-layer"])
    cache.swap(name, layer, {"labels": labels})
    swapped = client.containers.get(name)
    assert swapped.attrs["Image"] == layer and swapped.status == "running"
    assert swapped.exec_run(["cat", "/opt/arch-layer"]).output == b"layer\n"


def test_store_of_a_missing_builder_fails_the_cache_stage(client):
    with pytest.raises(DockerFailure, match="cannot store the layer cache of arch-unit-absent") as e:
        LayerCache(client).store("arch-unit-absent", "k", "arch-unit-absent", {})
    assert e.value.stage == "cache"


def test_the_expected_layer_is_the_deepest_whose_keys_chain_from_the_base(builder):
    """expected_layer computes the keys as the lookups do (cache_key, chained from the base image id) and stops at the
    first role whose key cannot be known (vars or params None: they hold a template) or whose layer is not on the
    engine; a builder started from that layer (DockerBuilder.launch from_layer) keeps its base image id."""
    client, name, labels = builder
    cache = LayerCache(client)
    base = client.images.get(BASE_IMAGE).id
    roles = [{"name": "a", "digest": "1", "vars": {"v": 1}, "tags": [], "params": {}},
             {"name": "b", "digest": "2", "vars": {}, "tags": ["t"], "params": {"p": 2}},
             {"name": "c", "digest": "3", "vars": {}, "tags": [], "params": {}}]
    play, env = {"facts": None}, {"http_proxy": "http://proxy.invalid:3128"}
    key_a = cache_key(base, "f", "a", "1", {"v": 1}, [], play, env, "container")
    key_b = cache_key(key_a, "f", "b", "2", {}, ["t"], play, env, "container", {"p": 2})
    assert expected_layer(client, name, base, "f", roles, play, env, "container") == (None, 0, None)
    layer_a = cache.store(name, key_a, name, labels)
    client.containers.get(name).exec_run(["sh", "-c", "echo b > /opt/arch-b"])
    layer_b = cache.store(name, key_b, name, labels)
    assert expected_layer(client, name, base, "f", roles, play, env, "container") == (layer_b, 2, key_b)
    assert expected_layer(client, name, base, "f", roles, play, {}, "container") == (None, 0, None)  # other keys
    assert expected_layer(client, name, base, "f", roles, play, env, "other") == (None, 0, None)  # another target's
    assert expected_layer(client, name, base, "f", [roles[0], dict(roles[1], vars=None)], play, env, "container") == (
        layer_a, 1, key_a)
    assert expected_layer(client, name, base, "f", [roles[0], dict(roles[1], params=None)], play, env, "container") == (
        layer_a, 1, key_a)  # role parameters that hold a template
    assert expected_layer(client, name, base, "f", [roles[0], dict(roles[1], params={"p": 3})], play, env,
                          "container") == (layer_a, 1, key_a)

    started = "%s-from-layer" % name
    try:
        changed, facts = DockerBuilder(client).launch(started, BASE_IMAGE, labels, pull="never", from_layer=layer_b)
        assert changed and facts["image_id"] == layer_b and facts["base_image_id"] == base
        assert client.containers.get(started).exec_run(["cat", "/opt/arch-b"]).output == b"b\n"
        DockerBuilder(client).remove(started)
        client.images.remove(layer_b, force=True)  # gone since the plan looked: the base image, as without
        changed, facts = DockerBuilder(client).launch(started, BASE_IMAGE, labels, pull="never", from_layer=layer_b)
        assert changed and facts["image_id"] == base == facts["base_image_id"]
    finally:
        DockerBuilder(client).remove(started)
