# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""On the controller, docker_builder and docker_cleanup do their work in their action's worker, and give what the same
modules give when they run as modules (here: with become, as root, through su) on the same engine."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import docker
from conftest import BASE_IMAGE, ansible_env, build_containers

PLAYBOOK = """
- name: The same docker modules in the worker and as modules
  hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ playbook_dir }}/python"  # logs each module process it starts
    builder: &builder
      image: BASE_IMAGE
      pull: never
      labels: {"immutable.images.build-id": "BUILD_ID", "immutable.images.kind": "builder",
               "immutable.images.image-name": "inworker", "immutable.images.created": "2026-01-01T00:00:00Z"}
    as_module: &as_module
      become: true
      become_method: ansible.builtin.su
  tasks:
    - name: Start a builder (in the worker)
      immutable.images.docker_builder:
        <<: *builder
        name: in-worker-BUILD_ID
      register: started_in_worker
    - name: Start a builder (as a module)
      immutable.images.docker_builder:
        <<: *builder
        name: as-module-BUILD_ID
      <<: *as_module
      register: started_as_module
    - name: Find the build's resources (in the worker)
      immutable.images.docker_cleanup:
        build_id: BUILD_ID
      check_mode: true
      register: found_in_worker
    - name: Find the build's resources (as a module)
      immutable.images.docker_cleanup:
        build_id: BUILD_ID
      check_mode: true
      <<: *as_module
      register: found_as_module
    - name: A bad argument (in the worker)
      immutable.images.docker_cleanup:
        max_age: forever
      register: bad_in_worker
      ignore_errors: true
    - name: A bad argument (as a module)
      immutable.images.docker_cleanup:
        max_age: forever
      <<: *as_module
      register: bad_as_module
      ignore_errors: true
    - name: Remove them (in the worker)
      immutable.images.docker_cleanup:
        build_id: BUILD_ID
      register: removed
    - name: Show the results (debug runs no module)
      ansible.builtin.debug:
        msg: "RESULTS{{ {'started': [started_in_worker, started_as_module], 'found': [found_in_worker, found_as_module],
                         'bad': [bad_in_worker, bad_as_module], 'removed': removed} | to_json }}RESULTS"
"""
LOGGING_PYTHON = """#!/bin/sh
echo module >> "$(dirname "$0")/modules.log"
exec {python} "$@"
"""


def test_the_work_in_the_worker_gives_what_the_module_gives(docker_client, tmp_path):
    build_id = "inworker%d" % os.getpid()
    (tmp_path / "play.yml").write_text(PLAYBOOK.replace("BASE_IMAGE", BASE_IMAGE).replace("BUILD_ID", build_id))
    python = tmp_path / "python"
    python.write_text(LOGGING_PYTHON.format(python=sys.executable))
    python.chmod(stat.S_IRWXU)
    try:
        result = subprocess.run(["ansible-playbook", "play.yml"], cwd=tmp_path, env=ansible_env(), capture_output=True,
                                text=True, timeout=300, check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        # module processes: only the three tasks with become (those in the worker start none)
        assert (tmp_path / "modules.log").read_text().split() == ["module"] * 3, (tmp_path / "modules.log").read_text()
        results = json.loads(json.loads('"%s"' % output.split("RESULTS")[1]))  # JSON in the debug's JSON string
    finally:
        for container in build_containers(docker_client, build_id):
            try:
                container.remove(force=True)
            except docker.errors.APIError:  # its lease ended with ansible-playbook: the engine is removing it
                pass

    in_worker, as_module = results["started"]
    assert in_worker["changed"] and as_module["changed"]
    assert in_worker["container"]["status"] == "running" and in_worker["container"]["name"] == "in-worker-" + build_id

    def but_id_and_name(container):
        return {k: v for k, v in container.items() if k not in ("id", "name")}
    assert but_id_and_name(in_worker["container"]) == but_id_and_name(as_module["container"])

    in_worker, as_module = results["found"]
    assert in_worker["changed"] and as_module["changed"]
    assert in_worker["resources"] == as_module["resources"]
    assert sorted(r["name"] for r in in_worker["resources"]) == ["as-module-" + build_id, "in-worker-" + build_id]
    assert in_worker["removed"] == as_module["removed"] == []

    in_worker, as_module = results["bad"]
    assert in_worker["failed"] and as_module["failed"]
    assert in_worker["msg"] == as_module["msg"], (in_worker, as_module)

    assert sorted(results["removed"]["removed"]) == sorted(r["id"] for r in results["found"][0]["resources"])
    assert build_containers(docker_client, build_id) == []
