# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docker_commit.py, squash: the engine's commit merge, the docker-archive, and a squashed commit
against a fake engine that reads the archive it is given (no Docker)."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import tarfile

import pytest

from ansible_collections.immutable.images.plugins.module_utils._docker import commit as docker_commit
from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure, docker_errors
from ansible_collections.immutable.images.plugins.module_utils._docker.commit import commit_config

BUILD = "20261123T2135Z-7f3a9c"
BASE_ID = "sha256:" + "b" * 64
BUILDER_CONFIG = {  # what a builder container's config looks like (docker_builder: only the entrypoint is set)
    "Hostname": "0123456789ab", "User": "", "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"], "Cmd": None,
    "Entrypoint": ["/bin/sh"], "WorkingDir": "", "Tty": True, "OpenStdin": True, "Volumes": None,
    "Labels": {naming.LABEL_BUILD_ID: BUILD, naming.LABEL_KIND: naming.KIND_BUILDER, "maintainer": "base"},
}
BASE_CONFIG = {"Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"], "Cmd": ["bash"], "Labels": {"maintainer": "base"}}


# --- commit_config: the engine's merge (moby daemon/commit.go) ----------------------------------

def test_empty_fields_come_from_the_container():
    cont = {"User": "svc", "WorkingDir": "/srv", "StopSignal": "SIGQUIT"}
    result = commit_config({"User": "", "WorkingDir": "", "StopSignal": ""}, cont)
    assert (result["User"], result["WorkingDir"], result["StopSignal"]) == ("svc", "/srv", "SIGQUIT")
    result = commit_config({"User": "app", "WorkingDir": "/app", "StopSignal": "SIGTERM"}, cont)
    assert (result["User"], result["WorkingDir"], result["StopSignal"]) == ("app", "/app", "SIGTERM")


def test_env_keeps_ours_first_and_appends_the_containers_missing_keys():
    result = commit_config({"Env": ["PORT=8080", "LANG=en_US.UTF-8"]},
                           {"Env": ["PATH=/bin", "LANG=C.UTF-8", "HOME=/root"]})
    assert result["Env"] == ["PORT=8080", "LANG=en_US.UTF-8", "PATH=/bin", "HOME=/root"]
    assert commit_config({"Env": []}, {"Env": ["A=1"]})["Env"] == ["A=1"]
    assert commit_config({"Env": []}, {"Env": None})["Env"] is None


def test_ports_and_volumes_union_or_the_containers():
    result = commit_config({"ExposedPorts": {"8080/tcp": {}}, "Volumes": {"/data": {}}},
                           {"ExposedPorts": {"22/tcp": {}}, "Volumes": {"/var/lib/x": {}}})
    assert result["ExposedPorts"] == {"8080/tcp": {}, "22/tcp": {}}
    assert result["Volumes"] == {"/data": {}, "/var/lib/x": {}}
    # empty: the container's value, null included (Go's nil map)
    result = commit_config({"ExposedPorts": {}, "Volumes": {}}, {"ExposedPorts": None, "Volumes": None})
    assert result["ExposedPorts"] is None and result["Volumes"] is None


def test_labels_ours_win_and_never_null():
    result = commit_config({"Labels": {"team": "web", naming.LABEL_KIND: naming.KIND_ARTIFACT}}, BUILDER_CONFIG)
    assert result["Labels"] == {"team": "web", naming.LABEL_KIND: naming.KIND_ARTIFACT,
                                naming.LABEL_BUILD_ID: BUILD, "maintainer": "base"}
    assert commit_config({}, {})["Labels"] == {}


