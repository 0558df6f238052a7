# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""image_gather_facts and image_roles tags (validation, what reaches the hash), the tmpfs rule for
image_files, the roles' entries as resolved (keywords, role parameters) and the layer cache key - without an engine."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.immutable.images.plugins.action import image_definition
from ansible_collections.immutable.images.plugins.module_utils._common import inputs as build_inputs
from ansible_collections.immutable.images.plugins.plugin_utils._definition import definition, role_search
from ansible_collections.immutable.images.plugins.plugin_utils._docker.layer_cache import cache_key

SPEC = definition.load_definition_spec()
DOCKER = {"name": "container", "type": "docker", "base_image": "debian:bookworm-slim"}


def errors(tmp_path, **top):
    params = dict({"image_name": "webapp", "image_version": "1.0.0", "image_targets": [copy.deepcopy(DOCKER)]}, **top)
    result = ArgumentSpecValidator(SPEC).validate(params)
    assert not result.error_messages, result.error_messages
    return definition.check_definition(result.validated_parameters, str(tmp_path))


@pytest.mark.parametrize("value", [True, False, ["min"], ["min", "hardware", "!facter"]])
def test_gather_facts_accepts_bool_or_subset(tmp_path, value):
    assert errors(tmp_path, image_gather_facts=value) == []


@pytest.mark.parametrize("value", ["yes please", [], [1], {"subset": "min"}, ["min", ""], ["min hardware"], "min;ls"])
def test_gather_facts_refuses_anything_else(tmp_path, value):
    found = errors(tmp_path, image_gather_facts=definition.gather_facts_setting(value))
    assert len(found) == 1 and found[0].startswith("image_gather_facts: must be true"), found


@pytest.mark.parametrize("text, value", [("false", False), ("no", False), ("True", True), ("yes", True),
                                         ("min", ["min"]), ("min, hardware,!facter", ["min", "hardware", "!facter"])])
def test_gather_facts_given_as_text_reads_as_a_play_reads_it(tmp_path, text, value):
    # -e image_gather_facts=false and an AWX survey give text; refused before, as "got 'false'"
    assert definition.gather_facts_setting(text) == value
    assert errors(tmp_path, image_gather_facts=definition.gather_facts_setting(text)) == []


def test_role_entry_tags(tmp_path):
    assert errors(tmp_path, image_roles=[{"role": "web", "tags": ["a", "b"]}, {"role": "db", "tags": "x, y"}]) == []
    found = errors(tmp_path, image_roles=[{"role": "web", "tags": {"a": 1}}])
    assert found and found[0].startswith("image_roles[0].tags:"), found
    assert definition.role_tags({"role": "db", "tags": "x, y"}) == ["x", "y"]
    assert definition.role_tags("web") == []


def test_play_settings_resolve_facts():
    assert image_definition._play_settings(False)["facts"] is None
    assert image_definition._play_settings(["min"])["facts"] == {"gather_subset": ["min"]}
    assert image_definition._play_settings(True)["facts"] == {}  # ansible-core 2.21: the module's defaults


def test_facts_are_deferred_only_when_nothing_before_the_roles_can_refer_to_them():
    roles = [{"vars": {"workers": 4}, "params": {}}, {"vars": {}, "params": {"port": 80}}]
    raw = {"image_targets": [dict(DOCKER, build_env={"LANG": "C"})],
           "image_verify": [{"command": ["true"]}, {"run": {"port": 80}, "name": "{{ ansible_facts.x }}"}]}
    deferred = image_definition._facts_deferred
    assert deferred({}, True, raw, roles) is True  # a run test runs from the controller, after the facts
    assert deferred(None, True, raw, roles) is False and deferred({}, False, raw, roles) is False
    assert deferred({}, True, raw, []) is False
    for where in ({"image_targets": [dict(DOCKER, build_env={"CPUS": "{{ ansible_facts.processor_vcpus }}"})]},
                  {"image_verify": [{"command": ["test", "{% if ansible_facts %}x{% endif %}"]}]},
                  {"image_targets": "{{ my_targets }}"}):
        assert deferred({}, True, dict(raw, **where), roles) is False, where
    assert deferred({}, True, raw, roles + [{"vars": {"os": ["{{ ansible_facts.os_family }}"]}, "params": {}}]) is False
    assert deferred({}, True, raw, roles + [{"vars": {}, "params": {"os": "{{ ansible_facts.os_family }}"}}]) is False


