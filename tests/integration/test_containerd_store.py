# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Docker targets on an engine with the containerd image store (the default of new Docker installs since Docker 29),
here Docker 26.1 with containerd-snapshotter (engines.py): an image's id is the digest of a manifest the engine writes.

Before, every squashed build failed there at its commit ("loading the squashed image ... gave sha256:<manifest>,
expected sha256:<config>"), and the registry digests of a push were recorded as null (that engine sends the digest
only in the push's last status line), so the manifest, the provenance and `docker pull repo@digest` had none.
"""

import json
import subprocess
import tarfile

import pytest
import requests

from conftest import BASE_IMAGE, run_build

pytestmark = [pytest.mark.docker]


def test_a_squashed_build_is_verified_saved_pushed_and_recorded_on_the_containerd_image_store(
        containerd_store_engine, registry, project):
    project.file("files/app/hello.txt", "hello\n")
    project.role("app", """\
        - name: Write the greeting
          ansible.builtin.copy:
            dest: /app/greeting.txt
            content: "{{ greeting }}\\n"
            mode: "0644"
        """, defaults={"greeting": "hi"})
    repo = "%s/c8d/app" % registry
    definition = {
        "image_name": "c8dapp", "image_version": "1.0.0", "image_manifest": "build-manifest.json",
        "image_files": [{"src": "files/app/", "dest": "/app"}],
        "image_roles": [{"role": "app", "vars": {"greeting": "from the containerd store"}}],
        "image_gather_facts": False,
        "image_verify": [{"run": {"command": {"cmd": ["cat", "/app/greeting.txt"],
                                              "stdout_contains": "from the containerd store"}}}],
        "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never",
                           "docker_host": containerd_store_engine.url, "squash": True, "save": "c8dapp.tar",
                           "push": [repo], "tags": ["1.0.0"],
                           "config": {"user": "nobody", "cmd": ["sleep", "infinity"], "env": {"MODE": "c8d"}}}],
    }
    proc = run_build(project.path, definition)
    assert proc.returncode == 0, proc.output[-5000:]

    artifact = json.loads((project.path / "build-manifest.json").read_text())["targets"][0]["artifact"]
    inspect = json.loads(containerd_store_engine.cli("image", "inspect", "c8dapp:1.0.0").stdout)[0]
    assert inspect["Id"] == artifact["image_id"]  # the engine's own name of the image: its manifest's digest
    assert len(inspect["RootFS"]["Layers"]) == 1  # squashed
    config = inspect["Config"]
    assert (config["User"], config["Cmd"]) == ("nobody", ["sleep", "infinity"])
    assert not config["Entrypoint"]  # not the builder's keep-alive shell
    assert "MODE=c8d" in config["Env"] and config["Labels"]["immutable.images.kind"] == "artifact"
    run = containerd_store_engine.cli("run", "--rm", "c8dapp:1.0.0", "cat", "/app/greeting.txt", "/app/hello.txt")
    assert run.stdout == b"from the containerd store\nhello\n"

    # the registry's digest of what was pushed is what the manifest records
    pushed = requests.head("http://%s/v2/c8d/app/manifests/1.0.0" % registry, timeout=10, headers={"Accept": ", ".join([
        "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json"])})
    assert pushed.status_code == 200
    assert artifact["digests"] == {repo + ":1.0.0": pushed.headers["Docker-Content-Digest"]}

    with tarfile.open(project.path / "c8dapp.tar") as saved:
        assert "manifest.json" in saved.getnames()
    # nothing of the build is left on the engine: no builder, no stand-in, no candidate
    left = subprocess.run(["docker", "-H", containerd_store_engine.unix_url, "ps", "-aq"], capture_output=True, text=True,
                          check=True).stdout.split()
    assert left == []
