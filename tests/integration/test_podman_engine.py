# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A Podman service given as a docker target's engine (its Docker-compatible API: DOCKER_HOST=unix:///run/podman/...)
is refused by the plan, before anything is created, saying why.

Podman's compatible commit ignores the config it is given: a build there used to succeed and make an image that kept
the builder's keep-alive entrypoint and labels and lacked the target's user, command, environment and health check,
and it then reported that "a concurrent build" had won its tags (Podman answers a commit's id without "sha256:").
"""

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import BASE_IMAGE, engine_state, new_resources, run_build

pytestmark = [pytest.mark.docker]

REFUSED = ("is Podman %s (its Docker-compatible API), not a Docker engine: docker targets are built on a Docker engine "
           "only. Podman's commit ignores the image configuration a build gives it")


@pytest.fixture(scope="module")
def podman_service():
    """`podman system service` on a socket of its own, with its own storage (nothing of the machine's is touched)."""
    assert shutil.which("podman"), "podman is not installed: scripts/setup-env installs it"
    root = tempfile.mkdtemp(prefix="pm-")
    path = os.path.join(root, "podman.sock")
    podman = ["podman", "--root", os.path.join(root, "storage"), "--runroot", os.path.join(root, "run"),
              "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    with open(os.path.join(root, "service.log"), "wb") as log:
        service = subprocess.Popen(podman + ["system", "service", "--time=0", "unix://" + path],
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                version = _get(path, "/version")
                break
            except OSError:
                assert time.monotonic() < deadline and service.poll() is None, open(os.path.join(root, "service.log")).read()
                time.sleep(0.1)
        podman_version = [c["Version"] for c in version["Components"] if c["Name"] == "Podman Engine"][0]
        yield {"url": "unix://" + path, "socket": path, "version": podman_version}
    finally:
        service.terminate()
        service.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def _get(socket_path, path):
    """GET `path` of the service's API over its unix socket (what the docker CLI would ask), as JSON."""
    connection = http.client.HTTPConnection("podman")
    connection.sock = socket.socket(socket.AF_UNIX)
    connection.sock.connect(socket_path)
    try:
        connection.request("GET", path)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def podman_state(service):
    return {"containers": [c["Id"] for c in _get(service["socket"], "/containers/json?all=true")],
            "images": [i["Id"] for i in _get(service["socket"], "/images/json")]}


def definition(name, **extra):
    target = {"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "missing"}
    target.update(extra.pop("target", {}))
    return dict({"image_name": name, "image_version": "1.0.0", "image_roles": ["touch"], "image_targets": [target]},
                **extra)


def test_a_podman_service_is_refused_before_anything_is_created(docker_client, project, podman_service):
    project.role("touch", "- name: Leave a mark\n  ansible.builtin.command: touch /built\n  changed_when: true\n")
    controller_tmp = tempfile.mkdtemp(prefix="pmc-")  # short: ansible-core's RPC socket lives under it
    refused = REFUSED % podman_service["version"]
    before = engine_state(docker_client)
    try:
        cases = [
            # the target's engine, as the definition names it
            ("target container: the engine at %s " % podman_service["url"],
             definition("pmtarget", target={"docker_host": podman_service["url"]}), {}),
            # DOCKER_HOST, as Podman's documentation tells docker CLI users to set it
            ("target container: the engine at %s " % podman_service["url"], definition("pmenv"),
             {"DOCKER_HOST": podman_service["url"]}),
            # one engine of a pool, beside a Docker engine that would do: bad input, not an engine to skip
            ("image_engines: the engine at %s " % podman_service["url"],
             definition("pmpool", image_engines=["unix:///var/run/docker.sock", podman_service["url"]]), {}),
        ]
        for where, broken, env in cases:
            proc = run_build(project.path, broken, env=dict(env, TMPDIR=controller_tmp))
            assert proc.returncode != 0, proc.output[-3000:]
            assert where + refused in proc.output, proc.output[-3000:]
            # the plan is the first task, and nothing after it ran
            assert "Start the docker builders" not in proc.output, proc.output[-3000:]
            assert podman_state(podman_service) == {"containers": [], "images": []}
            assert new_resources(docker_client, before, broken["image_name"]) == {"containers": [], "images": []}
            assert not [n for n in os.listdir(controller_tmp) if n.startswith("immutable-images")], os.listdir(controller_tmp)
    finally:
        shutil.rmtree(controller_tmp, ignore_errors=True)
