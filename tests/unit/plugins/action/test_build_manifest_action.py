# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/build_manifest.py: the manifest written from image_build and the results, and its failures."""

from __future__ import annotations

import json

BUILD = {"id": "20261203t000000z-arch02", "hash": "abc123def456", "name": "arch-web", "version": "1.0.0",
         "started": "2026-12-03T00:00:00Z", "started_ts": 1000.0, "on_error": "cleanup", "revision": None,
         "targets": [{"name": "container", "type": "docker", "builder_name": "b", "base_image": "debian"}],
         "skipped_targets": []}


def test_without_image_build_it_fails_clearly(run_action):
    result = run_action("build_manifest", {})
    assert result == {"failed": True, "msg": "image_build is not set: run the immutable.images.launch role first"}


def test_results_must_be_a_dict(run_action):
    result = run_action("build_manifest", {"results": ["container"]}, {"image_build": BUILD})
    assert result["failed"] and "results" in result["msg"]


def test_failed_target_is_reported_and_the_manifest_written(run_action, tmp_path):
    path = tmp_path / "build-manifest.json"
    results = {"container": {"status": "failed", "stage": "provision", "task": "web : install", "message": "apt failed"}}
    result = run_action("build_manifest", {"results": results}, {"image_build": dict(BUILD, manifest=str(path))})
    assert not result.get("failed") and result["changed"] is False  # returned, not failed: finalize fails on it
    assert result["manifest"]["status"] == "failed" and "provision" in result["msg"] and "apt failed" in result["msg"]
    assert json.loads(path.read_text())["build_id"] == BUILD["id"]


def test_check_mode_writes_nothing(run_action, tmp_path):
    path = tmp_path / "build-manifest.json"
    result = run_action("build_manifest", {}, {"image_build": dict(BUILD, manifest=str(path))}, check_mode=True)
    assert "check mode" in result["msg"] and not path.exists()
