# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docker_push.py on the real engine and a real registry (Debian's docker-registry on 127.0.0.1): every ref is
pushed and its digest returned; a registry that does not answer is a push failure naming the ref."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import tarfile
import time
import uuid

import pytest
import yaml

from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure
from ansible_collections.immutable.images.plugins.module_utils._docker.push import ImagePusher

pytestmark = pytest.mark.docker


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not os.path.exists(binary):
        pytest.skip("docker-registry is not installed (scripts/setup-env installs it)")
    base, port = tmp_path_factory.mktemp("registry"), free_port()
    (base / "config.yml").write_text(yaml.safe_dump({
        "version": 0.1, "log": {"level": "warn"}, "storage": {"filesystem": {"rootdirectory": str(base / "data")}},
        "http": {"addr": "127.0.0.1:%d" % port}}))
    proc = subprocess.Popen([binary, "serve", str(base / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "docker-registry did not listen"
            time.sleep(0.1)
    yield "127.0.0.1:%d" % port
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def tiny_image(client):
    """A one-file image FROM scratch (pushes in a fraction of a second)."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, content in (("Dockerfile", b"FROM scratch\nCOPY marker /marker\n"), ("marker", uuid.uuid4().hex.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    context.seek(0)
    tag = "arch-unit-push:%s" % uuid.uuid4().hex[:8]
    image, _logs = client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    yield image.id
    client.images.remove(image.id, force=True)


def test_every_ref_is_pushed_with_its_digest(client, registry, tiny_image):
    refs = ["%s/arch-unit/tiny:1.0" % registry, "%s/arch-unit/tiny" % registry]
    pushed = ImagePusher(client).push(tiny_image, refs)
    assert [p["ref"] for p in pushed] == [refs[0], refs[1] + ":latest"]
    assert all(p["digest"].startswith("sha256:") for p in pushed) and pushed[0]["digest"] == pushed[1]["digest"]


def test_a_registry_that_does_not_answer_fails_the_push(client, tiny_image):
    ref = "127.0.0.1:%d/arch-unit/tiny:1.0" % free_port()
    with pytest.raises(DockerFailure, match="cannot push %s" % ref) as e:
        ImagePusher(client).push(tiny_image, [ref])
    assert e.value.stage == "push"


class _StreamOnly:
    """An engine's push as Docker 26 with the containerd image store streams it: the digest only in the last status
    line, no `aux` record (captured from one); a line for another tag must not be taken."""

    def __init__(self, lines):
        self.lines, self.tagged = lines, []

    def tag(self, image, repo, tag, force=False):
        self.tagged.append((image, repo, tag))

    def push(self, repo, tag, stream=True, decode=True, auth_config=None):
        return iter(self.lines(tag))

    @staticmethod
    def info():
        return {"RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}}}


def test_the_digest_of_a_stream_without_aux_comes_from_its_status_line():
    digest = "sha256:" + "7" * 64

    def lines(tag):
        return [{"status": "The push refers to repository [127.0.0.1:5099/webapp]"},
                {"status": "Layer already exists", "progressDetail": {}, "id": "20ef20e80313"},
                {"status": "other: digest: sha256:%s size: 425" % ("0" * 64)},
                {"status": "%s: digest: %s size: 425" % (tag, digest)}]

    client = type("Client", (), {})()
    client.api = _StreamOnly(lines)
    pushed = ImagePusher(client).push("sha256:abc", ["127.0.0.1:5099/webapp:1.0.1", "127.0.0.1:5099/webapp"])
    assert pushed == [{"ref": "127.0.0.1:5099/webapp:1.0.1", "digest": digest, "plain_http": True},
                      {"ref": "127.0.0.1:5099/webapp:latest", "digest": digest, "plain_http": True}]


ENGINE_REGISTRIES = {"InsecureRegistryCIDRs": ["127.0.0.0/8", "10.20.0.0/16", "::1/128", "not a network"],
                     "IndexConfigs": {"docker.io": {"Name": "docker.io", "Secure": True},
                                      "registry.ci:5000": {"Name": "registry.ci:5000", "Secure": False}}}


@pytest.mark.parametrize("host, plain", [
    ("registry.ci:5000", True),        # insecure-registries by name (a CI job's registry service)
    ("registry.ci:5001", False),       # another port is another registry
    ("127.0.0.1:5000", True),          # the engine's default: loopback
    ("10.20.3.4:5000", True),          # insecure-registries by network
    ("10.21.3.4:5000", False),
    ("[::1]:5000", True),
    ("docker.io", False),
    ("bad..name:5000", False),         # not resolved here (refused before any lookup): as the engine says nothing
])
def test_the_registries_the_engine_treats_as_insecure(host, plain):
    from ansible_collections.immutable.images.plugins.module_utils._docker.push import plain_http_hosts

    assert plain_http_hosts(ENGINE_REGISTRIES, {host}) == ({host} if plain else set())
