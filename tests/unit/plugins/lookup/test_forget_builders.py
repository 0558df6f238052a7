# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""lookup/forget_builders.py: in ansible-playbook's own process it takes the finished builds' builders out of the
run's inventory (what it takes out: test_builder_inventory.py); anywhere else it refuses, as a change there is lost."""

from __future__ import annotations

import multiprocessing

import pytest
from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

from ansible_collections.immutable.images.plugins.lookup.forget_builders import LookupModule


def run_variables():
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[])
    variable_manager = VariableManager(loader=loader, inventory=inventory)
    inventory.add_group("image_builders")
    inventory.add_host("webapp-container", group="image_builders")
    host = inventory.get_host("webapp-container")
    host.set_variable("image_build", {"id": "b1"})
    host.set_variable("image_target", {"host": "webapp-container"})
    variable_manager.set_nonpersistent_facts("localhost", {"image_build": {"id": "b2"}})  # launched another since
    return inventory, {"hostvars": HostVars(inventory=inventory, variable_manager=variable_manager, loader=loader)}


def test_in_the_runs_own_process_it_takes_the_finished_builders_out():
    inventory, variables = run_variables()
    assert LookupModule().run([], variables=variables) == [True]
    assert inventory.get_hosts("image_builders") == []


def test_without_the_runs_variables_it_refuses():
    with pytest.raises(AnsibleError, match="ansible-playbook's own process"):
        LookupModule().run([], variables={})


def _in_a_child(variables, answers):
    try:
        answers.put(LookupModule().run([], variables=variables))
    except AnsibleError as e:
        answers.put(str(e))


def test_in_a_tasks_worker_it_refuses():
    """A task's worker is a forked child with a copy of the inventory: what it would take out stays in the run's."""
    inventory, variables = run_variables()
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=_in_a_child, args=(variables, answers))
    child.start()
    answer = answers.get(timeout=30)
    child.join(30)
    assert "ansible-playbook's own process" in str(answer)
    assert [host.name for host in inventory.get_hosts("image_builders")] == ["webapp-container"]