def test_files_cannot_go_to_the_builders_tmpfs():
    files = [{"src": "a", "dest": "/opt/a"}, {"src": "b", "dest": "/tmp/b"}, {"src": "c", "dest": "/var/run/c"},
             {"src": "d", "dest": "/run"}]
    params = {"image_targets": [DOCKER], "image_files": files}
    found = image_definition._check_files_outside_tmpfs(params)
    assert [e.split(":")[0] for e in found] == ["image_files[1].dest", "image_files[2].dest", "image_files[3].dest"]
    params["image_targets"] = [{"name": "aws", "type": "ec2"}]
    assert image_definition._check_files_outside_tmpfs(params) == []


def test_an_entrys_keywords_and_role_parameters_are_resolved_apart_and_change_the_digest_or_the_hash(tmp_path):
    (tmp_path / "roles" / "web" / "tasks").mkdir(parents=True)
    action = SimpleNamespace()
    params = {"image_roles_path": [], "image_roles": ["web", {"role": "web", "when": "x", "become": True},
                                                      {"role": "web", "web_port": 80, "vars": {"web_port": 81}}]}
    roles, errors = image_definition.ActionModule._resolve_roles(action, params, str(tmp_path))
    assert errors == []
    plain, keyworded, with_params = roles
    assert (plain["keywords"], keyworded["keywords"]) == ({}, {"when": ["x"], "become": True})
    assert plain["digest"] != keyworded["digest"], "a keyword changes what the role does"
    assert (plain["params"], with_params["params"], with_params["vars"]) == ({}, {"web_port": 80}, {"web_port": 81})
    # in the build hash apart from the vars (they rank otherwise); an entry without them hashes as it did
    assert image_definition._role_hash_input(plain) == {"name": "web", "digest": plain["digest"], "vars": {},
                                                        "tags": []}
    assert image_definition._role_hash_input(with_params)["params"] == {"web_port": 80}
    assert image_definition._role_hash_input(with_params) != image_definition._role_hash_input(
        dict(with_params, params={}, vars={"web_port": 80}))


def test_cache_key_covers_tags_play_settings_and_role_parameters():
    base = cache_key("parent", "files", "web", "digest", {})
    assert cache_key("parent", "files", "web", "digest", {}, ["web"]) != base
    assert cache_key("parent", "files", "web", "digest", {}, None, {"facts": None}) != base
    assert cache_key("parent", "files", "web", "digest", {}, role_params={}) == base  # none: the key it had
    assert cache_key("parent", "files", "web", "digest", {}, role_params={"port": 80}) != cache_key(
        "parent", "files", "web", "digest", {"port": 80})


def test_the_runs_variables_are_part_of_the_play_settings_as_a_digest_only():
    digest = definition.run_variables_digest({"image_name": "webapp", "app_version": "1"})
    assert len(digest) == 64
    # scrypt, not a fast hash: the digest is shown and the variables may hold a secret (a guess costs 50 ms)
    import hashlib
    text = b'{"app_version":"1"}'
    assert digest != hashlib.sha256(text).hexdigest()
    assert digest == hashlib.scrypt(text, salt=b"immutable.images run variables", n=2 ** 14, r=8, p=1, dklen=32).hex()
    assert image_definition._play_settings(False, digest)["vars"] == digest
    assert digest != definition.run_variables_digest({"app_version": "2"}), "a changed value changes the digest"
    assert digest == definition.run_variables_digest({"app_version": "1"}), "the definition's keys are not in it"
    # build_all: a definition file's own variables count as the extra variables do, which win over them (later source)
    assert definition.run_variables_digest({"app_version": "1"}, {}) == digest
    assert definition.run_variables_digest({"app_version": "2"}, {"app_version": "1"}) == digest
    # without any, `vars` is absent: the hashes of builds that have none are what they were
    assert "vars" not in image_definition._play_settings(False, None)
    for ignored in ({"image_force": True}, {"ansible_python_interpreter": "/usr/bin/python3"},
                    {"awx_job_id": 41, "tower_job_id": 41}):
        assert definition.run_variables_digest(ignored) is None, ignored
    # the digest goes into every layer key through the play settings
    assert cache_key("p", "f", "web", "d", {}, None, image_definition._play_settings(False, digest)) != \
        cache_key("p", "f", "web", "d", {}, None, image_definition._play_settings(False, None))


