# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/build_guard.py: what it arms (from image_build), what it disarms, and that a bad state arms nothing.
The guard process itself: tests/unit/plugins/plugin_utils/_guard/test_build_guard.py."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap

import pytest
from ansible.constants import DEFAULT_LOCAL_TMP

from ansible_collections.immutable.images.plugins.action import build_guard as action

BUILD = {"id": "20261203t000000z-arch01", "name": "web", "workdir": "/tmp/x", "targets": [
    {"type": "docker", "name": "a", "docker_host": None},
    {"type": "docker", "name": "b", "docker_host": "tcp://10.0.0.5:2376", "tls": {"verify": True}},
    {"type": "ec2", "name": "c", "region": "eu-west-1", "copy_to_regions": ["us-east-1"]}],
    # the plan's engines: every engine a docker builder of the build can be on (its targets' and its pool's)
    "engines": [{"docker_host": None}, {"docker_host": "tcp://10.0.0.5:2376", "tls": {"verify": True}},
                {"docker_host": "tcp://10.0.0.6:2376"}]}


@pytest.fixture
def guard(monkeypatch):
    calls = []
    monkeypatch.setattr(action.build_guard, "arm", lambda spec, watch, log: calls.append(("arm", spec, watch)) or 4242)
    monkeypatch.setattr(action.build_guard, "disarm", lambda build_id: calls.append(("disarm", build_id)) or True)
    return calls


@pytest.mark.parametrize("args", [{"state": "disarm"}, {"state": "Disarmed"}, {"stat": "disarmed"}])
def test_a_typo_arms_nothing(run_action, guard, args):
    result = run_action("build_guard", args, {"image_build": BUILD})
    assert result["failed"] and "immutable.images.build_guard" in result["msg"]
    assert guard == []


def test_armed_spec_covers_every_engine_and_region(run_action, guard, monkeypatch):
    monkeypatch.setitem(multiprocessing.current_process()._config, "tempdir", "/tmp/pymp-1234abcd")
    result = run_action("build_guard", {}, {"image_build": BUILD})
    assert result["changed"] and result["pid"] == 4242 and result["watching"] == os.getppid()
    assert result["spec"] == {"build_id": BUILD["id"], "image_name": "web", "docker_hosts": ["", "tcp://10.0.0.5:2376", "tcp://10.0.0.6:2376"],
                              "docker_tls": {"tcp://10.0.0.5:2376": {"verify": True}},
                              "regions": ["eu-west-1", "us-east-1"], "workdir": "/tmp/x", "local_tmp": DEFAULT_LOCAL_TMP,
                              "multiprocessing_tmp": "/tmp/pymp-1234abcd"}
    assert guard == [("arm", result["spec"], os.getppid())]


def test_a_worker_names_the_multiprocessing_directory_of_its_parent():
    """As ansible-playbook's workers: multiprocessing children of a process that made its temporary directory (ansible-core
    2.21 does, for its listener) read the parent's; a process that made none gives None. In a process of its own: the
    directory goes with it."""
    script = textwrap.dedent('''
        import multiprocessing, multiprocessing.util, sys
        from ansible_collections.immutable.images.plugins.action.build_guard import _multiprocessing_tmp
        print(_multiprocessing_tmp())
        made = multiprocessing.util.get_temp_dir()
        queue = multiprocessing.get_context("fork").SimpleQueue()
        worker = multiprocessing.get_context("fork").Process(target=lambda: queue.put(_multiprocessing_tmp()))
        worker.start()
        worker.join()
        print(made == queue.get() and made)
    ''')
    env = dict(os.environ, PYTHONPATH=action.build_guard.COLLECTIONS_ROOT)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "None" and os.path.basename(out[1]).startswith("pymp-"), out


def test_disarm_by_build_id_then_remove(run_action, guard, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = run_action("build_guard", {"state": "disarmed", "remove": str(workdir), "pid": 1}, {"image_build": BUILD})
    assert guard == [("disarm", BUILD["id"])]
    assert result["changed"] and result["removed"] == str(workdir) and not workdir.exists()
    result = run_action("build_guard", {"state": "disarmed", "remove": str(workdir)}, {"image_build": BUILD})
    assert result["removed"] is None  # a missing directory is not an error


def test_check_mode_does_nothing(run_action, guard):
    result = run_action("build_guard", {}, {"image_build": BUILD}, check_mode=True)
    assert result["skipped"] and not result["changed"] and guard == []


def test_armed_and_disarmed_the_builders_are_forgotten_by_a_persistent_fact_cache(run_action, guard, monkeypatch):
    """A builder's inventory name is reused by every build of its image and target: its entries in a fact cache are
    an earlier builder's when the guard is armed, this build's own when it is disarmed (_builder_inventory)."""
    asked = []
    monkeypatch.setattr(action.builder_inventory, "forget_cached_facts", lambda hosts: asked.append(hosts) or hosts)
    build = dict(BUILD, targets=[dict(t, host="web-" + t["name"]) for t in BUILD["targets"]])
    armed = run_action("build_guard", {}, {"image_build": build})
    disarmed = run_action("build_guard", {"state": "disarmed"}, {"image_build": build})
    assert armed["facts_forgotten"] == disarmed["facts_forgotten"] == ["web-a", "web-b", "web-c"]
    assert asked == [["web-a", "web-b", "web-c"]] * 2
    assert [call[0] for call in guard] == ["arm", "disarm"]
