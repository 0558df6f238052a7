# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""image_gather_facts and image_roles tags (validation, what reaches the hash), the tmpfs rule for
image_files, the role task file and the layer cache key - without an engine."""

from __future__ import annotations

import copy
import json

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.immutable.images.plugins.action import image_definition
from ansible_collections.immutable.images.plugins.plugin_utils._definition import definition
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


@pytest.mark.parametrize("value", ["yes please", [], [1], {"subset": "min"}, ["min", ""]])
def test_gather_facts_refuses_anything_else(tmp_path, value):
    found = errors(tmp_path, image_gather_facts=value)
    assert len(found) == 1 and found[0].startswith("image_gather_facts: must be true"), found


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


def test_files_cannot_go_to_the_builders_tmpfs():
    files = [{"src": "a", "dest": "/opt/a"}, {"src": "b", "dest": "/tmp/b"}, {"src": "c", "dest": "/var/run/c"},
             {"src": "d", "dest": "/run"}]
    params = {"image_targets": [DOCKER], "image_files": files}
    found = image_definition._check_files_outside_tmpfs(params)
    assert [e.split(":")[0] for e in found] == ["image_files[1].dest", "image_files[2].dest", "image_files[3].dest"]
    params["image_targets"] = [{"name": "aws", "type": "ec2"}]
    assert image_definition._check_files_outside_tmpfs(params) == []


def test_role_tasks_tag_our_steps_always_and_apply_entry_tags(tmp_path):
    role = tmp_path / "web"
    (role / "handlers").mkdir(parents=True)
    plain = tmp_path / "plain"
    (plain / "tasks").mkdir(parents=True)
    roles = [{"name": "web", "include": "web", "path": str(role), "vars": {}, "tags": ["web"], "digest": "d1"},
             {"name": "plain", "include": "plain", "path": str(plain), "vars": {}, "tags": [], "digest": "d2"}]
    [path] = image_definition._write_role_tasks(str(tmp_path), roles)
    tasks = json.loads(open(path).read())
    assert all(t["tags"] == ["always"] for t in tasks)
    assert not any("flush_handlers" in json.dumps(t) for t in tasks), "handlers run at the end, as in a play"
    web, plain_include = [t["ansible.builtin.include_role"] for t in tasks if "ansible.builtin.include_role" in t]
    # included on a hit too (tasks skipped): later roles see its defaults and can notify its handlers
    assert web["apply"] == {"tags": ["web"], "when": "not (provision__cache.hit | default(false))"}
    assert plain_include["apply"] == {"when": "not (provision__cache.hit | default(false))"}
    assert web["public"] is True and plain_include["public"] is True  # as a play's roles: entries


def test_cache_key_covers_tags_and_play_settings():
    base = cache_key("parent", "files", "web", "digest", {})
    assert cache_key("parent", "files", "web", "digest", {}, ["web"]) != base
    assert cache_key("parent", "files", "web", "digest", {}, None, {"facts": None}) != base