def test_the_projects_files_templates_vars_and_plugins_are_part_of_the_play_settings(tmp_path):
    # what a role finds in the project by a relative name (after its own directories), as from a playbook there, and
    # the plugins ansible-core loads beside such a playbook
    names = image_definition._project_directories()
    assert {"files", "templates", "vars", "library", "module_utils", "filter_plugins", "lookup_plugins"} <= set(names)
    assert build_inputs.directories_digest(str(tmp_path), names) is None, "a project without them"
    assert "project" not in image_definition._play_settings(False, None, None), "hashes as before"
    (tmp_path / "roles").mkdir()
    (tmp_path / "notes.txt").write_text("x\n")
    assert build_inputs.directories_digest(str(tmp_path), names) is None, "only those directories count"
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "app.conf").write_text("one\n")
    first = build_inputs.directories_digest(str(tmp_path), names)
    (tmp_path / "files" / "app.conf").write_text("two\n")
    second = build_inputs.directories_digest(str(tmp_path), names)
    (tmp_path / "filter_plugins").mkdir()
    (tmp_path / "filter_plugins" / "mine.py").write_text("\n")
    third = build_inputs.directories_digest(str(tmp_path), names)
    assert len({first, second, third}) == 3 and len(first) == 64
    settings = image_definition._play_settings(False, None, third)
    assert settings["project"] == third
    assert cache_key("p", "f", "web", "d", {}, None, settings) != \
        cache_key("p", "f", "web", "d", {}, None, image_definition._play_settings(False, None, second))


def test_a_project_directory_with_a_file_it_cannot_read_counts_by_that_error(tmp_path, monkeypatch):
    (tmp_path / "files").mkdir()

    def unreadable(path):
        raise PermissionError(13, "Permission denied", path + "/secret.key")
    monkeypatch.setattr(build_inputs, "tree_digest", unreadable)
    assert len(build_inputs.directories_digest(str(tmp_path), ["files"])) == 64, "the plan goes on"


TWO_TARGETS = {"image_name": "webapp", "image_targets": [{"name": "dev"}, {"name": "prod"}]}


