# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release artifact: `ansible-galaxy collection build` makes a tarball without caches,
virtualenvs or test output, and the collection installed from it (next to its dependencies, in a
collections path that holds nothing else) builds the example image."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import uuid

import pytest
import yaml

from conftest import ROOT, ansible_env

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BIN = os.path.dirname(sys.executable)
DEPENDENCIES = ("community/docker", "amazon/aws")
# Never in a release: local state of a checkout (see build_ignore in galaxy.yml).
FORBIDDEN_PARTS = {".deps", ".git", ".pytest_cache", "__pycache__", "bench", ".ansible", ".ci"}
FORBIDDEN_NAMES = {"build-manifest.json", ".gitignore"}


def meets(have, op, want):
    from ansible.utils.version import SemanticVersion
    have, want = SemanticVersion(have), SemanticVersion(want)
    return {">=": have >= want, ">": have > want, "<": have < want, "<=": have <= want, "==": have == want,
            "!=": have != want}[op]


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=kwargs.pop("timeout", 300), check=False,
                          **kwargs)
    assert proc.returncode == 0, "%s\n%s%s" % (" ".join(cmd), proc.stdout[-4000:], proc.stderr[-4000:])
    return proc


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(out), ROOT], cwd=ROOT)
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        version = yaml.safe_load(f)["version"]
    path = out / ("immutable-images-%s.tar.gz" % version)
    assert path.exists(), os.listdir(str(out))
    return path


def test_tarball_has_the_collection_and_nothing_of_the_checkout(tarball):
    with tarfile.open(str(tarball)) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    for name in names:
        parts = name.split("/")
        assert not FORBIDDEN_PARTS & set(parts), name
        assert not name.startswith("tests/output"), name
        assert parts[-1] not in FORBIDDEN_NAMES, name
        assert not name.endswith((".pyc", ".tar.gz", ".retry", ".cdx.json")), name
    for wanted in ("README.md", "meta/runtime.yml", "meta/execution-environment.yml", "playbooks/build_image.yml",
                   "roles/launch/meta/argument_specs.yml", "plugins/modules/docker_image_commit.py",
                   "examples/webapp/webapp.yml", "examples/awx-project/build_image.yml",
                   "changelogs/changelog.yaml", "CHANGELOG.md", "CHANGELOG.rst"):
        assert wanted in names, wanted
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"]) == ("immutable", "images")
    assert set(info["dependencies"]) == {"community.docker", "amazon.aws"}


def test_installed_tarball_builds_the_example(tarball, tmp_path, docker_client, remove_images):
    # a collections path with nothing but the release and copies of its two dependencies
    clean = tmp_path / "collections"
    for dep in DEPENDENCIES:
        shutil.copytree(os.path.join(ROOT, ".deps", "collections", "ansible_collections", dep),
                        str(clean / "ansible_collections" / dep), symlinks=False)
    env = ansible_env({"ANSIBLE_COLLECTIONS_PATH": str(clean), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false"})
    # --no-deps: Galaxy is not reachable here (and community.docker's own dependency, only needed by
    # its inventory plugins, is not in .deps); the versions in the path must meet galaxy.yml instead
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(clean), str(tarball)],
        env=env, cwd=str(tmp_path))
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        wanted = yaml.safe_load(f)["dependencies"]
    for dep in DEPENDENCIES:
        with open(str(clean / "ansible_collections" / dep / "MANIFEST.json")) as f:
            have = json.load(f)["collection_info"]["version"]
        for spec in [s for s in wanted[dep.replace("/", ".")].split(",") if s.strip() != "*"]:
            op, version = re.match(r"\s*([<>=!]*)\s*(\S+)", spec).groups()
            assert meets(have, op or "==", version), "%s %s does not meet %s" % (dep, have, spec)
    installed = clean / "ansible_collections" / "immutable" / "images"
    assert (installed / "MANIFEST.json").exists() and not os.path.islink(str(installed))
    listing = run([os.path.join(BIN, "ansible-galaxy"), "collection", "list", "--format", "json"], env=env,
                  cwd=str(tmp_path)).stdout
    found = {name for path in json.loads(listing).values() for name in path}
    assert found == {"immutable.images", "community.docker", "amazon.aws"}, found

    # the example as shipped in the release, run from a copy, as a user would
    project = tmp_path / "webapp"
    shutil.copytree(str(installed / "examples" / "webapp"), str(project))
    name = "relart%s" % uuid.uuid4().hex[:6]
    remove_images(name)
    remove_images("immutable-images-cache/" + name)
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "immutable.images.build_image", "-e", "@webapp.yml",
         "-e", "image_name=%s" % name, "-e", "image_manifest=manifest.json"],
        cwd=str(project), env=env, capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    with open(str(project / "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["status"] == "succeeded"
    image = docker_client.images.get("%s:1.0.0" % name)
    assert image.id == manifest["targets"][0]["artifact"]["image_id"]
    assert image.attrs["Config"]["User"] == "appuser"
