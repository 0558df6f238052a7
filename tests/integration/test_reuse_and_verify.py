# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Skip what is already built, the plan in --check, and image_verify checks on the builder, on a real engine."""

import json
import time

import pytest

from conftest import BASE_IMAGE, build_containers, engine_state, new_resources, recap, run_build, sh_in_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROLE = """
- name: Write the greeting
  ansible.builtin.copy:
    content: "{{ greeting }}\\n"
    dest: /greeting
    mode: "0644"
"""


def definition(name, greeting="hello", **extra):
    spec = {"image_name": name, "image_version": "1.0.0", "image_gather_facts": False,
            "image_manifest": "manifest.json",
            "image_roles": [{"role": "greet", "vars": {"greeting": greeting}}],
            "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never"}]}
    spec.update(extra)
    return spec


@pytest.fixture
def greet_project(project, remove_images):
    project.role("greet", ROLE)
    return project


def manifest(project):
    return json.loads((project.path / "manifest.json").read_text())


def test_second_build_with_the_same_inputs_reuses_the_image(docker_client, greet_project, remove_images):
    remove_images("reusetest")
    first = run_build(greet_project.path, definition("reusetest"))
    assert first.returncode == 0, first.output
    built = manifest(greet_project)["targets"][0]["artifact"]["image_id"]

    plan = run_build(greet_project.path, definition("reusetest"), "--check")
    assert plan.returncode == 0, plan.output
    assert "already built by build" in plan.output and "base: sha256:" in plan.output

    docker_client.images.get("reusetest:latest").tag("reusetest", "elsewhere")
    docker_client.api.remove_image("reusetest:latest")  # a tag the rerun must put back
    before = engine_state(docker_client)
    started = int(time.time()) - 1
    second = run_build(greet_project.path, definition("reusetest"))
    assert second.returncode == 0, second.output
    created = list(docker_client.events(since=started, until=int(time.time()) + 1, decode=True, filters={
        "type": "container", "event": "create", "label": "immutable.images.image-name=reusetest"}))
    assert created == []  # not one container, not even one removed again
    target = manifest(greet_project)["targets"][0]
    assert target["reused"] is True and target["builder"] is None
    assert target["artifact"]["image_id"] == built
    assert docker_client.images.get("reusetest:latest").id == built
    assert "TASK [greet : Write the greeting]" not in second.output  # no builder, no roles
    assert "Start the docker builders" not in second.output
    assert new_resources(docker_client, before, "reusetest") == {"containers": [], "images": []}
    assert recap(second.output, "localhost")["changed"] == 1  # the tag it put back
    again = run_build(greet_project.path, definition("reusetest"))
    assert again.returncode == 0, again.output
    assert recap(again.output, "localhost")["changed"] == 0  # an identical rerun changes nothing

    changed = run_build(greet_project.path, definition("reusetest", greeting="changed"))
    assert changed.returncode == 0, changed.output
    assert manifest(greet_project)["targets"][0]["artifact"]["image_id"] != built

    forced = run_build(greet_project.path, definition("reusetest", greeting="changed", image_force=True))
    assert forced.returncode == 0, forced.output
    # built again, of the layer the build before stored: its builder is created at that layer and never started
    assert "builder: not started; every role's layer is cached" in forced.output, forced.output
    assert manifest(greet_project)["targets"][0].get("reused") is None
    assert manifest(greet_project)["targets"][0]["builder"] is not None


def test_a_variable_the_roles_read_directly_is_an_input_too(docker_client, greet_project, remove_images):
    # The role reads `greeting` itself (no role entry vars): an extra variable, as a CI job passes a version.
    remove_images("extravartest")
    spec = definition("extravartest", image_roles=["greet"])

    def build(*args):
        proc = run_build(greet_project.path, spec, *args)
        assert proc.returncode == 0, proc.output
        target = manifest(greet_project)["targets"][0]
        return target.get("reused") is True, sh_in_image(docker_client, "extravartest:1.0.0", "cat /greeting").strip()

    assert build("-e", "greeting=one") == (False, "one")
    # Neither the image nor the role's layer (the cache is on) made with `one` stands for `two`.
    assert build("-e", "greeting=two") == (False, "two")
    # The same value again is the same input; AWX's job metadata and the collection's own variables are not inputs.
    assert build("-e", "greeting=two", "-e", "awx_job_id=7", "-e", "tower_job_id=7",
                 "-e", "image_manifest=manifest.json") == (True, "two")


def test_a_group_variable_the_builders_get_from_the_inventory_is_an_input_too(docker_client, greet_project,
                                                                              remove_images):
    # The role reads `greeting` from a group_vars/ file of the builders' group, beside the inventory given with -i:
    # where an Ansible shop keeps its role settings.
    remove_images("groupvartest")
    spec = definition("groupvartest", image_roles=["greet"])
    inventory = greet_project.path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text("all:\n  children:\n    image_builders: {}\n")

    def build(greeting, *args):
        (inventory / "group_vars" / "image_builders.yml").write_text("greeting: %s\n" % greeting)
        proc = run_build(greet_project.path, spec, "-i", "inventory/hosts.yml", *args)
        assert proc.returncode == 0, proc.output
        target = manifest(greet_project)["targets"][0]
        return target.get("reused") is True, sh_in_image(docker_client, "groupvartest:1.0.0", "cat /greeting").strip()

    assert build("one") == (False, "one")
    # Neither the image nor the role's layer (the cache is on) made with `one` stands for `two`.
    assert build("two") == (False, "two")
    assert build("two") == (True, "two")
    # An extra variable wins over the group's, as on the builder: the group's value is no input then, and the same
    # value is the same input wherever it comes from.
    assert build("three", "-e", "greeting=two") == (True, "two")


