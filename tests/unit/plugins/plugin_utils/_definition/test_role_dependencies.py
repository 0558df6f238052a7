# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles a role pulls in count in its digest (meta dependencies, include_role / import_role by a plain name)."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.plugin_utils._definition.role_search import pulled_in_finder
from ansible_collections.immutable.images.plugins.module_utils._common.inputs import tree_digest
from ansible_collections.immutable.images.plugins.plugin_utils._definition import role_dependencies


def role(base, name, tasks="- ansible.builtin.debug: {msg: hi}\n", meta=None, handlers=None):
    path = base / name
    (path / "tasks").mkdir(parents=True)
    (path / "tasks" / "main.yml").write_text(tasks)
    if meta is not None:
        (path / "meta").mkdir()
        (path / "meta" / "main.yml").write_text(meta)
    if handlers is not None:
        (path / "handlers").mkdir()
        (path / "handlers" / "main.yml").write_text(handlers)
    return str(path)


def test_dependencies_and_plain_includes_are_found_where_ansible_core_looks(tmp_path):
    roles = tmp_path / "roles"
    app = role(roles, "app", meta="galaxy_info: {}\ndependencies:\n  - common\n  - role: base\n    vars: {x: 1}\n",
               tasks="- block:\n    - ansible.builtin.include_role: {name: extra}\n"
                     "- ansible.builtin.include_role:\n    name: \"{{ which }}\"\n"
                     "- include_role: {name: missing}\n"
                     "- ansible.builtin.import_role: name=key_value\n",
               handlers="- name: h\n  ansible.builtin.import_role: {name: handlers_role}\n")
    common = role(roles, "common", meta="dependencies: [app, deep]\n")  # names app back: a cycle
    for name in ("base", "extra", "key_value", "handlers_role", "deep", "unrelated"):
        role(roles, name)
    find = pulled_in_finder(str(tmp_path / "playbooks"))  # the role's own directory is where its siblings are
    assert role_dependencies.names(app) == ["common", "base", "extra", "missing", "key_value", "handlers_role"]
    assert role_dependencies.pulled_in(app, find) == [
        common, str(roles / "base"), str(roles / "extra"), str(roles / "key_value"), str(roles / "handlers_role"),
        str(roles / "deep")]

    before = role_dependencies.digest(app, role_dependencies.pulled_in(app, find))
    assert before != tree_digest(app)
    (roles / "unrelated" / "tasks" / "main.yml").write_text("- ansible.builtin.debug: {msg: changed}\n")
    assert role_dependencies.digest(app, role_dependencies.pulled_in(app, find)) == before, "a role it does not pull in is no input"
    (roles / "deep" / "tasks" / "main.yml").write_text("- ansible.builtin.debug: {msg: changed}\n")
    assert role_dependencies.digest(app, role_dependencies.pulled_in(app, find)) != before, "a dependency of a dependency is an input"


def test_a_role_that_pulls_in_nothing_keeps_its_digest(tmp_path):
    plain = role(tmp_path, "plain", meta="galaxy_info: {author: me}\ndependencies: []\n")
    assert role_dependencies.digest(plain, role_dependencies.pulled_in(plain, pulled_in_finder(str(tmp_path)))) == tree_digest(plain)


def test_the_playbooks_roles_directory_comes_before_the_roles_own_directory(tmp_path):
    app = role(tmp_path / "project" / "roles", "app", meta="dependencies: [common]\n")
    role(tmp_path / "project" / "roles", "common")
    role(tmp_path / "playbooks" / "roles", "common")
    find = pulled_in_finder(str(tmp_path / "playbooks"))
    assert find("common", app) == str(tmp_path / "playbooks" / "roles" / "common")
    assert find("nowhere", app) is None


def test_collection_of_a_role_path():
    assert role_dependencies.collection_of("/x/ansible_collections/debops/debops/roles/nginx") == "debops.debops"
    assert role_dependencies.collection_of("/x/roles/nginx") is None