def test_the_runs_variables_are_read_from_the_extra_variables_and_a_fleets_definition_file(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from ansible import context
    from ansible.module_utils.common.collections import ImmutableDict
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.utils.vars import load_extra_vars
    from ansible.vars.manager import VariableManager

    def digest(extra_vars, task_vars):
        monkeypatch.setattr(context, "CLIARGS", ImmutableDict(extra_vars=tuple(extra_vars)))
        monkeypatch.setattr(load_extra_vars, "extra_vars", None, raising=False)  # what the process parsed first
        loader = DataLoader()
        manager = VariableManager(loader, InventoryManager(loader, sources=[]))
        action = SimpleNamespace(_loader=loader, _task=SimpleNamespace(get_variable_manager=lambda: manager))
        return image_definition.ActionModule._run_variables(action, task_vars, TWO_TARGETS)

    (tmp_path / "def.yml").write_text("image_name: webapp\nwebapp_port: 8080\n")
    assert digest(["@%s" % (tmp_path / "def.yml")], {}) == definition.run_variables_digest({"webapp_port": 8080})
    assert digest(["app_version=2"], {}) == definition.run_variables_digest({"app_version": "2"})
    assert digest([], {}) is None
    # build_all: the definition file the inventory read (image_definition_file), below the extra variables
    fleet = {"image_definition_file": str(tmp_path / "def.yml")}
    assert digest([], fleet) == definition.run_variables_digest({"webapp_port": 8080})
    assert digest(["webapp_port=9090"], fleet) == definition.run_variables_digest({"webapp_port": "9090"})


def test_the_variables_the_builders_get_from_the_inventory_are_run_variables(tmp_path, monkeypatch):
    """On a real inventory: its group variables that a builder gets (of `all`, image_builders and
    image_builder_groups, from the inventory file and group_vars/ files beside it and in the project directory, the
    base directory of the roles' play) count; another group's, the extra variables' (counted as such) and ansible-core's
    own about the host do not."""
    from types import SimpleNamespace

    from ansible import context
    from ansible.inventory.manager import InventoryManager
    from ansible.module_utils.common.collections import ImmutableDict
    from ansible.parsing.dataloader import DataLoader
    from ansible.utils.vars import load_extra_vars
    from ansible.vars.manager import VariableManager

    from ansible_collections.immutable.images.plugins.plugin_utils._definition import builder_variables

    (tmp_path / "group_vars").mkdir()
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "vars": {"ntp_server": "pool.example", "ansible_user": "deploy", "shadowed": "by the extra variable"},
        "children": {"web": {"hosts": {"web1": {"web_host_only": 1}}, "vars": {"web_port": 80}},
                     "image_builders": {"vars": {"app_port": 8080}}}}}))
    (tmp_path / "group_vars" / "image_builders.yml").write_text("app_user: svc\n")
    (tmp_path / "group_vars" / "team.yml").write_text("team_mail: ops@example.com\n")
    (tmp_path / "group_vars" / "web.yml").write_text("web_only: true\n")
    project = tmp_path / "project"
    (project / "group_vars").mkdir(parents=True)
    (project / "group_vars" / "all.yml").write_text("project_wide: 1\n")
    monkeypatch.chdir(project)

    def seen(groups, extra_vars=("shadowed=cli",)):
        monkeypatch.setattr(context, "CLIARGS", ImmutableDict(extra_vars=extra_vars))
        monkeypatch.setattr(load_extra_vars, "extra_vars", None, raising=False)
        loader = DataLoader()
        loader.set_basedir("/nonexistent/the/collections/playbooks")
        manager = VariableManager(loader, InventoryManager(loader, sources=[str(tmp_path / "hosts.yml")]))
        variables = builder_variables.inventory_variables(manager, groups, str(project))
        assert loader.get_basedir() == "/nonexistent/the/collections/playbooks", "the play's own is set back"
        return manager, variables

    manager, builders = seen(builder_variables.builder_groups({}))
    assert builders == {"ntp_server": "pool.example", "ansible_user": "deploy", "app_port": 8080, "app_user": "svc",
                        "project_wide": 1}
    assert list(manager._inventory.hosts) == ["web1"], "the inventory is not changed"
    assert manager._inventory.groups["image_builders"].hosts == []
    _manager, in_team = seen(builder_variables.builder_groups({"image_builder_groups": ["team"]}))
    assert in_team == dict(builders, team_mail="ops@example.com")
    _manager, unshadowed = seen(["image_builders"], extra_vars=())
    assert unshadowed == dict(builders, shadowed="by the extra variable")

    # into the digest, below the extra variables; ansible_* settings left out as from the extra variables
    action = SimpleNamespace(_loader=DataLoader(), _task=SimpleNamespace(get_variable_manager=lambda: manager))
    monkeypatch.setattr(context, "CLIARGS", ImmutableDict(extra_vars=("shadowed=cli",)))
    monkeypatch.setattr(load_extra_vars, "extra_vars", None, raising=False)
    assert image_definition.ActionModule._run_variables(action, {}, TWO_TARGETS) == definition.run_variables_digest(
        {"ntp_server": "pool.example", "app_port": 8080, "app_user": "svc", "project_wide": 1, "shadowed": "cli"})
    (tmp_path / "group_vars" / "image_builders.yml").write_text("app_user: other\n")
    _manager, changed = seen(["image_builders"])
    assert definition.run_variables_digest(changed) != definition.run_variables_digest(builders)


