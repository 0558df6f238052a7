# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's execution environment metadata, as ansible-builder reads it.

`ansible-builder build` would need to pull a base image, so this stops at what can be checked
offline: the collection's meta/execution-environment.yml is found by ansible-builder's
introspection, and `ansible-builder create` writes a complete build context from the example EE
definition of examples/awx-project and from one that uses the collection's requirement files.
"""

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT

BUILDER = os.path.join(os.path.dirname(sys.executable), "ansible-builder")
EE_EXAMPLE = os.path.join(ROOT, "examples", "awx-project", "execution-environment.yml")


def builder(*args, cwd=None):
    if not os.path.exists(BUILDER):
        pytest.fail("ansible-builder is not installed: run scripts/setup-env (tests/requirements.txt)")
    proc = subprocess.run([BUILDER] + list(args), cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def lines(path):
    with open(path) as f:
        return [line.split("#")[0].strip() for line in f if line.split("#")[0].strip()]


def containerfile(context):
    for name in ("Containerfile", "Dockerfile"):
        path = os.path.join(context, name)
        if os.path.exists(path):
            with open(path) as f:
                return f.read()
    pytest.fail("ansible-builder wrote neither a Containerfile nor a Dockerfile in %s" % context)


def test_collection_declares_its_ee_requirements():
    with open(os.path.join(ROOT, "meta", "execution-environment.yml")) as f:
        meta = yaml.safe_load(f)
    assert meta["version"] == 1
    assert meta["dependencies"] == {"python": "meta/ee-requirements.txt", "system": "meta/ee-bindep.txt"}
    python = lines(os.path.join(ROOT, "meta", "ee-requirements.txt"))
    # everything the controller side imports (requirements.txt minus ansible-core, which the EE has)
    with_core = {r.split(">")[0].split("=")[0].split("<")[0] for r in lines(os.path.join(ROOT, "requirements.txt"))}
    declared = {r.split(">")[0].split("=")[0].split("<")[0] for r in python}
    assert with_core - {"ansible-core", "jinja2"} <= declared


def test_introspection_finds_the_collection_requirements(tmp_path):
    """What `ansible-builder build` does inside the builder stage, on an installed copy."""
    dest = tmp_path / "ansible_collections" / "immutable" / "images"
    dest.mkdir(parents=True)
    for name in ("galaxy.yml", "meta"):
        src = os.path.join(ROOT, name)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, str(dest / name))
    out = yaml.safe_load(builder("introspect", "--sanitize", str(tmp_path)).split("\n", 1)[1])
    python = [p.split("#")[0].strip() for p in out["python"]]
    system = [s.split("#")[0].strip() for s in out["system"]]
    assert python == lines(os.path.join(ROOT, "meta", "ee-requirements.txt"))
    assert system == lines(os.path.join(ROOT, "meta", "ee-bindep.txt"))
    assert all("immutable.images" in p for p in out["python"] + out["system"])


def test_create_context_for_the_awx_example(tmp_path):
    context = tmp_path / "context"
    builder("create", "-f", EE_EXAMPLE, "-c", str(context))
    text = containerfile(str(context))
    # the collections come from the project's collections/requirements.yml ...
    with open(context / "_build" / "requirements.yml") as f:
        names = [c["name"] for c in yaml.safe_load(f)["collections"]]
    assert names == ["immutable.images", "community.docker", "amazon.aws"]
    assert "ansible-galaxy collection install" in text and "requirements.yml" in text
    # ... and their Python/system requirements from each collection's meta/execution-environment.yml
    assert "introspect" in text and "--write-pip" in text and "install-from-bindep" in text
    assert "ansible-core>=2.19" in text and "ansible-runner" in text


def test_create_context_with_the_requirement_files(tmp_path):
    """An EE that takes the collection's requirement files directly (no Galaxy at build time)."""
    for name in ("ee-requirements.txt", "ee-bindep.txt"):
        shutil.copy(os.path.join(ROOT, "meta", name), str(tmp_path / name))
    definition = {
        "version": 3,
        "images": {"base_image": {"name": "quay.io/centos/centos:stream9"}},
        "dependencies": {
            "python_interpreter": {"package_system": "python3.12", "python_path": "/usr/bin/python3.12"},
            "ansible_core": {"package_pip": "ansible-core>=2.19"},
            "ansible_runner": {"package_pip": "ansible-runner"},
            "python": "ee-requirements.txt",
            "system": "ee-bindep.txt",
        },
    }
    (tmp_path / "execution-environment.yml").write_text(yaml.safe_dump(definition))
    context = tmp_path / "context"
    builder("create", "-f", "execution-environment.yml", "-c", str(context), cwd=str(tmp_path))
    text = containerfile(str(context))
    assert "requirements.txt" in text and "bindep.txt" in text
    assert lines(context / "_build" / "requirements.txt") == lines(tmp_path / "ee-requirements.txt")
    assert lines(context / "_build" / "bindep.txt") == lines(tmp_path / "ee-bindep.txt")
