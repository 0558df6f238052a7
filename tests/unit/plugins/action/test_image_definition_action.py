# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/image_definition.py: it takes no options (the definition is the image_* variables) and fails the
validate stage on a bad definition before anything is created. The plan itself: test_roles_like_a_play.py,
module_utils/test_definition.py and the integration tests."""

from __future__ import annotations


def test_takes_no_options(run_action):
    result = run_action("image_definition", {"image_name": "x"})
    assert result["failed"] and "unsupported parameters: image_name" in result["msg"]


def test_bad_definition_fails_the_validate_stage(run_action, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_action("image_definition", {}, {"image_name": "arch-web", "image_targets": []})
    assert result["failed"] and result["stage"] == "validate" and result["errors"]
    assert list(tmp_path.iterdir()) == []


def test_the_plan_guesses_a_builders_start_layer_only_where_it_knows_the_lookups_keys(monkeypatch):
    """_start_layer asks the engine only for a docker target on one engine whose base is known and not pulled again,
    with a build_env free of templates; a role whose vars or role parameters hold a template ends the keys it can know
    (None)."""
    from ansible_collections.immutable.images.plugins.action import image_definition as action

    asked = []

    def expected_layer(client, image_name, base_id, files_digest, roles, play, environment, target):
        asked.append((client, base_id, [(r["vars"], r["params"]) for r in roles], environment, target))
        return "sha256:layer", 1, "key-a"
    monkeypatch.setattr(action.layer_cache, "expected_layer", expected_layer)
    roles = [{"name": "a", "digest": "1", "tags": [], "vars": {"x": 1}, "params": {"p": 1}},
             {"name": "b", "digest": "2", "tags": [], "vars": {"y": "{{ ansible_facts.os_family }}"}, "params": {}},
             {"name": "c", "digest": "3", "tags": [], "vars": {}, "params": {"z": "{{ ansible_facts.os_family }}"}}]
    target = {"name": "c", "type": "docker", "definition_index": 0, "base": "sha256:base", "pull": "never",
              "docker_host": None}

    def guess(entry=None, **changes):
        raw = {"image_targets": [entry if entry is not None else {"name": "c", "build_env": {"PROXY": "http://p", "N": 2}}]}
        return action._start_layer(dict(target, **changes), "web", raw, roles, "f", {}, lambda host, tls=None: "client")

    assert guess() == ("sha256:layer", 1, "key-a")
    assert asked == [("client", "sha256:base", [({"x": 1}, {"p": 1}), (None, {}), ({}, None)],
                      {"PROXY": "http://p", "N": "2"}, "c")]
    asked.clear()
    for no_guess in (guess(pull="always"), guess(engine_pool=[{"docker_host": "tcp://e:2376"}]), guess(base=None),
                     guess(type="ec2"), guess({"name": "c", "build_env": {"PROXY": "{{ lookup('env', 'P') }}"}}),
                     guess("{{ my_target }}")):
        assert no_guess == (None, 0, None)
    assert asked == []


def test_the_plan_says_whether_the_build_runs_modules_on_the_controller():
    """controller_modules: only then does launch start the controller's warm interpreter. A docker build runs its
    builder, commit, run tests and clean-up in its tasks' workers; a push, a save, a reused image's missing tag,
    image_keep and every ec2 target run modules."""
    from ansible_collections.immutable.images.plugins.action.image_definition import _controller_modules

    docker = {"type": "docker", "push_refs": [], "save": None, "reuse": None}
    assert _controller_modules([docker], {}) is False
    assert _controller_modules([docker, dict(docker, reuse={"missing_refs": []})], {"count": None}) is False
    for runs_one in ([dict(docker, push_refs=["reg/web:1"])], [dict(docker, save="/out/web.tar")],
                     [dict(docker, reuse={"missing_refs": ["web:1"]})], [{"type": "ec2", "reuse": None}]):
        assert _controller_modules(runs_one, {}) is True
    assert _controller_modules([docker], {"count": 2}) is True


def test_the_plan_says_what_it_expects_to_run_on_the_builders():
    """A docker builder that starts at its last role's layer, with no check and no squash, is idle (its session starts
    only if a step needs it); the roles to run are those after the shallowest layer a builder starts at."""
    from ansible_collections.immutable.images.plugins.action.image_definition import _expected_runs

    roles = [{"path": "/r/a"}, {"path": "/r/b"}, {"path": "/r/c"}]

    def plan(*targets, verify=None):
        targets = [dict(t) for t in targets]
        to_run = _expected_runs(targets, roles, verify, True)
        assert all(t["start_builder"] for t in targets if t["type"] == "docker")  # started: plays of one's own see them
        return [t["idle"] for t in targets], to_run

    cached, last = {"type": "docker", "start_roles": 3}, {"type": "docker", "start_roles": 2}
    assert plan(cached) == ([True], [])
    assert plan(cached, last) == ([True, False], ["/r/c"])
    assert plan(cached, {"type": "ec2"}) == ([True, False], ["/r/a", "/r/b", "/r/c"])
    assert plan({"type": "docker"}) == ([False], ["/r/a", "/r/b", "/r/c"])  # no layer cache, or none expected
    assert plan(cached, verify="/w/verify.yml") == ([False], [])  # the checks run on it
    assert plan(dict(cached, squash=True)) == ([False], [])  # its packages are read on it
    assert _expected_runs([], roles, None, True) == []  # every target reused: nothing starts


def test_an_idle_builder_is_not_started_when_only_the_provision_role_runs_on_it_and_its_packages_are_recorded(
        monkeypatch, tmp_path):
    """start_idle_builders false (build_image.yml): an idle docker target whose last layer's package inventory this
    controller recorded gets start_builder false; without the record (its packages are listed on the builder), or not
    idle, it is started."""
    from ansible_collections.immutable.images.plugins.action.image_definition import _expected_runs
    from ansible_collections.immutable.images.plugins.plugin_utils._docker import layer_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    layer_cache.write_inventory("sha256:recorded", {"os": {"name": "debian"}, "packages": []})
    roles = [{"path": "/r/a"}]
    recorded = {"type": "docker", "start_roles": 1, "start_layer": "sha256:recorded"}
    unrecorded = dict(recorded, start_layer="sha256:other")
    ahead = dict(recorded, start_roles=0)
    targets = [dict(t) for t in (recorded, unrecorded, ahead, {"type": "ec2"})]
    assert _expected_runs(targets, roles, None, False) == ["/r/a"]
    assert [t.get("start_builder") for t in targets] == [False, True, True, None]
    again = [dict(recorded)]
    _expected_runs(again, roles, None, True)
    assert again[0]["start_builder"] is True  # a launch role in a playbook of one's own: plays may run on it
    checked = [dict(recorded)]
    _expected_runs(checked, roles, "/w/verify.yml", False)
    assert checked[0]["start_builder"] is True  # its checks run on it


def test_the_playbooks_of_a_playbook_of_ones_own_are_hashed_by_name_and_content(tmp_path):
    """The build hash of a playbook of one's own covers the playbook files ansible-playbook runs: a changed play, another
    file, another order builds again; a name that is no file (a collection's playbook) counts by its name."""
    from ansible_collections.immutable.images.plugins.action import image_definition as action

    (tmp_path / "build.yml").write_text("- hosts: localhost\n")
    (tmp_path / "other.yml").write_text("- hosts: localhost\n")
    first = action._playbooks_digest(["build.yml"], str(tmp_path))
    assert first == action._playbooks_digest(["build.yml"], str(tmp_path))
    assert first != action._playbooks_digest(["other.yml"], str(tmp_path))  # the same content, another name
    assert action._playbooks_digest(["build.yml", "other.yml"], str(tmp_path)) != \
        action._playbooks_digest(["other.yml", "build.yml"], str(tmp_path))
    assert action._playbooks_digest(["acme.images.build"], str(tmp_path)) != action._playbooks_digest([], str(tmp_path))
    (tmp_path / "build.yml").write_text("- hosts: localhost\n- hosts: image_builders\n")
    assert action._playbooks_digest(["build.yml"], str(tmp_path)) != first