def test_a_builders_own_host_vars_are_run_variables(tmp_path, monkeypatch):
    """host_vars/<builder's host name> beside the inventory or in the project directory reaches that builder's roles,
    as in a play: it counts, by the builder; another host's does not, nor what an extra variable wins over. Without
    any, the digest is what it was before the builders' own counted."""
    from types import SimpleNamespace

    from ansible import context
    from ansible.inventory.manager import InventoryManager
    from ansible.module_utils.common.collections import ImmutableDict
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.vars import host_group_vars
    from ansible.utils.vars import load_extra_vars
    from ansible.vars.manager import VariableManager

    from ansible_collections.immutable.images.plugins.plugin_utils._definition import builder_variables

    (tmp_path / "host_vars").mkdir()
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"web1": {}},
                                                                "children": {"image_builders": {"vars": {"app_port": 80}}}}}))
    (tmp_path / "host_vars" / "webapp-dev.yml").write_text("app_port: 8080\nshadowed: by the extra variable\n")
    (tmp_path / "host_vars" / "web1.yml").write_text("web1_only: 1\n")
    project = tmp_path / "project"
    (project / "host_vars").mkdir(parents=True)
    monkeypatch.chdir(project)

    def run(extra_vars=("shadowed=cli",)):
        monkeypatch.setattr(host_group_vars, "FOUND", {})  # what the process found: a run is one process
        monkeypatch.setattr(context, "CLIARGS", ImmutableDict(extra_vars=extra_vars))
        monkeypatch.setattr(load_extra_vars, "extra_vars", None, raising=False)
        loader = DataLoader()
        loader.set_basedir("/nonexistent/the/collections/playbooks")
        manager = VariableManager(loader, InventoryManager(loader, sources=[str(tmp_path / "hosts.yml")]))
        own = builder_variables.own_variables(manager, ["webapp-dev", "webapp-prod"], ["image_builders"], str(project))
        assert loader.get_basedir() == "/nonexistent/the/collections/playbooks", "the play's own is set back"
        assert list(manager._inventory.hosts) == ["web1"], "the inventory is not changed"
        action = SimpleNamespace(_loader=DataLoader(), _task=SimpleNamespace(get_variable_manager=lambda: manager))
        return own, image_definition.ActionModule._run_variables(action, {}, TWO_TARGETS)

    own, digest = run()
    assert own == {"webapp-dev": {"app_port": 8080}}, "what an extra variable wins over does not count"
    assert digest == definition.run_variables_digest({"app_port": 80, "shadowed": "cli"},
                                                     builders={"webapp-dev": {"app_port": 8080}})
    assert digest != definition.run_variables_digest({"app_port": 80, "shadowed": "cli"})

    (project / "host_vars" / "webapp-prod.yml").write_text("app_port: 9090\n")  # beside the roles' play
    own, with_prod = run()
    assert own["webapp-prod"] == {"app_port": 9090}
    assert with_prod != digest, "a builder's own variable is an input"

    (tmp_path / "host_vars" / "webapp-dev.yml").unlink()
    (project / "host_vars" / "webapp-prod.yml").unlink()
    own, without = run()
    assert own == {}
    assert without == definition.run_variables_digest({"app_port": 80, "shadowed": "cli"}), "as before, without any"
    assert definition.run_variables_digest({"app_port": 80}, builders={"webapp-dev": {"ansible_user": "x"}}) == \
        definition.run_variables_digest({"app_port": 80}), "ansible_* settings are left out, as from the others"


def test_a_vaulted_run_variable_counts_by_its_ciphertext_without_its_password():
    from ansible.parsing.vault import EncryptedString

    first = "$ANSIBLE_VAULT;1.1;AES256\n" + "61" * 40
    second = "$ANSIBLE_VAULT;1.1;AES256\n" + "62" * 40
    digest = definition.run_variables_digest({"db_password": EncryptedString(ciphertext=first)})
    assert digest == definition.run_variables_digest({"db_password": EncryptedString(ciphertext=first)})
    assert digest != definition.run_variables_digest({"db_password": EncryptedString(ciphertext=second)})


def test_a_role_is_included_by_its_name_when_ansible_finds_it_by_that_name(tmp_path, monkeypatch):
    """The roles' play has the project directory as its base directory: a role that ansible-core finds by its name there
    (./roles, the roles path) is included by its name, so that its output and role_name say `web`, as a play's
    `roles:` entry does; one that its name would not find (another of the same name comes first, or its directory is
    not in the roles path) is included by its path."""
    from ansible import constants as C

    for path in ("roles/web", "roles/app", "more/app", "more/worker", "site/web"):
        (tmp_path / path / "tasks").mkdir(parents=True)
    monkeypatch.setattr(C, "DEFAULT_ROLES_PATH", [str(tmp_path / "site")])
    search = [str(tmp_path / "more"), str(tmp_path / "roles"), str(tmp_path / "site")]
    found = {name: role_search.find_role(name, search, str(tmp_path))
             for name in ("web", "app", "worker", "./more/worker", "nowhere")}
    assert found["web"] == (str(tmp_path / "roles" / "web"), "web")
    assert found["app"] == (str(tmp_path / "more" / "app"), "more/app"), "./roles/app would be found by the name"
    assert found["worker"] == (str(tmp_path / "more" / "worker"), "more/worker"), "more/ is not in the roles path"
    assert found["./more/worker"] == (str(tmp_path / "more" / "worker"), "more/worker")
    assert found["nowhere"] == (None, None)