def test_a_role_that_a_role_pulls_in_is_an_input_too(docker_client, project, remove_images):
    # A shop's roles/app depends on roles/common (meta/main.yml) and includes roles/motd by name: image_roles names
    # only app, yet a change to either role it pulls in must build again.
    remove_images("pulledintest")
    project.role("app", "- ansible.builtin.include_role: {name: motd}\n")
    (project.path / "roles" / "app" / "meta").mkdir()
    (project.path / "roles" / "app" / "meta" / "main.yml").write_text("dependencies: [common]\n")
    common = project.role("common", "- ansible.builtin.copy: {content: \"one\\n\", dest: /common, mode: \"0644\"}\n")
    motd = project.role("motd", "- ansible.builtin.copy: {content: \"one\\n\", dest: /motd, mode: \"0644\"}\n")
    spec = definition("pulledintest", image_roles=["app"])

    def build():
        proc = run_build(project.path, spec)
        assert proc.returncode == 0, proc.output
        return (manifest(project)["targets"][0].get("reused") is True,
                sh_in_image(docker_client, "pulledintest:1.0.0", "cat /common /motd").split())

    assert build() == (False, ["one", "one"])
    (common / "tasks" / "main.yml").write_text(
        "- ansible.builtin.copy: {content: \"two\\n\", dest: /common, mode: \"0644\"}\n")
    assert build() == (False, ["two", "one"])
    (motd / "tasks" / "main.yml").write_text(
        "- ansible.builtin.copy: {content: \"two\\n\", dest: /motd, mode: \"0644\"}\n")
    assert build() == (False, ["two", "two"])
    assert build() == (True, ["two", "two"])


def test_failing_check_fails_the_target_and_tags_nothing(docker_client, greet_project, remove_images):
    remove_images("verifytest")
    checks = [
        {"name": "the greeting file exists", "ansible.builtin.stat": {"path": "/greeting"}, "register": "greeting_file"},
        {"ansible.builtin.assert": {"that": ["greeting_file.stat.exists"], "fail_msg": "no greeting file"}},
        {"ansible.builtin.command": "grep -q goodbye /greeting", "changed_when": False},
    ]
    before = engine_state(docker_client)
    result = run_build(greet_project.path, definition("verifytest", image_verify=checks))
    assert result.returncode != 0
    target = manifest(greet_project)["targets"][0]
    assert target["status"] == "failed" and target["error"]["stage"] == "verify", target
    assert "grep -q goodbye" in result.output
    assert not docker_client.images.list(name="verifytest")
    assert new_resources(docker_client, before, "verifytest") == {"containers": [], "images": []}

    checks[2] = {"ansible.builtin.command": "grep -q hello /greeting", "changed_when": False}
    passed = run_build(greet_project.path, definition("verifytest", image_verify=checks))
    assert passed.returncode == 0, passed.output
    assert "Verify 3: ansible.builtin.command" in passed.output
    assert docker_client.images.get("verifytest:1.0.0")


def test_bad_verify_entry_is_rejected_before_anything_starts(docker_client, greet_project):
    before = engine_state(docker_client)
    result = run_build(greet_project.path, definition("verifybad", image_verify=[{"run": {"http": {"path": "/"}}}]))
    assert result.returncode != 0
    assert "image_verify[0].run" in result.output
    assert new_resources(docker_client, before, "verifybad") == {"containers": [], "images": []}
    assert not build_containers(docker_client) or all(
        c.labels.get("immutable.images.image-name") != "verifybad" for c in build_containers(docker_client))


def test_run_test_of_the_candidate_gates_the_tags(docker_client, greet_project, remove_images):
    remove_images("runtest")
    target = {"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never", "squash": True,
              "config": {"cmd": ["sleep", "infinity"], "user": "nobody"}}
    # its env: a flag and a secret, which the test's output echoes
    probe = {"run": {"command": {"cmd": ["sh", "-c", "cat /greeting; echo $DRY_RUN $TOKEN"], "stdout_contains": "goodbye"},
                     "env": {"DRY_RUN": "1", "TOKEN": "tk-Secret-4711"}, "timeout": 8}}
    before = engine_state(docker_client)
    failed = run_build(greet_project.path, definition("runtest", image_verify=[probe], image_targets=[target]))
    assert failed.returncode != 0
    error = manifest(greet_project)["targets"][0]["error"]
    assert error["stage"] == "verify" and "run test 1 of 1 failed" in error["message"], error
    assert "goodbye" in error["message"] and "1 ********" in error["message"], error["message"]
    assert "tk-Secret-4711" not in failed.output
    assert not docker_client.images.list(name="runtest")
    assert new_resources(docker_client, before, "runtest") == {"containers": [], "images": []}, error["message"]

    probe["run"]["command"]["stdout_contains"] = "hello"
    passed = run_build(greet_project.path, definition("runtest", image_verify=[probe], image_targets=[target]))
    assert passed.returncode == 0, passed.output
    image = docker_client.images.get("runtest:1.0.0")
    # the env's "1" masked nothing of the artifact (it was masked wherever it occurred: runtest:********.0.0)
    artifact = manifest(greet_project)["targets"][0]["artifact"]
    assert artifact["image_id"] == image.id and "runtest:1.0.0" in artifact["tags"], artifact
    assert len(image.attrs["RootFS"]["Layers"]) == 1  # squash: true
    assert image.attrs["Config"]["User"] == "nobody" and image.attrs["Config"]["Cmd"] == ["sleep", "infinity"]