def test_empty_entrypoint_takes_the_containers_cmd_only_when_cmd_is_empty():
    # final_config's Entrypoint is [] (never null): the builder's keep-alive /bin/sh cannot come in
    result = commit_config({"Entrypoint": [], "Cmd": None}, {"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "x"]})
    assert result["Entrypoint"] == [] and result["Cmd"] == ["-c", "x"]
    result = commit_config({"Entrypoint": [], "Cmd": ["python3"]}, {"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "x"]})
    assert result["Entrypoint"] == [] and result["Cmd"] == ["python3"]
    # null entrypoint (not what final_config gives): the container's, as the engine does
    result = commit_config({"Entrypoint": None, "Cmd": None}, {"Entrypoint": ["/bin/sh"], "Cmd": None})
    assert result["Entrypoint"] == ["/bin/sh"]
    # an entrypoint of ours: Cmd is left as it is, even null
    result = commit_config({"Entrypoint": ["/app/run"], "Cmd": None}, {"Entrypoint": ["/bin/sh"], "Cmd": ["x"]})
    assert result["Entrypoint"] == ["/app/run"] and result["Cmd"] is None


def test_healthcheck_taken_or_completed_from_the_container():
    cont = {"Healthcheck": {"Test": ["CMD", "true"], "Interval": 5, "Retries": 3}}
    assert commit_config({}, cont)["Healthcheck"] == cont["Healthcheck"]
    result = commit_config({"Healthcheck": {"Test": ["CMD", "curl", "-f", "localhost"], "Interval": 0}}, cont)
    assert result["Healthcheck"] == {"Test": ["CMD", "curl", "-f", "localhost"], "Interval": 5, "Retries": 3}
    assert "Healthcheck" not in commit_config({}, {"Healthcheck": None})


def test_inputs_not_mutated():
    conf = docker_commit.final_config(BASE_CONFIG, {"env": {"A": "1"}, "expose": ["8080/tcp"]}, {"x": "1"})
    conf_before, builder_before = copy.deepcopy(conf), copy.deepcopy(BUILDER_CONFIG)
    result = commit_config(conf, BUILDER_CONFIG)
    result["Env"].append("B=2")
    result["Labels"]["y"] = "2"
    assert conf == conf_before and BUILDER_CONFIG == builder_before


def test_the_artifact_config_of_a_builder():
    conf = docker_commit.final_config(BASE_CONFIG, {"user": "app", "env": {"PORT": "8080"}},
                                      {naming.LABEL_BUILD_ID: BUILD, naming.LABEL_KIND: naming.KIND_ARTIFACT})
    result = commit_config(conf, BUILDER_CONFIG)
    assert result["Entrypoint"] == [] and result["Cmd"] == ["bash"]  # the base image's, not the keep-alive
    assert result["Labels"][naming.LABEL_KIND] == naming.KIND_ARTIFACT
    assert result["User"] == "app"
    assert result["Env"] == ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "PORT=8080"]
    assert "Tty" not in result and "Hostname" not in result  # not merged: the builder's stay out


# --- the docker-archive --------------------------------------------------------------------------

def test_image_config_is_canonical_json_with_one_layer():
    data = docker_commit.image_config({"Cmd": ["x"]}, "sha256:" + "1" * 64, {"architecture": "arm64", "os": "linux",
                                      "variant": "v8"}, "2026-11-23T21:35:00.000000Z", comment="squashed",
                                      author="ci", created_by="immutable.images squash of b")
    doc = json.loads(data)
    assert doc["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}
    assert (doc["architecture"], doc["os"], doc["variant"], doc["author"]) == ("arm64", "linux", "v8", "ci")
    assert doc["config"] == {"Cmd": ["x"]}
    assert doc["history"] == [{"created": "2026-11-23T21:35:00.000000Z", "created_by": "immutable.images squash of b",
                               "comment": "squashed", "author": "ci"}]
    assert data == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    assert json.loads(docker_commit.image_config({}, "sha256:x", {}, "t"))["architecture"] == "amd64"


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 3 * 1024 * 1024 + 7])
def test_archive_chunks_is_a_valid_tar(tmp_path, size):
    layer = tmp_path / "layer.tar"
    layer.write_bytes(os.urandom(size))
    stream = b"".join(docker_commit.archive_chunks([("a.json", b'{"x":1}'), ("layer/layer.tar", str(layer))],
                                                   chunk_size=4096))
    assert len(stream) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as tar:
        assert tar.getnames() == ["a.json", "layer/layer.tar"]
        assert tar.extractfile("a.json").read() == b'{"x":1}'
        assert tar.extractfile("layer/layer.tar").read() == layer.read_bytes()


# --- a squashed commit against a fake engine -----------------------------------------------------

def _export_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


EXPORT = _export_tar({"etc/os-release": b"bookworm\n", "app/server.py": b"print('hi')\n", "one.txt": b"one\n"})


class FakeImage:
    def __init__(self, image_id, attrs=None):
        self.id = image_id
        self.attrs = attrs or {}


class FakeContainer:
    def __init__(self, engine, status="running"):
        self.engine = engine
        self.id = "c" * 64
        self.name = "immutable-webapp-container-" + BUILD
        self.status = status
        self.attrs = {"Config": copy.deepcopy(BUILDER_CONFIG), "Image": BASE_ID}

    def reload(self):
        pass

    def pause(self):
        self.engine.calls.append("pause")

    def unpause(self):
        self.engine.calls.append("unpause")

    def export(self, chunk_size=2 * 1024 * 1024):
        self.engine.calls.append("export")
        for i in range(0, len(EXPORT), 1000):
            if self.engine.export_error and i >= 2000:
                raise docker_errors.APIError(self.engine.export_error)
            yield EXPORT[i:i + 1000]


class FakeImages:
    def __init__(self, engine):
        self.engine = engine

    def get(self, ref):
        if "+" in ref:
            raise docker_errors.APIError("400 Client Error: Bad Request (invalid reference format)")
        if ref == BASE_ID:
            return FakeImage(BASE_ID, {"Config": BASE_CONFIG, "Architecture": "amd64", "Os": "linux"})
        if ref in self.engine.refs:
            return FakeImage(self.engine.refs[ref])
        if ref in self.engine.images:
            return FakeImage(ref)
        raise docker_errors.ImageNotFound("no such image: %s" % ref)

    def load(self, data):
        self.engine.calls.append("load")
        self.engine.timeouts["load"] = self.engine.api.timeout
        stream = b"".join(data)  # the whole generator is consumed, as requests would
        self.engine.loaded_archive = stream
        if self.engine.load_error:
            raise docker_errors.ImageLoadError(self.engine.load_error)
        with tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as tar:
            manifest = json.loads(tar.extractfile("manifest.json").read())
            config = tar.extractfile(manifest[0]["Config"]).read()
        image_id = self.engine.load_id or "sha256:" + hashlib.sha256(config).hexdigest()
        self.engine.images.add(image_id)
        document = json.loads(config)  # what the engine reports of the image it made of the archive
        self.engine.inspected[image_id] = ({"RootFS": {"Layers": document["rootfs"]["diff_ids"]}},
                                           [{"CreatedBy": h.get("created_by", "")} for h in document["history"]])
        if self.engine.load_foreign:  # an image that is not the one in the archive
            self.engine.inspected[image_id] = ({"RootFS": {"Layers": ["sha256:" + "f" * 64]}}, [{"CreatedBy": "other"}])
        return [FakeImage(image_id)]


class FakeApi:
    def __init__(self, engine):
        self.engine = engine
        self.timeout = 120  # the client's answer timeout (client.py)

    def commit(self, container, message=None, author=None, conf=None, pause=True):
        self.engine.calls.append("commit")
        self.engine.timeouts["commit"] = self.timeout
        self.engine.images.add("sha256:committed")
        return {"Id": "sha256:committed"}

    def inspect_image(self, image):
        return self.engine.inspected[image][0]

    def history(self, image):
        return self.engine.inspected[image][1]

    def tag(self, image, repository, tag=None, force=False):
        ref = "%s:%s" % (repository, tag)
        if ref in self.engine.fail_tags:
            raise docker_errors.APIError("tag refused: %s" % ref)
        self.engine.refs[ref] = image
        return True

    def remove_image(self, image, force=False):
        self.engine.calls.append(("remove_image", image))
        self.engine.images.discard(image)
        for ref in [r for r, i in self.engine.refs.items() if i == image]:
            del self.engine.refs[ref]


class FakeEngine:
    """refs: 'repo:tag' -> image id; images: ids that exist (besides the base image); calls: what happened."""

    def __init__(self, status="running", export_error=None, load_error=None, load_id=None, load_foreign=False,
                 fail_tags=()):
        self.export_error, self.load_error, self.load_id, self.load_foreign = export_error, load_error, load_id, load_foreign
        self.inspected = {}  # image id -> (inspect, history)
        self.fail_tags = set(fail_tags)
        self.calls, self.refs, self.images = [], {}, set()
        self.loaded_archive = None
        self.timeouts = {}  # call -> the client's read timeout during it
        self.container = FakeContainer(self, status)
        self.images_api = FakeImages(self)
        self.api = FakeApi(self)

    def get(self, name):  # containers.get
        if name in (self.container.name, self.container.id):
            return self.container
        raise docker_errors.NotFound("no such container")


class Client:
    """The DockerClient surface ImageCommitter uses."""

    def __init__(self, engine):
        self.engine = engine
        self.containers = engine
        self.images = engine.images_api
        self.api = engine.api


CONFIG = {"user": "app", "cmd": ["python3", "/app/server.py"], "env": {"PORT": "8080"}, "expose": ["8080/tcp"],
          "labels": {"team": "web"}, "healthcheck": {"test": ["CMD", "true"], "interval": 10 ** 10}}
LABELS = {naming.LABEL_BUILD_ID: BUILD, naming.LABEL_KIND: naming.KIND_ARTIFACT}


def squash(engine, tmp_path, refs=("webapp:1.4.2", "webapp:latest")):
    committer = docker_commit.ImageCommitter(Client(engine))
    return committer.commit(engine.container.name, CONFIG, LABELS, list(refs), message="squashed", author="ci",
                            squash=True, tmpdir=str(tmp_path))


def test_squashed_commit_loads_one_layer_with_the_commit_config(tmp_path):
    engine = FakeEngine()
    result = squash(engine, tmp_path)
    with tarfile.open(fileobj=io.BytesIO(engine.loaded_archive), mode="r:") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        config_bytes = tar.extractfile(manifest[0]["Config"]).read()
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()
    assert manifest == [{"Config": result["image_id"][len("sha256:"):] + ".json", "RepoTags": None,
                         "Layers": ["layer/layer.tar"]}]
    # the image id is the sha256 of the config; the one diff id that of the exported filesystem
    assert result["image_id"] == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    assert layer == EXPORT
    assert engine.timeouts == {"load": None} and engine.api.timeout == 120  # the engine answers once it is all in
    config = json.loads(config_bytes)
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(EXPORT).hexdigest()]}
    # exactly the config a normal commit gets: ours, merged with the builder's as the engine does it
    expected = commit_config(docker_commit.final_config(BASE_CONFIG, CONFIG, LABELS), BUILDER_CONFIG)
    assert config["config"] == json.loads(json.dumps(expected))
    assert config["config"]["Entrypoint"] == [] and config["config"]["Cmd"] == ["python3", "/app/server.py"]
    assert (config["architecture"], config["os"], config["author"]) == ("amd64", "linux", "ci")
    assert config["history"][0]["comment"] == "squashed"
    # tagged, untagged nothing, and what the module returns is the same as for a normal commit
    assert engine.refs == {"webapp:1.4.2": result["image_id"], "webapp:latest": result["image_id"]}
    assert result["previous"] == {"webapp:1.4.2": None, "webapp:latest": None}
    assert result["squashed"] is True
    assert result["config"] == docker_commit.final_config(BASE_CONFIG, CONFIG, LABELS)
    assert "commit" not in engine.calls
    # paused for the export only, like a commit; the temporary files are gone
    assert engine.calls[:3] == ["pause", "export", "unpause"]
    assert os.listdir(tmp_path) == []


