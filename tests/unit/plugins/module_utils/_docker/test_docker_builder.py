# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docker_builder.py on the real engine: launch (idempotent), upload in one archive call, the lease that removes
a builder whose ansible-playbook is gone, remove; and the pull policy. Every name starts with arch-unit-."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
import uuid

import pytest

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.builder import DockerBuilder
from ansible_collections.immutable.images.plugins.module_utils._docker import lease as builder_lease
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure
from ansible_collections.immutable.images.plugins.module_utils._docker.engine import engine_url

BASE_IMAGE = os.environ.get("IMMUTABLE_BASE_IMAGE", "immutable-images/debian-python:bookworm")
pytestmark = pytest.mark.docker


@pytest.fixture
def builder(client):
    name = "arch-unit-%s" % uuid.uuid4().hex[:8]
    yield DockerBuilder(client), name
    DockerBuilder(client).remove(name)


def archive(tmp_path, files):
    path = tmp_path / "files.tar"
    with tarfile.open(path, "w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o640
            tar.addfile(info, io.BytesIO(content))
    return str(path)


def test_launch_upload_remove(builder, tmp_path):
    docker_builder, name = builder
    changed, facts = docker_builder.launch(name, BASE_IMAGE, {naming.LABEL_BUILD_ID: name}, pull="never")
    assert changed and facts["status"] == "running" and facts["labels"][naming.LABEL_BUILD_ID] == name
    assert facts["base_image"] == BASE_IMAGE and facts["pulled"] is False
    assert docker_builder.launch(name, BASE_IMAGE, {}, pull="never")[0] is False  # already there: unchanged
    docker_builder.upload(name, archive(tmp_path, {"opt/arch/greeting": b"hello\n"}))
    result = docker_builder.find(name).exec_run(["stat", "-c", "%a %n", "/opt/arch/greeting", "/tmp"])
    assert result.output.decode().split("\n")[:2] == ["640 /opt/arch/greeting", "1777 /tmp"]  # /tmp: the build tmpfs
    assert docker_builder.remove(name) is True and docker_builder.find(name) is None
    assert docker_builder.remove(name) is False


def test_the_lease_removes_the_builder_when_its_controller_ends(builder):
    docker_builder, name = builder
    controller = subprocess.Popen(["sleep", "60"])
    try:
        docker_builder.launch(name, BASE_IMAGE, {}, pull="never", lease_pid=controller.pid)
        assert docker_builder.find(name).status == "running"
    finally:
        controller.kill()
        controller.wait()
    deadline = time.monotonic() + 20
    while docker_builder.find(name) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert docker_builder.find(name) is None, "the builder outlived its controller's lease"


def test_a_lease_the_engine_refuses_says_why(tmp_path):
    """The lease attaches without the Docker SDK (its interpreter runs with -I -S): the engine's answer is the error."""
    with pytest.raises(builder_lease.LeaseError, match="refused to attach: HTTP/1.1 404"):
        builder_lease.hold("arch-unit-no-such-builder", os.getpid(), {"url": engine_url(), "tls": None})
    with pytest.raises(builder_lease.LeaseError, match="cannot connect to the Docker engine at unix://%s" % tmp_path):
        builder_lease.hold("arch-unit-no-such-builder", os.getpid(), {"url": "unix://%s/none.sock" % tmp_path})


def test_pull_never_and_missing_builder(builder, tmp_path):
    docker_builder, name = builder
    with pytest.raises(DockerFailure, match="not present on the engine and pull is 'never'"):
        docker_builder.launch(name, "arch-unit-absent/image:none", {}, pull="never")
    with pytest.raises(DockerFailure, match="builder %s does not exist" % name):
        docker_builder.upload(name, archive(tmp_path, {"x": b""}))


def test_a_builder_not_started_is_created_at_its_layer_without_a_lease(builder, client):
    """start=False (a target expected to run nothing): created from the layer, never started, no lease process; a
    second launch finds it as it is. Without from_layer it fails and creates nothing; when the layer is gone, the
    builder is started from the base image, with its lease, as without a layer."""
    docker_builder, name = builder
    layer = client.images.get(BASE_IMAGE).id  # any image stands in for a cache layer here
    controller = subprocess.Popen(["sleep", "60"])
    try:
        changed, facts = docker_builder.launch(name, BASE_IMAGE, {naming.LABEL_BUILD_ID: name}, pull="never",
                                               from_layer=layer, start=False, lease_pid=controller.pid)
        assert changed and facts["status"] == "created" and facts["image_id"] == layer
        assert docker_builder.find(name).attrs["HostConfig"]["AutoRemove"] is False  # nothing ends it but a removal
        # a lease process names its builder's id on its command line
        assert subprocess.run(["pgrep", "-f", facts["id"]], capture_output=True, check=False).returncode == 1
        assert docker_builder.launch(name, BASE_IMAGE, {}, pull="never", from_layer=layer, start=False)[0] is False
        with pytest.raises(DockerFailure, match="exists but is created"):
            docker_builder.launch(name, BASE_IMAGE, {}, pull="never")  # a started one is asked for: not this one
    finally:
        controller.kill()
        controller.wait()
    assert docker_builder.remove(name) is True
    with pytest.raises(DockerFailure, match="not started is created from a layer"):
        docker_builder.launch(name, BASE_IMAGE, {}, pull="never", start=False)
    assert docker_builder.find(name) is None
    changed, facts = docker_builder.launch(name, BASE_IMAGE, {}, pull="never", from_layer="sha256:" + "0" * 64,
                                           start=False, lease_pid=os.getpid())
    assert facts["status"] == "running" and facts["image_id"] == layer  # the base image: the layer is gone
    assert docker_builder.find(name).attrs["HostConfig"]["AutoRemove"] is True  # leased
