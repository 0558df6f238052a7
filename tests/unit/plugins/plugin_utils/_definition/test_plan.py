# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugin_utils/_definition/plan.py: the declared contract between the roles. What image_definition returns for
representative definitions conforms to it, and the RETURN of modules/image_definition.py says the same."""

from __future__ import annotations

import tempfile

import pytest
import yaml

from ansible_collections.immutable.images.plugins.modules import image_definition as image_definition_doc
from ansible_collections.immutable.images.plugins.module_utils._artifacts import reuse
from ansible_collections.immutable.images.plugins.plugin_utils._definition import plan

DOCKER = {"name": "container", "type": "docker", "base_image": "debian:bookworm", "push": ["registry.example/web"],
          "save": "web.tar", "config": {"cmd": ["/bin/sh"], "env": {"A": "1"}}, "build_env": {"TOKEN": "secret"},
          "registry_auth": {"username": "u", "password": "p"}, "tls": {"verify": True, "ca_cert": "ca.pem"},
          "base_image_auth": {"username": "puller", "password": "pull-secret"},
          "docker_host": "tcp://127.0.0.1:2376"}
EC2 = {"name": "aws", "type": "ec2", "region": "eu-west-1", "source_ami": "ami-12345678", "ssh_username": "admin",
       "tags": {"team": "web"}, "allowed_cidrs": ["203.0.113.7/32"], "copy_to_regions": ["us-east-1"], "user_data": "#!/bin/sh\ntrue\n"}


@pytest.fixture
def planned(run_action, tmp_path, monkeypatch):
    """image_definition's plan for a definition in a fresh directory, without engines or AWS (the reuse check
    answers `reused` for the targets named in it)."""
    monkeypatch.chdir(tmp_path)
    # the build's work directory (its files and roles' task file), which no finalize removes here: in the test's own
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "roles" / "web" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "web" / "tasks" / "main.yml").write_text("- ansible.builtin.debug: {msg: hi}\n")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_text("a")
    (tmp_path / "ca.pem").write_text("not a real CA: the plan only resolves its path")

    def run(reused=(), **definition):
        def check_target(target, *_args, **_kwargs):
            if target["name"] in reused:
                return "sha256:base", {"build_id": "20261201T0000Z-aaaaaa", "image_id": "sha256:old", "missing_refs": []}, \
                    "same inputs"
            return "sha256:base", None, None
        monkeypatch.setattr(reuse, "check_target", check_target)
        monkeypatch.setattr(reuse, "python_in_base", lambda target, **_k: (target["python_interpreter"], None))
        monkeypatch.setattr(reuse, "platform_note", lambda target, **_k: None)
        result = run_action("image_definition", {}, dict({"image_name": "web", "image_version": "1.0.0"}, **definition))
        assert not result.get("failed"), result
        return result["build"]
    return run


def assert_conforms(build):
    assert plan.validate(plan.plan_spec(), build) == []
    for target in build["targets"] + build["reused_targets"]:
        assert plan.validate(plan.target_spec(), target) == []
        assert "secret" not in repr(target) and "#!/bin/sh" not in repr(target)


def test_a_docker_target_with_roles_and_files(planned):
    build = planned(image_targets=[DOCKER], image_roles=[{"role": "web", "vars": {"port": "{{ web_port }}"}}],
                    image_files=[{"src": "files/", "dest": "/opt/files"}], image_manifest="manifest.json")
    assert_conforms(build)
    assert build["role_tasks"] and build["files_archive"] and [r["name"] for r in build["roles"]] == ["web"]
    assert build["targets"][0]["base_image_auth"] is True and "puller" not in repr(build)


def test_an_ec2_target_without_roles(planned):
    build = planned(image_targets=[EC2])
    assert_conforms(build)
    assert build["roles"] == [] and build["role_tasks"] == []


def test_several_targets_one_reused_one_not_selected(planned):
    second = dict(DOCKER, name="second", save=None, push=[], repository="web-second")  # its own tags
    third = dict(DOCKER, name="third")
    build = planned(reused=("second",), image_targets=[DOCKER, second, third, EC2], image_only=["container", "second", "aws"],
                    image_keep={"count": 3})
    assert_conforms(build)
    assert [t["name"] for t in build["reused_targets"]] == ["second"] and build["skipped_targets"] == ["third"]


def test_the_schema_refuses_what_it_does_not_declare():
    assert plan.validate(plan.result_spec(), {"status": "succeeded", "artefact": {}})
    assert plan.validate(plan.target_spec(), {"name": "x", "type": "docker", "selected": "maybe"})


def test_return_documents_the_plan_as_declared():
    documented = yaml.safe_load(image_definition_doc.RETURN)["build"]["contains"]
    assert documented == plan.return_doc(plan.plan_spec(), plan.RETURN_SAME_AS), \
        "RETURN of plugins/modules/image_definition.py and plugin_utils/_definition/plan.py differ: regenerate " \
        "the RETURN with scripts/gen-plan-return"


def test_the_reused_targets_have_the_keys_of_the_targets_documented_once():
    spec = plan.plan_spec()
    assert spec["reused_targets"]["options"] == spec["targets"]["options"]
    documented = yaml.safe_load(image_definition_doc.RETURN)["build"]["contains"]
    assert "contains" not in documented["reused_targets"] and "RV(build.targets)" in documented["reused_targets"]["description"]
