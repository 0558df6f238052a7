# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""layer_cache.py on the real engine: store a builder as a layer, find it by key, and re-create the builder from
it (swap) with the same name. Every name starts with arch-unit-; the layers are removed afterwards."""

from __future__ import annotations

import os
import uuid

import pytest

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.builder import DockerBuilder
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure
from ansible_collections.immutable.images.plugins.plugin_utils._docker.layer_cache import CACHE_REPOSITORY, LayerCache

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