def test_squash_of_a_stopped_container_does_not_pause(tmp_path):
    engine = FakeEngine(status="exited")
    squash(engine, tmp_path)
    assert "pause" not in engine.calls and "unpause" not in engine.calls


def test_tag_failure_after_squash_removes_the_loaded_image_and_restores_tags(tmp_path):
    engine = FakeEngine(fail_tags={"webapp:latest"})
    engine.refs["webapp:1.4.2"] = "sha256:old"
    engine.images.add("sha256:old")
    with pytest.raises(DockerFailure) as info:
        squash(engine, tmp_path)
    assert info.value.stage == "tag"
    assert engine.refs == {"webapp:1.4.2": "sha256:old"}
    assert engine.images == {"sha256:old"}  # no dangling squashed image
    assert os.listdir(tmp_path) == []


def test_malformed_tag_leaves_no_image(tmp_path):
    # the engine refuses to even look up a malformed reference: that must roll back too
    engine = FakeEngine()
    with pytest.raises(DockerFailure) as info:
        squash(engine, tmp_path, refs=("webapp:ok", "webapp:not+valid"))
    assert info.value.stage == "tag" and "invalid reference format" in str(info.value)
    assert engine.images == set() and engine.refs == {}


def test_export_failure_leaves_nothing(tmp_path):
    engine = FakeEngine(export_error="export interrupted")
    with pytest.raises(DockerFailure) as info:
        squash(engine, tmp_path)
    assert info.value.stage == "commit" and "export interrupted" in str(info.value)
    assert "load" not in engine.calls
    assert engine.calls[-1] == "unpause"
    assert engine.images == set() and engine.refs == {}
    assert os.listdir(tmp_path) == []


