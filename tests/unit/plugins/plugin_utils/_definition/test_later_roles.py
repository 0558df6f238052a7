# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an image role uses that only a later image role defines (variables, handlers): what makes the build load
every role before the first runs, as a play does."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.plugin_utils._definition.role_search import pulled_in_finder
from ansible_collections.immutable.images.plugins.plugin_utils._definition import later_roles, role_dependencies


def role(base, name, files):
    path = base / name
    for relative, text in files.items():
        (path / relative).parent.mkdir(parents=True, exist_ok=True)
        (path / relative).write_text(text)
    (path / "tasks").mkdir(parents=True, exist_ok=True)
    return {"name": name, "path": str(path), "vars": {}}


def used_before_defined(roles, find):
    """As the plan calls it: each role with the roles it pulls in."""
    return later_roles.used_before_defined([dict(r, pulled_in=role_dependencies.pulled_in(r["path"], find))
                                            for r in roles])


def test_a_variable_of_a_later_roles_defaults_or_vars_read_by_an_earlier_role(tmp_path):
    roles = tmp_path / "roles"
    find = pulled_in_finder(str(tmp_path))
    etc_services = role(roles, "etc_services", {"defaults/main.yml": "etc_services__dependent_list: []\n"})
    memcached = role(roles, "memcached", {"defaults/main.yml": "memcached__etc_services__dependent_list: [x]\n"
                                                               "memcached__port: 11211\n",
                                          "vars/main.yml": "memcached__user: memcache\n"})
    entry = dict(etc_services, vars={"etc_services__dependent_list": ["{{ memcached__etc_services__dependent_list }}"]})
    assert used_before_defined([entry, memcached], find) == ["memcached__etc_services__dependent_list"]
    assert used_before_defined([etc_services, memcached], find) == [], "nothing of memcached is used"
    assert used_before_defined([memcached, entry], find) == [], "defined before it is used"
    assert used_before_defined([entry], find) == []
    # a role parameter, as DebOps' playbooks give it
    entry = dict(etc_services, params={"etc_services__dependent_list": ["{{ memcached__etc_services__dependent_list }}"]})
    assert used_before_defined([entry, memcached], find) == ["memcached__etc_services__dependent_list"]

    # in the role's own files (a template, a task), and of its vars/main.yml
    reader = role(roles, "reader", {"templates/app.conf.j2": "user={{ memcached__user }}\n",
                                    "tasks/main.yml": "- ansible.builtin.debug: {var: memcached__port}\n"})
    assert used_before_defined([reader, memcached], find) == ["memcached__port", "memcached__user"]
    # a name the earlier role defines too is not loaded early: it has its own
    both = role(roles, "both", {"defaults/main/one.yml": "memcached__port: 1\n",
                                "tasks/main.yml": "- ansible.builtin.debug: {var: memcached__port}\n"})
    assert used_before_defined([both, memcached], find) == []


def test_the_defaults_of_the_roles_a_later_role_pulls_in_count(tmp_path):
    roles = tmp_path / "roles"
    find = pulled_in_finder(str(tmp_path))
    role(roles, "common", {"defaults/main.yml": "common__domain: example.org\n"})
    app = role(roles, "app", {"meta/main.yml": "dependencies: [common]\n"})
    first = role(roles, "first", {"tasks/main.yml": "- ansible.builtin.debug: {msg: '{{ common__domain }}'}\n"})
    assert used_before_defined([first, app], find) == ["common__domain"]


def test_a_handler_of_a_later_role_notified_by_an_earlier_one(tmp_path):
    roles = tmp_path / "roles"
    find = pulled_in_finder(str(tmp_path))
    nginx = role(roles, "nginx", {"handlers/main.yml": "- name: Restart nginx\n  ansible.builtin.debug: {}\n"
                                                       "- name: Reload\n  listen: [web config changed]\n"
                                                       "  ansible.builtin.debug: {}\n"})
    site = role(roles, "site", {"tasks/main.yml": "- ansible.builtin.copy: {src: a, dest: /a}\n"
                                                  "  notify: [Restart nginx, web config changed]\n"})
    quiet = role(roles, "quiet", {"tasks/main.yml": "- ansible.builtin.copy: {src: a, dest: /a}\n"})
    assert used_before_defined([site, nginx], find) == ["handler Restart nginx", "handler web config changed"]
    assert used_before_defined([quiet, nginx], find) == []
    assert used_before_defined([nginx, site], find) == []


def test_files_that_are_not_yaml_or_text_are_no_names(tmp_path):
    roles = tmp_path / "roles"
    find = pulled_in_finder(str(tmp_path))
    later = role(roles, "later", {"defaults/main.yml": "- not: a mapping\n", "vars/main.yml": "{{{ broken\n"})
    (roles / "later" / "handlers").mkdir()
    (roles / "later" / "handlers" / "main.yml").write_text(": : :\n")
    first = role(roles, "first", {"templates/blob.bin": ""})
    (roles / "first" / "templates" / "blob.bin").write_bytes(b"\xff\xfe not text")
    assert used_before_defined([first, later], find) == []
