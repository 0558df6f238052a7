# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The strategy of a build's first play: the configured default, after refusing --start-at-task and --step; and
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
from ansible.plugins import loader
from ansible_collections.immutable.images.plugins.lookup.build_strategy import LookupModule

context.CLIARGS = ImmutableDict(json.loads(sys.argv[1]))
loader.init_plugin_loader()
before = {kind: bool(getattr(loader, kind + "_loader")._cached_non_collection_wrappers) for kind in ("filter", "test")}
try:
    result = {"strategy": LookupModule().run([])}
except AnsibleError as e:
    result = {"error": str(e)}
result["indexed_before"] = before
result["indexed"] = {kind: bool(getattr(loader, kind + "_loader")._cached_non_collection_wrappers)
                     for kind in ("filter", "test")}
print(json.dumps(result))
"""


def lookup(cliargs):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-c", PROGRAM, json.dumps(cliargs)], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_returns_the_default_strategy_and_indexes_the_jinja_plugins_here():
    result = lookup({"start_at_task": None, "step": False})
    assert result["strategy"] == ["linear"]
    assert result["indexed_before"] == {"filter": False, "test": False}, "the check below would prove nothing"
    assert result["indexed"] == {"filter": True, "test": True}


@pytest.mark.parametrize("cliargs, option", [({"start_at_task": "Some task", "step": False}, "--start-at-task"),
                                             ({"start_at_task": None, "step": True}, "--step")])
def test_refuses_what_a_build_cannot_honour(cliargs, option):
    result = lookup(cliargs)
    assert "do not support %s" % option in result["error"] and "--tags" in result["error"]
