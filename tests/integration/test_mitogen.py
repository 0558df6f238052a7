"""Mitogen where it is installed: the plan chooses it for docker builders, the same roles give the same image
as with the collection's own session, modules really run in Mitogen's interpreter, the layer cache's swap
works under it, and image_mitogen: false or a docker_host the docker CLI does not use keep the session."""

import os

import pytest

from conftest import run_build, sh_in_image
from test_warm_interpreter import HANDLERS, ROLE, STATE, assert_no_relay_left, definition

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CHOSEN = "Mitogen: runs the tasks of the docker builders"


@pytest.fixture
def mitogen_env():
    """PYTHONPATH with Mitogen (scripts/setup-env installs it in .deps/mitogen, outside the virtualenv)."""
    path = os.environ.get("IMMUTABLE_MITOGEN_PATH")
    if not path:
        pytest.skip("IMMUTABLE_MITOGEN_PATH is not set: source .deps/env.sh (scripts/setup-env) first")
    assert os.path.isdir(os.path.join(path, "ansible_mitogen")), "run scripts/setup-env: no Mitogen in %s" % path
    return {"PYTHONPATH": os.pathsep.join(p for p in (path, os.environ.get("PYTHONPATH")) if p)}


def test_same_roles_same_image_with_mitogen_and_with_the_session(docker_client, project, remove_images, mitogen_env):
    remove_images("warmtest")
    project.role("app", ROLE, handlers=HANDLERS)
    with_mitogen = run_build(project.path, dict(definition(True), image_targets=[
        dict(definition(True)["image_targets"][0], tags=["mitogen"])]), env=mitogen_env)
    assert with_mitogen.returncode == 0, with_mitogen.output
    assert CHOSEN in with_mitogen.output
    without = run_build(project.path, definition(True))  # Mitogen not importable: the session, as by default
    assert without.returncode == 0, without.output
    assert "Mitogen: not used (Mitogen is not installed" in without.output

    state = {tag: sh_in_image(docker_client, "warmtest:" + tag, STATE) for tag in ("mitogen", "warm")}
    assert state["mitogen"] == state["warm"]
    assert "handler: handler ran" in state["mitogen"] and "failure: rc=1" in state["mitogen"]
    # Mitogen's interpreter ran the module (not our warm server, which it does not need, nor a fresh python3)
    module = sh_in_image(docker_client, "warmtest:mitogen", "cat /module-process")
    assert "mitogen" in module.lower() and "immutable-images-warm" not in module, module
    # nothing of the warm interpreter or the session was installed in the builder
    assert "immutable-images-warm" not in sh_in_image(docker_client, "warmtest:mitogen", "ls /dev/shm; cat /raw-parent")
    assert_no_relay_left()


FIRST_ROLE = """
- name: Write the first layer
  ansible.builtin.copy:
    content: "first\\n"
    dest: /first
    mode: "0644"
"""

SECOND_ROLE = """
- name: Write the second layer
  ansible.builtin.copy:
    content: "second {{ second_rev }}\\n"
    dest: /second
    mode: "0644"
- name: Record which process ran this module
  ansible.builtin.shell: "tr '\\\\0' ' ' < /proc/$PPID/cmdline > /second-process"
  changed_when: true
"""


def test_a_rebuild_from_the_layer_cache_runs_the_rest_under_mitogen(docker_client, project, remove_images, mitogen_env):
    remove_images("mitocache")
    project.role("first", FIRST_ROLE)
    project.role("second", SECOND_ROLE)

    def build(rev):
        d = {"image_name": "mitocache", "image_version": "1.0.0", "image_gather_facts": False,
             "image_roles": ["first", {"role": "second", "vars": {"second_rev": rev}}],
             "image_targets": [dict(definition(True)["image_targets"][0], tags=[rev])]}
        result = run_build(project.path, d, "-v", env=mitogen_env)
        assert result.returncode == 0, result.output
        assert CHOSEN in result.output
        return result

    build("one")
    second = build("two")  # the first role comes from the cache: the builder is swapped onto its layer
    assert '"hit": true' in second.output
    state = sh_in_image(docker_client, "mitocache:two", "cat /first /second /second-process")
    assert state.splitlines()[:2] == ["first", "second two"]
    assert "mitogen" in state.lower()


SIMPLE_ROLE = """
- name: Record which process ran this module
  ansible.builtin.shell: "tr '\\\\0' ' ' < /proc/$PPID/cmdline > /module-process"
  changed_when: true
"""


@pytest.mark.parametrize("how", ["image_mitogen: false", "docker_host the CLI does not use"])
def test_mitogen_is_not_used_when_turned_off_or_unsuitable(docker_client, project, remove_images, mitogen_env, how):
    remove_images("warmtest")
    project.role("app", SIMPLE_ROLE)
    d = definition(True)
    env = dict(mitogen_env)
    if how.startswith("image_mitogen"):
        d["image_mitogen"] = False
    else:  # the same engine, but named otherwise than DOCKER_HOST: Mitogen's docker CLI could reach another one
        env["DOCKER_HOST"] = "unix:///var/run/docker.sock"
        d["image_targets"][0]["docker_host"] = "unix:///run/docker.sock"
    result = run_build(project.path, d, env=env)
    assert result.returncode == 0, result.output
    assert CHOSEN not in result.output
    if how.startswith("docker_host"):
        assert "its docker_host is not the engine the docker CLI uses" in result.output
    # the builder kept the collection's session: the module ran in its warm interpreter
    assert "immutable-images-warm/server.py" in sh_in_image(docker_client, "warmtest:warm", "cat /module-process")
    assert_no_relay_left()
