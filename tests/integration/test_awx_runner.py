# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An AWX-style run of examples/awx-project: ansible-runner with a private data dir, as AWX's
execution environments run jobs (project/, inventory/, env/extravars, env/envvars), and the survey
answers given as extra vars the way AWX passes them (a multiselect is a list)."""

import filecmp
import json
import os
import shutil
import uuid

import pytest
import yaml

from conftest import BASE_IMAGE, ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]

AWX_PROJECT = os.path.join(ROOT, "examples", "awx-project")
WEBAPP = os.path.join(ROOT, "examples", "webapp")
FINALIZE_PLAY = "Finalize the artifacts and clean up"

# What AWX accepts in a survey spec (awx/api/views JobTemplateSurveySpec._validate_spec_data).
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                "integer": int, "float": float}


def load_definition():
    with open(os.path.join(AWX_PROJECT, "images", "webapp.yml")) as f:
        return yaml.safe_load(f)


def test_survey_spec_is_valid_for_awx():
    with open(os.path.join(AWX_PROJECT, "survey.json")) as f:
        survey = json.load(f)
    assert isinstance(survey["name"], str) and isinstance(survey["description"], str)
    assert isinstance(survey["spec"], list) and survey["spec"]
    seen = set()
    for q in survey["spec"]:
        for key in ("question_name", "variable", "type"):
            assert isinstance(q[key], str) and q[key], (key, q)
        assert isinstance(q["required"], bool)
        assert q["variable"] not in seen
        seen.add(q["variable"])
        assert q["type"] in SURVEY_TYPES
        if q.get("default", "") != "":
            assert isinstance(q["default"], SURVEY_TYPES[q["type"]]), q
        for key in ("min", "max"):
            assert q.get(key) is None or isinstance(q[key], int)
        if q["type"] in ("multiselect", "multiplechoice"):
            choices = q["choices"].splitlines() if isinstance(q["choices"], str) else q["choices"]
            defaults = q.get("default", "").splitlines()
            assert set(defaults) <= set(choices)
            q["choices_list"] = choices
    by_var = {q["variable"]: q for q in survey["spec"]}
    assert by_var["image_version"]["type"] == "text"
    assert by_var["image_only"]["type"] == "multiselect"
    # the choices are exactly the definition's targets
    assert by_var["image_only"]["choices_list"] == [t["name"] for t in load_definition()["image_targets"]]


def test_project_layout():
    with open(os.path.join(AWX_PROJECT, "build_image.yml")) as f:
        plays = yaml.safe_load(f)
    assert {"ansible.builtin.import_playbook": "immutable.images.build_image", "name": "Build the image"} in plays
    with open(os.path.join(AWX_PROJECT, "collections", "requirements.yml")) as f:
        names = [c["name"] for c in yaml.safe_load(f)["collections"]]
    assert names == ["immutable.images", "community.docker", "amazon.aws"]
    # the project carries its own copy of the example's role and files (a project is its own repo):
    # it must not drift from examples/webapp
    for sub in ("roles/webapp", "dist"):
        cmp = filecmp.dircmp(os.path.join(WEBAPP, sub), os.path.join(AWX_PROJECT, sub), ignore=["__pycache__"])
        stack, diffs = [cmp], []
        while stack:
            c = stack.pop()
            diffs += c.left_only + c.right_only + c.diff_files
            stack.extend(c.subdirs.values())
        assert not diffs, "examples/awx-project/%s differs from examples/webapp/%s: %s" % (sub, sub, diffs)


@pytest.fixture
def private_data_dir(tmp_path):
    """The directory AWX hands to ansible-runner: the project checkout, an inventory, env/."""
    pdd = tmp_path / "runner"
    shutil.copytree(AWX_PROJECT, pdd / "project", ignore=shutil.ignore_patterns("__pycache__", "build-manifest.json"))
    (pdd / "inventory").mkdir()
    # AWX's localhost: what the job template's inventory should hold for this playbook
    (pdd / "inventory" / "hosts").write_text(
        "localhost ansible_connection=local ansible_python_interpreter=\"{{ ansible_playbook_python }}\"\n")
    (pdd / "env").mkdir()
    return pdd


def test_awx_style_run(docker_client, private_data_dir, remove_images):
    ansible_runner = pytest.importorskip("ansible_runner")
    name = "awxrun%s" % uuid.uuid4().hex[:6]
    version = "1.0.%d" % (uuid.uuid4().int % 1000)
    remove_images(name)
    remove_images("immutable-images-cache/" + name)

    # survey answers (image_version: text, image_only: multiselect -> list) plus a job template
    # extra var that keeps this test's image apart from the example's `webapp`
    extravars = {"image_version": version, "image_only": ["container"], "image_name": name}
    (private_data_dir / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    collections = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.path.join(ROOT, ".deps", "collections")
    envvars = {"ANSIBLE_COLLECTIONS_PATH": collections, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0"}
    (private_data_dir / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    assert load_definition()["image_targets"][0]["base_image"] == BASE_IMAGE, \
        "the example's base image is not the one scripts/setup-env made"

    result = ansible_runner.run(private_data_dir=str(private_data_dir), playbook="build_image.yml", quiet=True,
                                timeout=900)
    stdout = (private_data_dir / "artifacts" / result.config.ident / "stdout").read_text()
    assert result.status == "successful", stdout[-6000:]
    assert result.rc == 0

    events = list(result.events)
    plays = [e["event_data"].get("play") for e in events if e["event"] == "playbook_on_play_start"]
    assert FINALIZE_PLAY in plays, plays
    stats = [e for e in events if e["event"] == "playbook_on_stats"]
    assert len(stats) == 1
    data = stats[0]["event_data"]
    assert "localhost" in data["ok"] and not data.get("failures") and not data.get("dark")
    # the wrapper publishes the manifest as the job's artifacts (set_stats), as AWX shows them
    manifest = data["artifact_data"]["image_build_manifest"]
    assert manifest["status"] == "succeeded"
    assert manifest["version"] == version
    assert [t["name"] for t in manifest["targets"]] == ["container"], "image_only from the survey was ignored"
    assert manifest["skipped_targets"] == ["aws"]

    image = docker_client.images.get("%s:%s" % (name, version))
    assert image.attrs["Config"]["User"] == "appuser"
    assert image.attrs["Config"]["Env"] and "APP_VERSION=%s" % version in image.attrs["Config"]["Env"]
