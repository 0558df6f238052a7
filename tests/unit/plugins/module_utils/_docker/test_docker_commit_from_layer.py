# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docker_commit.py, from_layer, on the real engine: the artifact is committed from a never-started container of the
layer the builder was stored as (no layer of its own, the artifact's config), the stand-in container is gone after a
commit and after a failed one, and a layer pruned meanwhile falls back to committing the builder.
Every name starts with arch-unit-."""

from __future__ import annotations

import os
import uuid

import pytest

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker import commit as docker_commit
from ansible_collections.immutable.images.plugins.module_utils._docker.builder import DockerBuilder
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure, docker_errors

BASE_IMAGE = os.environ.get("IMMUTABLE_BASE_IMAGE", "immutable-images/debian-python:bookworm")
pytestmark = pytest.mark.docker


@pytest.fixture
def stored(client):
    """A running builder with a change, and that change committed as its layer (as the layer cache stores it)."""
    name = "arch-unit-%s" % uuid.uuid4().hex[:8]
    labels = {naming.LABEL_BUILD_ID: name, naming.LABEL_IMAGE_NAME: name}
    builder = DockerBuilder(client)
    builder.launch(name, BASE_IMAGE, labels, pull="never")
    assert builder.find(name).exec_run(["sh", "-c", "echo from-the-role > /made"]).exit_code == 0
    layer = client.api.commit(name, conf={"Labels": dict(labels, **{naming.LABEL_KIND: naming.KIND_CACHE})})["Id"]
    made = [layer]
    yield name, layer, made
    builder.remove(name)
    for image in reversed(made):  # the artifact before its parent, the layer
        try:
            client.images.remove(image, force=True)
        except docker_errors.NotFound:
            pass


def stand_ins(client, name):
    return [c for c in client.containers.list(all=True, filters={"label": "%s=%s" % (naming.LABEL_BUILD_ID, name)})
            if c.name != name]


def test_the_artifact_is_the_layer_with_the_artifact_config_and_no_stand_in_is_left(client, stored):
    name, layer, made = stored
    labels = {naming.LABEL_BUILD_ID: name, naming.LABEL_KIND: naming.KIND_ARTIFACT}
    result = docker_commit.ImageCommitter(client).commit(name, {"cmd": ["cat", "/made"]}, labels, ["%s:1" % name],
                                                         base_image=BASE_IMAGE, from_layer=layer)
    made.append(result["image_id"])
    image = client.images.get("%s:1" % name)
    assert image.attrs["RootFS"]["Layers"] == client.images.get(layer).attrs["RootFS"]["Layers"]
    assert image.attrs["Config"]["Cmd"] == ["cat", "/made"] and not image.attrs["Config"]["Entrypoint"]
    assert image.labels[naming.LABEL_KIND] == naming.KIND_ARTIFACT
    assert client.containers.run(image.id, remove=True).decode() == "from-the-role\n"
    assert stand_ins(client, name) == []


def test_a_failed_commit_leaves_no_stand_in(client, stored, monkeypatch):
    name, layer, _made = stored

    def refuse(*_args, **_kwargs):
        raise docker_errors.APIError("commit refused")
    monkeypatch.setattr(client.api, "commit", refuse)
    with pytest.raises(DockerFailure, match="commit refused") as info:
        docker_commit.ImageCommitter(client).commit(name, {}, {naming.LABEL_BUILD_ID: name}, ["%s:1" % name],
                                                    base_image=BASE_IMAGE, from_layer=layer)
    assert info.value.stage == "commit"
    monkeypatch.undo()
    assert stand_ins(client, name) == [] and client.images.list(name=name) == []


def test_a_layer_pruned_meanwhile_commits_the_builder(client, stored):
    name, layer, made = stored
    client.images.remove(layer, force=True)
    result = docker_commit.ImageCommitter(client).commit(name, {}, {naming.LABEL_BUILD_ID: name}, ["%s:1" % name],
                                                         base_image=BASE_IMAGE, from_layer=layer)
    made.append(result["image_id"])
    base_layers = client.images.get(BASE_IMAGE).attrs["RootFS"]["Layers"]
    assert client.images.get(result["image_id"]).attrs["RootFS"]["Layers"][:-1] == base_layers
    assert client.containers.run(result["image_id"], ["cat", "/made"], entrypoint=[], remove=True) == b"from-the-role\n"


def test_a_layer_pruned_meanwhile_fails_the_commit_when_the_builder_is_not_that_layer(client, stored):
    """layer_only: the layer cache left the builder at an earlier layer; committing it would make the wrong image."""
    name, layer, _made = stored
    client.images.remove(layer, force=True)
    with pytest.raises(DockerFailure, match="no longer exists") as info:
        docker_commit.ImageCommitter(client).commit(name, {}, {naming.LABEL_BUILD_ID: name}, ["%s:1" % name],
                                                    base_image=BASE_IMAGE, from_layer=layer, layer_only=True)
    assert info.value.stage == "commit" and client.images.list(name=name) == []
    with pytest.raises(DockerFailure, match="squash cannot be combined with layer_only"):
        docker_commit.ImageCommitter(client).commit(name, {}, {naming.LABEL_BUILD_ID: name}, ["%s:1" % name],
                                                    base_image=BASE_IMAGE, from_layer=layer, layer_only=True, squash=True)
