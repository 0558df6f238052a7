# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/image_sbom.py: its options are the module's, whose choices are sbom.py's; the SBOM and gate results."""

from __future__ import annotations

import json

from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import sbom
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import argument_spec

PACKAGES = [{"name": "openssl", "version": "3.0.15-1", "type": "deb", "purl": "pkg:deb/debian/openssl@3.0.15-1"}]


def test_documented_choices_are_the_code_s():
    spec = argument_spec("image_sbom")
    assert spec["scan_fail_on"]["choices"] == list(sbom.FAIL_ON_CHOICES)
    assert spec["metadata"]["options"]["target_type"]["choices"] == sorted(sbom.COMPONENT_TYPES)


def test_bad_arguments(run_action, tmp_path):
    result = run_action("image_sbom", {"packages": PACKAGES, "path": str(tmp_path / "x.cdx.json"), "scan_fail_on": "urgent"})
    assert result["failed"] and "scan_fail_on" in result["msg"]
    result = run_action("image_sbom", {"packages": [{"name": "x"}], "path": str(tmp_path / "x.cdx.json")})
    assert result["failed"] and result["msg"].startswith("immutable.images.image_sbom: packages[0]: missing version")


def test_writes_the_sbom_and_without_a_scanner_skips_the_gate(run_action, tmp_path, monkeypatch):
    monkeypatch.setattr(sbom, "find_scanner", lambda: None)
    path = tmp_path / "x.cdx.json"
    result = run_action("image_sbom", {"packages": PACKAGES, "path": str(path), "metadata": {"target": "container"}})
    assert result["changed"] and result["package_count"] == 1 and "scan gate was skipped" in result["msg"]
    assert json.loads(path.read_text())["components"][0]["name"] == "openssl"


def test_check_mode_writes_nothing(run_action, tmp_path):
    path = tmp_path / "x.cdx.json"
    result = run_action("image_sbom", {"packages": PACKAGES, "path": str(path)}, check_mode=True)
    assert result["msg"].startswith("Check mode") and result["sha256"] and not path.exists()
