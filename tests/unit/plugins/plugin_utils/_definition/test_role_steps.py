# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The task file that runs the image roles (role_steps), and the lookup it imports (role_lookup.yml)."""

from __future__ import annotations

import json
import os

import yaml

from ansible_collections.immutable.images.plugins.plugin_utils._definition import definition, role_steps

ROLE_LOOKUP_YML = os.path.join(os.path.dirname(definition.__file__), "..", "..", "..", "roles", "provision", "tasks",
                               "role_lookup.yml")
HIT = "provision__cache.hit | default(provision__role.number <= provision__expected.roles | default(0))"


def role(name, **entry):
    return dict({"name": name, "include": name, "digest": "d-" + name, "vars": {}, "params": {}, "tags": [],
                 "keywords": {}}, **entry)


def written(tmp_path, roles, load_first=False, public=True):
    [path] = role_steps.write(str(tmp_path), roles, load_first, public)
    return yaml.safe_load(open(path).read())


def test_each_role_is_a_block_of_its_lookup_and_its_include_with_the_entrys_vars_on_the_block(tmp_path):
    web, plain = written(tmp_path, [role("web", vars={"port": "{{ web_port }}"}, tags=["web"]), role("plain")])
    # not tagged: a tag of the block would reach the role's tasks
    assert "tags" not in web and web["name"] == "Role web (1 of 2): its steps"
    # the entry's vars untemplated, as block vars: the role's tasks get them as a play's roles: entry's vars
    assert web["vars"]["port"] == "{{ web_port }}"
    assert web["vars"]["provision__role"] == {"name": "web", "digest": "d-web", "vars": {"port": "{{ web_port }}"},
                                              "tags": ["web"], "keywords": {}, "number": 1, "first": True,
                                              "title": "Role web (1 of 2)"}
    assert plain["vars"]["provision__role"]["first"] is False and plain["vars"]["provision__role"]["number"] == 2
    lookup, include = web["block"]
    # the two steps of a role: the lookup stores the layer of the role before, if it ran (sync stores the last one's)
    assert lookup == {"name": "Look up the role's layer", "ansible.builtin.import_tasks": "role_lookup.yml"}
    assert include == {
        "name": "Role web (1 of 2)",
        "ansible.builtin.include_role": {"name": "web", "public": True, "apply": {
            # templated once, at the include: each task of the role gets true or false; included on a hit too (its
            # tasks left out: tagged never, and skipped if they come), so later roles see its defaults and vars and
            # can notify its handlers
            "tags": "{{ provision__role.tags + (['never'] if %s else []) }}" % HIT,
            "when": "{{ not (%s) }}" % HIT,
            # and the build_env, to its tasks and handlers (not compiled again by each task)
            "environment": "{{ provision__build_env }}"}},
        "collections": ["ansible.legacy"], "tags": ["always"]}
    assert "vars" not in include, "no role parameters: nothing above what the role sets"
    assert role_steps.write(str(tmp_path), [], False, True) == []
    [private] = written(tmp_path, [role("web")], public=False)  # private_role_vars
    assert private["block"][1]["ansible.builtin.include_role"]["public"] is False


def test_role_parameters_are_vars_of_the_include_so_include_params(tmp_path):
    [entry] = written(tmp_path, [role("etc_services", vars={"shared": "vars"},
                                      params={"etc_services__dependent_list": ["{{ x }}"], "shared": "param"})])
    include = entry["block"][1]
    assert include["vars"] == {"etc_services__dependent_list": ["{{ x }}"], "shared": "param"}
    assert entry["vars"]["shared"] == "vars", "the entry's vars stay below them, on the block"
    assert entry["vars"]["provision__role"]["params"] == include["vars"], "for the layer key"


def test_an_entrys_keywords_reach_the_role_through_apply_and_only_those_it_has(tmp_path):
    keywords = {"when": ["ansible_os_family == 'Debian'"], "become": True, "become_user": "app",
                "environment": {"A": "1"}, "no_log": True}
    [entry] = written(tmp_path, [role("app", keywords=keywords)])
    apply = entry["block"][1]["ansible.builtin.include_role"]["apply"]
    assert set(apply) == {"tags", "when", "environment", "become", "become_user", "no_log"}
    for key in ("become", "become_user", "no_log"):
        assert apply[key] == "{{ provision__role.keywords.%s }}" % key
    # the entry's `when` after the cache's condition, its environment over the build_env
    assert apply["when"] == "{{ [not (%s)] + provision__role.keywords.when }}" % HIT
    assert apply["environment"] == "{{ provision__build_env | combine(provision__role.keywords.environment) }}"
    assert entry["vars"]["provision__role"]["keywords"] == keywords
    # every keyword a build takes has its place
    every = {key: "x" for key in definition.ROLE_TASK_KEYWORDS}
    [entry] = written(tmp_path, [role("app", keywords=dict(every, when=["x"]))])
    assert set(entry["block"][1]["ansible.builtin.include_role"]["apply"]) == set(definition.ROLE_TASK_KEYWORDS) | {
        "tags"}


def test_a_role_that_uses_what_a_later_one_defines_loads_every_role_first(tmp_path):
    roles = [role("web"), role("plain")]
    load, web, plain = written(tmp_path, roles, load_first=True)
    assert [web, plain] == written(tmp_path, roles)
    assert load["loop"] == [{"name": "web", "include": "web"}, {"name": "plain", "include": "plain"}]
    include = load["ansible.builtin.include_role"]
    assert include["name"] == "{{ provision__role_first.include }}" and include["public"] is True
    # their tasks left out (tagged never) or skipped (tagged always) until the first role's lookup registered
    assert include["apply"] == {"tags": ["never"], "when": "provision__cache is defined"}
    assert load["tags"] == ["always"] and load["collections"] == ["ansible.legacy"]


def test_the_lookup_is_tagged_always_keys_on_what_the_role_gets_and_flushes_no_handlers():
    [lookup] = yaml.safe_load(open(ROLE_LOOKUP_YML))
    assert lookup["tags"] == ["always"]
    assert "flush_handlers" not in json.dumps(lookup), "handlers run at the end, as in a play"
    args = lookup["immutable.images.layer_cache"]
    assert "state" not in args
    # its vars and role parameters are read untemplated from its entry: the action templates them one by one
    assert args["role_entry"] == "provision__role" and "vars" not in args and "params" not in args
    assert "provision__role.number > provision__expected.roles" in lookup["when"]  # none for the layers taken before
    assert lookup["environment"] == "{{ provision__build_env }}"  # the build_env is part of the cache key
    # the first role's lookup uploads the image files on a miss (its layer holds them)
    assert "provision__role.first" in args["upload"]
