# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The strategy of a build's first play: the configured default, after refusing --start-at-task, --step and a --limit
that leaves out the build's own hosts; of the roles' play: free with several builders, with the project directory as
the play's base directory; and
ansible-core's Jinja2 plugins indexed in the calling process, so that the task workers forked from it inherit them.
Each case runs in a fresh interpreter: ansible-core's loaders and CLI arguments are process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROGRAM = """
import json, sys
from ansible import context
from ansible.errors import AnsibleError
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.dataloader import DataLoader
from ansible.plugins import loader

context.CLIARGS = ImmutableDict(json.loads(sys.argv[1]))
variables, options = json.loads(sys.argv[2]), json.loads(sys.argv[3])
loader.init_plugin_loader()
before = {kind: bool(getattr(loader, kind + "_loader")._cached_non_collection_wrappers) for kind in ("filter", "test")}
from ansible import constants as C
roles_path_before = list(C.DEFAULT_ROLES_PATH)
try:
    data_loader = DataLoader()
    data_loader.set_basedir("/the/collections/playbooks")
    lookup = loader.lookup_loader.get("immutable.images.build_strategy", loader=data_loader)  # with its options
    result = {"strategy": lookup.run([], variables, **options)}
    result["basedir"] = data_loader.get_basedir()
except AnsibleError as e:
    result = {"error": str(e)}
result["indexed_before"] = before
result["indexed"] = {kind: bool(getattr(loader, kind + "_loader")._cached_non_collection_wrappers)
                     for kind in ("filter", "test")}
result["roles_path"], result["roles_path_before"] = list(C.DEFAULT_ROLES_PATH), roles_path_before
result["module"] = loader.module_loader.find_plugin("project_hello")
result["filter"] = loader.filter_loader.get("project_shout") is not None
print(json.dumps(result))
"""


def lookup(cliargs, variables=None, cwd=None, env=None, **options):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), **(env or {}))
    cliargs = dict(dict(start_at_task=None, step=False, subset=None), **cliargs)
    proc = subprocess.run([sys.executable, "-c", PROGRAM, json.dumps(cliargs), json.dumps(variables or {}),
                           json.dumps(options)], capture_output=True, text=True, env=env, timeout=120, check=True,
                          cwd=cwd)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_returns_the_default_strategy_and_indexes_the_jinja_plugins_here():
    result = lookup({"start_at_task": None, "step": False})
    assert result["strategy"] == ["linear"]
    assert result["indexed_before"] == {"filter": False, "test": False}, "the check below would prove nothing"
    assert result["indexed"] == {"filter": True, "test": True}


FIRST_PLAY_STRATEGIES = [("linear", "linear"), ("free", "linear"), ("ansible.builtin.host_pinned", "linear"),
                         ("debug", "debug")]


@pytest.mark.parametrize("configured, first_play", FIRST_PLAY_STRATEGIES)
def test_a_strategy_that_refuses_add_host_is_not_the_first_plays(configured, first_play):
    """free and host_pinned refuse the first play's add_host (it bypasses the host loop): the build would stop there."""
    assert lookup({}, env={"ANSIBLE_STRATEGY": configured})["strategy"] == [first_play]


def test_the_projects_roles_come_first_in_the_roles_path(tmp_path):
    """A role's include_role of `common` finds the project's roles/common, as in a play beside it: ansible-core looks in
    the playbook's own roles/ first, and build_image's playbook is the collection's."""
    result = lookup({}, {"image_roles_path": ["more_roles", "{{ templated }}", 3]}, cwd=str(tmp_path))
    project = [str(tmp_path / "more_roles"), str(tmp_path / "roles")]
    assert result["roles_path"] == project + result["roles_path_before"]
    assert not set(project) & set(result["roles_path_before"]), "the check above would prove nothing"


@pytest.mark.parametrize("cliargs, option", [({"start_at_task": "Some task", "step": False}, "--start-at-task"),
                                             ({"start_at_task": None, "step": True}, "--step")])
def test_refuses_what_a_build_cannot_honour(cliargs, option):
    result = lookup(cliargs)
    assert "do not support %s" % option in result["error"] and "--tags" in result["error"]


NO_INVENTORY = {"groups": {"all": [], "ungrouped": []}}


def test_refuses_a_limit_that_leaves_out_the_builds_own_hosts():
    result = lookup({"subset": "localhost"}, NO_INVENTORY, runs_on="localhost")
    assert "--limit 'localhost' leaves out the builders" in result["error"]
    assert "--limit 'localhost,image_builders'" in result["error"]
    result = lookup({"subset": "image_builders"}, NO_INVENTORY, runs_on="localhost")
    assert "leaves out localhost (where the build's own plays run)" in result["error"]
    # a group given in image_builder_groups (an extra variable) takes in the builders too
    groups = dict(NO_INVENTORY, image_builder_groups=["web_builders"])
    assert lookup({"subset": "localhost,web_builders"}, groups, runs_on="localhost")["strategy"] == ["linear"]


@pytest.mark.parametrize("limit", [None, "localhost,image_builders", "localhost:image_b*"])
def test_a_limit_that_lets_both_through_or_none_is_fine(limit):
    assert lookup({"subset": limit}, NO_INVENTORY, runs_on="localhost")["strategy"] == ["linear"]


@pytest.mark.parametrize("builders, configured, strategy", [
    (["app-one", "app-two"], "linear", "ansible.builtin.free"),
    (["app-one"], "linear", "linear"),
    ([], "linear", "linear"),
    (["app-one"], "debug", "debug"),
    (["app-one", "app-two"], "host_pinned", "ansible.builtin.free"),
])
def test_the_roles_play_runs_free_with_several_builders_in_the_project_directory(tmp_path, builders, configured, strategy):
    """Each builder runs the roles as a play of its own would (a run_once task on every one), and as a play in the
    project directory would (playbook_dir, files/, group_vars/). The first play refused what it refuses already."""
    result = lookup({"start_at_task": "Some task", "subset": "nothing"}, cwd=str(tmp_path),
                    env={"ANSIBLE_STRATEGY": configured}, builders=builders)
    assert result["strategy"] == [strategy]
    assert result["basedir"] == str(tmp_path)
    assert result["roles_path"] == result["roles_path_before"], "the first play's work is not done again"


def test_the_projects_modules_and_filters_are_loaded(tmp_path):
    """ansible-playbook loads the plugin directories beside a playbook of the project (library/, filter_plugins/, ...),
    not beside a collection's: the lookup loads the project directory's, before it indexes the filters."""
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "project_hello.py").write_text("#!/usr/bin/python\n")
    (tmp_path / "filter_plugins").mkdir()
    (tmp_path / "filter_plugins" / "project_filters.py").write_text(
        "class FilterModule:\n    def filters(self):\n        return {'project_shout': str.upper}\n")
    assert lookup({})["module"] is None, "the check below would prove nothing"
    result = lookup({}, cwd=str(tmp_path))
    assert result["module"] == str(tmp_path / "library" / "project_hello.py")
    assert result["filter"] is True
