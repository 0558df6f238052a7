# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docker_commit.py: the committed image config, and tagging with rollback (fake engine, no Docker)."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.immutable.images.plugins.module_utils._docker import commit as docker_commit
from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure, docker_errors

BASE = {
    "User": "nobody",
    "WorkingDir": "/srv",
    "StopSignal": "SIGQUIT",
    "Entrypoint": ["/docker-entrypoint.sh"],
    "Cmd": ["nginx", "-g", "daemon off;"],
    "Env": ["PATH=/usr/local/sbin:/usr/bin:/bin", "NGINX_VERSION=1.27", "EMPTY="],
    "ExposedPorts": {"80/tcp": {}},
    "Volumes": {"/var/cache/nginx": {}},
    "Labels": {"maintainer": "base", "team": "base", "immutable.images.kind": "base-kind"},
    "Healthcheck": {"Test": ["CMD", "base"], "Interval": 1},
}


def test_base_config_kept_where_unset():
    result = docker_commit.final_config(BASE, {}, {})
    assert result["User"] == "nobody"
    assert result["WorkingDir"] == "/srv"
    assert result["StopSignal"] == "SIGQUIT"
    assert result["Entrypoint"] == ["/docker-entrypoint.sh"]
    assert result["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert sorted(result["Env"]) == sorted(BASE["Env"])
    assert result["ExposedPorts"] == {"80/tcp": {}}
    assert result["Volumes"] == {"/var/cache/nginx": {}}
    assert result["Labels"] == BASE["Labels"]
    assert result["Healthcheck"] == BASE["Healthcheck"]


def test_base_config_not_mutated():
    base = copy.deepcopy(BASE)
    docker_commit.final_config(base, {"env": {"A": "1"}, "expose": ["8080/tcp"], "volumes": ["/d"],
                                      "labels": {"x": "y"}}, {"z": "1"})
    assert base == BASE


def test_no_base_config():
    result = docker_commit.final_config(None, {}, {})
    assert result["User"] == result["WorkingDir"] == result["StopSignal"] == ""
    assert result["Entrypoint"] == []
    assert result["Cmd"] is None
    assert result["Env"] == []
    assert result["ExposedPorts"] == result["Volumes"] == result["Labels"] == {}
    assert "Healthcheck" not in result


def test_scalar_overrides():
    result = docker_commit.final_config(BASE, {"user": "app", "workdir": "/app", "stop_signal": "SIGTERM"}, {})
    assert (result["User"], result["WorkingDir"], result["StopSignal"]) == ("app", "/app", "SIGTERM")


def test_cmd_override_keeps_entrypoint():
    result = docker_commit.final_config(BASE, {"cmd": ["python3", "/app/server.py"]}, {})
    assert result["Cmd"] == ["python3", "/app/server.py"]
    assert result["Entrypoint"] == ["/docker-entrypoint.sh"]


def test_entrypoint_override_resets_cmd():
    result = docker_commit.final_config(BASE, {"entrypoint": ["/app/run"]}, {})
    assert result["Entrypoint"] == ["/app/run"]
    assert result["Cmd"] is None


def test_entrypoint_and_cmd_override():
    result = docker_commit.final_config(BASE, {"entrypoint": ["/app/run"], "cmd": ["--port", "8080"]}, {})
    assert result["Entrypoint"] == ["/app/run"]
    assert result["Cmd"] == ["--port", "8080"]


def test_empty_entrypoint_clears_base_entrypoint():
    result = docker_commit.final_config(BASE, {"entrypoint": [], "cmd": ["sh"]}, {})
    assert result["Entrypoint"] == []
    assert result["Cmd"] == ["sh"]


@pytest.mark.parametrize("base", [None, {}, {"Entrypoint": None, "Cmd": ["bash"]}, {"Entrypoint": []}])
def test_entrypoint_is_never_none(base):
    # None would let the engine fill in the builder's keep-alive entrypoint at commit time
    result = docker_commit.final_config(base, {}, {})
    assert result["Entrypoint"] == []
    assert isinstance(result["Entrypoint"], list)


def test_entrypoint_copied_not_aliased():
    config = {"entrypoint": ["/a"], "cmd": ["b"]}
    result = docker_commit.final_config(BASE, config, {})
    result["Entrypoint"].append("x")
    result["Cmd"].append("y")
    assert config == {"entrypoint": ["/a"], "cmd": ["b"]}


def test_env_merge_config_wins_and_base_path_kept():
    result = docker_commit.final_config(BASE, {"env": {"NGINX_VERSION": "1.28", "PORT": "8080"}}, {})
    env = dict(item.split("=", 1) for item in result["Env"])
    assert env == {"PATH": "/usr/local/sbin:/usr/bin:/bin", "NGINX_VERSION": "1.28", "EMPTY": "", "PORT": "8080"}
    assert len(result["Env"]) == 4


def test_env_value_with_equals_sign():
    result = docker_commit.final_config({"Env": ["OPTS=a=b"]}, {}, {})
    assert result["Env"] == ["OPTS=a=b"]


def test_ports_and_volumes_merged():
    result = docker_commit.final_config(BASE, {"expose": ["8080/tcp", "80/tcp"], "volumes": ["/data"]}, {})
    assert result["ExposedPorts"] == {"80/tcp": {}, "8080/tcp": {}}
    assert result["Volumes"] == {"/var/cache/nginx": {}, "/data": {}}


def test_label_precedence_base_then_build_then_config():
    build = {"team": "build", "immutable.images.kind": "artifact", "org.opencontainers.image.version": "1.4.2"}
    result = docker_commit.final_config(BASE, {"labels": {"team": "web", "org.opencontainers.image.version": "9"}},
                                        build)
    assert result["Labels"] == {
        "maintainer": "base",                           # base only
        "immutable.images.kind": "artifact",            # build over base
        "team": "web",                                  # config over build over base
        "org.opencontainers.image.version": "9",        # config over build
    }


def test_healthcheck_keys_translated():
    hc = {"test": ["CMD", "curl", "-f", "http://localhost/"], "interval": 30 * 10 ** 9, "timeout": 5 * 10 ** 9,
          "start_period": 10 ** 9, "retries": 3}
    result = docker_commit.final_config(BASE, {"healthcheck": hc}, {})
    assert result["Healthcheck"] == {"Test": ["CMD", "curl", "-f", "http://localhost/"], "Interval": 30 * 10 ** 9,
                                     "Timeout": 5 * 10 ** 9, "StartPeriod": 10 ** 9, "Retries": 3}


def test_partial_healthcheck_replaces_base():
    result = docker_commit.final_config(BASE, {"healthcheck": {"test": ["NONE"]}}, {})
    assert result["Healthcheck"] == {"Test": ["NONE"]}


# --- tagging with rollback, against a small fake engine ---------------------------------------

class FakeImage:
    def __init__(self, engine, image_id):
        self.id = image_id
        self.tags = [ref for ref, iid in engine.refs.items() if iid == image_id]
        self.labels = engine.labels.get(image_id, {})


class FakeImages:
    def __init__(self, engine):
        self.engine = engine

    def get(self, ref):
        if ref in self.engine.refs:
            return FakeImage(self.engine, self.engine.refs[ref])
        if ref in self.engine.labels:
            return FakeImage(self.engine, ref)
        raise docker_errors.ImageNotFound("no such image: %s" % ref)


class FakeApi:
    def __init__(self, engine):
        self.engine = engine

    def tag(self, image, repository, tag=None, force=False):
        ref = "%s:%s" % (repository, tag)
        self.engine.calls.append(("tag", image, ref, force))
        if ref in self.engine.fail_tags:
            self.engine.fail_tags.discard(ref)  # fails once, like a transient engine error
            raise docker_errors.APIError("tag refused: %s" % ref)
        self.engine.refs[ref] = image
        return True

    def remove_image(self, image, force=False, noprune=False):
        self.engine.calls.append(("remove_image", image, force))
        if image in self.engine.in_use:
            raise docker_errors.APIError("image is in use")
        self.engine.labels.pop(image, None)
        for ref in [r for r, i in self.engine.refs.items() if i == image]:
            del self.engine.refs[ref]


class FakeClient:
    """refs: 'repo:tag' -> image id; labels: image id -> labels (every image that exists)."""

    def __init__(self, refs=None, labels=None, fail_tags=(), in_use=()):
        self.refs = dict(refs or {})
        self.labels = dict(labels or {})
        self.fail_tags = set(fail_tags)
        self.in_use = set(in_use)
        self.calls = []
        self.images = FakeImages(self)
        self.api = FakeApi(self)


ARTIFACT = {naming.LABEL_KIND: naming.KIND_ARTIFACT}
NEW, OLD_A, OLD_B = "sha256:new", "sha256:olda", "sha256:oldb"


def test_tag_moves_every_ref():
    client = FakeClient(refs={"webapp:latest": OLD_A}, labels={NEW: ARTIFACT, OLD_A: ARTIFACT})
    docker_commit.ImageCommitter(client).tag(NEW, ["webapp:1.4.2", "webapp:latest", "reg:5000/a/webapp"])
    assert client.refs == {"webapp:1.4.2": NEW, "webapp:latest": NEW, "reg:5000/a/webapp:latest": NEW}
    assert all(call[3] is True for call in client.calls if call[0] == "tag")


def test_tag_failure_rolls_back_moved_tags_and_removes_new_image():
    client = FakeClient(refs={"webapp:1.4.2": OLD_A, "webapp:latest": OLD_B},
                        labels={NEW: ARTIFACT, OLD_A: ARTIFACT, OLD_B: ARTIFACT},
                        fail_tags={"webapp:latest"})
    committer = docker_commit.ImageCommitter(client)
    with pytest.raises(DockerFailure) as info:
        committer.tag(NEW, ["webapp:1.4.2", "webapp:latest", "webapp:extra"])
    assert info.value.stage == "tag"
    assert "webapp:latest" in str(info.value)
    # the first tag, already moved, points at its old image again; nothing references the new one
    assert client.refs == {"webapp:1.4.2": OLD_A, "webapp:latest": OLD_B}
    assert ("tag", OLD_A, "webapp:1.4.2", True) in client.calls
    assert ("remove_image", NEW, True) in client.calls
    assert NEW not in client.labels
    # the old images were not deleted
    assert OLD_A in client.labels and OLD_B in client.labels
    # restore happens before the new image is removed
    restore = client.calls.index(("tag", OLD_A, "webapp:1.4.2", True))
    assert restore < client.calls.index(("remove_image", NEW, True))


def test_tag_failure_with_new_ref_only_removes_new_image():
    client = FakeClient(labels={NEW: ARTIFACT}, fail_tags={"webapp:latest"})
    with pytest.raises(DockerFailure) as info:
        docker_commit.ImageCommitter(client).tag(NEW, ["webapp:1.4.2", "webapp:latest"])
    assert info.value.stage == "tag"
    assert client.refs == {}
    assert NEW not in client.labels


def test_tag_returns_where_each_ref_pointed_and_prunes_nothing():
    """Superseded images are left for the end-of-build cleanup: a later failing stage (push, save)
    must still be able to point the tags back at them."""
    client = FakeClient(refs={"webapp:latest": OLD_A}, labels={NEW: ARTIFACT, OLD_A: ARTIFACT})
    previous = docker_commit.ImageCommitter(client).tag(NEW, ["webapp:latest", "webapp:2.0.0"])
    assert previous == {"webapp:latest": OLD_A, "webapp:2.0.0": None}
    assert OLD_A in client.labels
    assert not [c for c in client.calls if c[0] == "remove_image"]


def test_rollback_after_a_later_stage_restores_tags_and_removes_the_new_image():
    client = FakeClient(refs={"webapp:latest": OLD_A}, labels={NEW: ARTIFACT, OLD_A: ARTIFACT})
    committer = docker_commit.ImageCommitter(client)
    previous = committer.tag(NEW, ["webapp:latest", "webapp:2.0.0"])
    committer.rollback(NEW, previous)
    assert client.refs.get("webapp:latest") == OLD_A
    assert "webapp:2.0.0" not in client.refs
    assert NEW not in client.labels