def test_load_failure_leaves_nothing(tmp_path):
    engine = FakeEngine(load_error="archive/tar: invalid tar header")
    with pytest.raises(DockerFailure) as info:
        squash(engine, tmp_path)
    assert info.value.stage == "commit" and "invalid tar header" in str(info.value)
    assert engine.images == set() and engine.refs == {}
    assert os.listdir(tmp_path) == []


def test_an_engine_with_the_containerd_image_store_names_the_image_by_its_manifest(tmp_path):
    """Docker's containerd image store (the default of new installs since Docker 29) writes a manifest of its own on
    load and names the image by its digest: the image is ours when its only layer and history entry are ours (before,
    every squash failed there: measured on Docker 26.1 with containerd-snapshotter)."""
    manifest_digest = "sha256:" + "d" * 64
    engine = FakeEngine(load_id=manifest_digest)
    result = squash(engine, tmp_path)
    assert result["image_id"] == manifest_digest and result["squashed"] is True
    assert engine.refs == {"webapp:1.4.2": manifest_digest, "webapp:latest": manifest_digest}


def test_unexpected_loaded_id_is_removed(tmp_path):
    engine = FakeEngine(load_id="sha256:" + "e" * 64, load_foreign=True)
    with pytest.raises(DockerFailure) as info:
        squash(engine, tmp_path)
    assert "expected sha256:" in str(info.value)
    assert ("remove_image", "sha256:" + "e" * 64) in engine.calls
    assert engine.images == set() and engine.refs == {}


def test_without_squash_the_engine_commits(tmp_path):
    engine = FakeEngine()
    result = docker_commit.ImageCommitter(Client(engine)).commit(engine.container.name, CONFIG, LABELS, ["webapp:1"])
    assert result["image_id"] == "sha256:committed" and result["squashed"] is False
    assert engine.calls == ["commit"]
    # as long as the engine takes to write a large layer, as `docker commit`; the client's own timeout after it
    assert engine.timeouts == {"commit": None} and engine.api.timeout == 120
