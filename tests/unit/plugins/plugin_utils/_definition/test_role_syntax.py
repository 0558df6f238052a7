# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A broken YAML file that loading a role parses is found by the plan, before any builder starts, as a play finds it
before its first task; a file only an include_tasks reaches is left to that include, as in a play."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.plugin_utils._definition import role_syntax


def role(base, files):
    for relative, text in files.items():
        (base / relative).parent.mkdir(parents=True, exist_ok=True)
        (base / relative).write_text(text)
    return str(base)


def test_the_first_error_of_each_file_the_role_loads_with_its_line_and_column(tmp_path):
    web = role(tmp_path / "roles" / "web", {
        "tasks/main.yml": "- name: ok\n  ansible.builtin.debug: {msg: hi}\n- ansible.builtin.import_tasks: install.yml\n"
                          "- block:\n    - import_tasks: {file: nested/more.yml}\n"
                          "- ansible.builtin.include_tasks: dynamic.yml\n",
        "tasks/install.yml": "- name: Copy\n  ansible.builtin.copy:\n    dest: /x\n   content: a bad indent\n",
        "tasks/nested/more.yml": "- name: [unclosed\n",
        "tasks/dynamic.yml": "- name: [never parsed before it is included\n",
        "tasks/unused.yml": "- : : :\n  - [\n",
        "defaults/main.yml": "password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\nplain: !unsafe '{{ x }}'\n",
        "handlers/main.yml": "- name: Restart\n  ansible.builtin.debug: {}\n",
        "meta/main.yml": "dependencies: []\n",
        "templates/page.j2": "{{ not: yaml: at all\n",  # templates are not YAML
        "vars/main/one.yml": "a: 1\nb: [1, 2\n",  # every file of a main/ directory is loaded
    })
    assert role_syntax.problems([web], str(tmp_path)) == [
        "roles/web/vars/main/one.yml:3:1: while parsing a flow sequence did not find expected ',' or ']'",
        "roles/web/tasks/install.yml:4:4: while parsing a block mapping did not find expected key",
        "roles/web/tasks/nested/more.yml:2:1: while parsing a flow sequence did not find expected ',' or ']'",
    ]
    # a role elsewhere is named by its whole path
    assert role_syntax.problems([web], str(tmp_path / "project"))[0].startswith(web + "/vars/main/one.yml:3:1:")


def test_a_file_that_is_not_utf8_is_a_problem_and_a_role_without_files_none(tmp_path):
    latin = tmp_path / "latin"
    (latin / "tasks").mkdir(parents=True)
    (latin / "tasks" / "main.yml").write_bytes(b"- name: caf\xe9\n  ansible.builtin.debug: {}\n")
    [problem] = role_syntax.problems([str(latin)], str(tmp_path))
    assert problem.startswith("latin/tasks/main.yml: ") and "utf-8" in problem
    assert role_syntax.problems([str(tmp_path / "empty")], str(tmp_path)) == []
    handlers = role(tmp_path / "h", {"handlers/main": "- name: x\n   bad: indent\n"})  # a main file without extension
    assert role_syntax.problems([handlers], str(tmp_path)) == [
        "h/handlers/main:2:7: mapping values are not allowed in this context"]
