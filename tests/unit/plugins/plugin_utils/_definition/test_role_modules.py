# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugin_utils/_definition/role_modules.py: the modules a role's task and handler files name, as the controller's
warm interpreter builds them in advance. The payloads themselves: tests/integration/test_warm_interpreter.py."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.plugin_utils._definition import role_modules

MAIN = """
- name: A module by its short name, with a loop and a condition
  apt:
    name: "{{ item }}"
  loop: [git]
  when: true
- name: A block
  block:
    - name: Templated, which runs copy, file and stat
      ansible.builtin.template:
        src: a.j2
        dest: /a
  rescue:
    - name: A local action as a string
      local_action: command echo {{ 'x' }}
  always:
    - name: An action as a mapping
      action:
        module: community.general.ini_file
        path: /x
- name: Directives run no module
  ansible.builtin.include_tasks: other.yml
- name: Neither does debug
  ansible.builtin.debug:
    msg: !unsafe "{{ not templated }}"
- name: A with_ loop
  ansible.builtin.user:
    name: "{{ item }}"
  with_items: [a]
"""
OTHER = """
- name: Included, read too (after main.yml)
  ansible.builtin.apt:
    name: curl
- name: Two module keys name nothing
  ansible.builtin.file: {}
  ansible.builtin.stat: {}
"""
HANDLERS = """
- name: A handler
  ansible.builtin.service:
    name: x
    state: restarted
"""

# what ansible-core's action loader answers for these names (warm_controller asks the real one)
ACTION_PLUGINS = {"ansible.builtin.template": "ansible.builtin.template", "command": "ansible.builtin.command",
                  "ansible.builtin.debug": "ansible.builtin.debug", "ansible.builtin.service": "ansible.builtin.service"}


def role(tmp_path, name="app"):
    (tmp_path / name / "tasks").mkdir(parents=True)
    (tmp_path / name / "handlers").mkdir()
    (tmp_path / name / "tasks" / "main.yml").write_text(MAIN)
    (tmp_path / name / "tasks" / "other.yml").write_text(OTHER)
    (tmp_path / name / "tasks" / "broken.yml").write_text("- name: [unclosed\n")
    (tmp_path / name / "handlers" / "main.yml").write_text(HANDLERS)
    return str(tmp_path / name)


def test_action_names_in_file_order(tmp_path):
    assert role_modules.action_names(role(tmp_path)) == [
        "apt", "ansible.builtin.template", "command", "community.general.ini_file", "ansible.builtin.include_tasks",
        "ansible.builtin.debug", "ansible.builtin.user", "ansible.builtin.apt", "ansible.builtin.service"]


def test_modules_follow_the_action_plugins_that_run_them(tmp_path):
    found = role_modules.modules([role(tmp_path), str(tmp_path / "missing")], ACTION_PLUGINS.get)
    assert found == ["apt", "ansible.builtin.stat", "ansible.builtin.copy", "ansible.builtin.file",
                     "ansible.builtin.command", "community.general.ini_file", "ansible.builtin.user",
                     "ansible.builtin.apt"]  # no include, debug or service: their action plugins run none of their own
