"""How the plan decides whether docker builders run through Mitogen, without Mitogen or an engine."""

import pytest

from ansible_collections.immutable.images.plugins.plugin_utils import mitogen


def targets():
    return [{"name": "app", "type": "docker", "docker_host": None},
            {"name": "remote", "type": "docker", "docker_host": "tcp://10.0.0.9:2376"},
            {"name": "ami", "type": "ec2"}]


@pytest.fixture
def installed(monkeypatch):
    monkeypatch.setattr(mitogen, "unavailable_reason", lambda: None)


def test_chosen_for_docker_targets_on_the_cli_engine_only(installed):
    planned = targets()
    strategy, note = mitogen.plan(planned, True, environ={})
    assert strategy == mitogen.STRATEGY
    assert [t["mitogen"] for t in planned] == [True, False, False]
    assert note.startswith("Mitogen: runs the tasks of the docker builders (not of remote: its docker_host")


def test_a_docker_host_equal_to_docker_host_env_is_the_cli_engine(installed):
    planned = targets()[1:2]
    assert mitogen.plan(planned, True, environ={"DOCKER_HOST": "tcp://10.0.0.9:2376"})[0] == mitogen.STRATEGY
    assert planned[0]["mitogen"] is True


def test_not_chosen_when_turned_off_or_without_docker_targets(installed):
    planned = targets()
    assert mitogen.plan(planned, False, environ={}) == (None, None)
    assert not any(t["mitogen"] for t in planned)
    assert mitogen.plan([{"name": "ami", "type": "ec2"}], True, environ={}) == (None, None)


def test_not_chosen_when_no_target_suits(installed):
    planned = targets()[1:]
    strategy, note = mitogen.plan(planned, True, environ={})
    assert strategy is None and note.startswith("Mitogen: not used (remote: its docker_host")


def test_says_why_when_mitogen_cannot_run(monkeypatch):
    monkeypatch.setattr(mitogen, "unavailable_reason", lambda: "Mitogen is not installed for this Python")
    planned = targets()
    strategy, note = mitogen.plan(planned, True, environ={})
    assert strategy is None and not any(t["mitogen"] for t in planned)
    assert note == ("Mitogen: not used (Mitogen is not installed for this Python); "
                    "docker builders run through the builder session")


def test_unavailable_without_the_package_or_the_docker_cli(monkeypatch):
    monkeypatch.setattr(mitogen.importlib.util, "find_spec", lambda name: None)
    assert "not installed" in mitogen.unavailable_reason()
    monkeypatch.setattr(mitogen.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(mitogen.shutil, "which", lambda name: None)
    assert "docker CLI" in mitogen.unavailable_reason()
    monkeypatch.setattr(mitogen.shutil, "which", lambda name: "/usr/bin/docker")
    assert mitogen.unavailable_reason() is None
