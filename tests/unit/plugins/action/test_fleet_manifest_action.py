# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/fleet_manifest.py: the fleet manifest from each definition host's variables."""

from __future__ import annotations

import json
import os


def hostvars():
    built = {"name": "a", "version": "1", "status": "succeeded", "build_id": "b1", "build_hash": "h", "duration": 1.0,
             "targets": [{"name": "container", "status": "succeeded", "reused": False, "artifact": {"tags": ["a:1"]}}]}
    return {"a": {"image_build": {"started": "2026-12-03T00:00:01Z", "manifest": "/m/a.json"}, "image_build_manifest": built},
            "b": {"image_fleet_failure": {"stage": "validate", "message": "image_version: required"},
                  "image_definition_file": "/defs/b.yml"}}


def test_hosts_are_required(run_action):
    result = run_action("fleet_manifest", {})
    assert result["failed"] and "hosts" in result["msg"]


def test_composes_and_writes_relative_to_the_current_directory(run_action, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_action("fleet_manifest", {"hosts": ["a", "b"], "path": "fleet.json"}, {"hostvars": hostvars()})
    assert result["path"] == os.path.join(str(tmp_path), "fleet.json")
    assert result["fleet"]["counts"] == {"built": 1, "reused": 0, "failed": 1}
    assert json.loads((tmp_path / "fleet.json").read_text())["failed"] == ["b"]


def test_check_mode_writes_nothing(run_action, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_action("fleet_manifest", {"hosts": ["a"], "path": "fleet.json"}, {"hostvars": hostvars()}, check_mode=True)
    assert not (tmp_path / "fleet.json").exists()
