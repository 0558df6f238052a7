# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the plugin tests. run_action: run an action plugin of the collection the way a worker does (a real Task, PlayContext, DataLoader and
Templar), without ansible-playbook: `run_action("layer_cache", {"state": "x"})`; client: the local Docker engine for the
tests that run on it (skipped without one)."""

from __future__ import annotations

import importlib
import types

import pytest
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.template import Templar
from ansible.vars.manager import VariableManager


class LocalConnection:
    """What ActionBase.run and the plugins read of a connection: its shell's tmpdir and its transport."""

    def __init__(self, transport="ansible.builtin.local"):
        self.transport = transport
        self._shell = types.SimpleNamespace(tmpdir=None)


def action(name, args=None, check_mode=False, connection=None):
    loader = DataLoader()
    # A play loads its tasks with the run's variable manager (the plan asks it for the builders' inventory variables).
    variables = VariableManager(loader, InventoryManager(loader, sources=[]))
    task = Task.load({"action": "immutable.images." + name, "args": dict(args or {})}, variable_manager=variables)
    task.check_mode = check_mode
    plugin = importlib.import_module("ansible_collections.immutable.images.plugins.action." + name)
    return plugin.ActionModule(task, connection or LocalConnection(), PlayContext(), loader, Templar(loader), None)


@pytest.fixture
def run_action():
    def run(name, args=None, task_vars=None, check_mode=False, connection=None):
        return action(name, args, check_mode, connection).run(task_vars=dict(task_vars or {}))
    return run


@pytest.fixture
def make_action():
    """The action plugin object itself (to set what a play would, e.g. task._play, before run())."""
    return action


@pytest.fixture(scope="module")
def client():
    """The local Docker engine, as the modules reach it (module_utils/_docker/client.py)."""
    from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure, get_client

    try:
        return get_client()
    except DockerFailure as e:
        pytest.skip("no Docker engine: %s" % e)
