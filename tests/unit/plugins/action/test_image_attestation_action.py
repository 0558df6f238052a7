# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/image_attestation.py: nothing is signed without image_sign; a key that cannot be read fails the sign
stage; the registry password never appears in a result. Signing itself: test_provenance.py (module_utils)
and tests/integration/test_provenance.py."""

from __future__ import annotations

TARGET = {"name": "container", "type": "docker", "image_refs": ["arch/web:1"], "sbom_path": "/nowhere/x.cdx.json"}


def test_without_image_sign_nothing_is_signed(run_action):
    result = run_action("image_attestation", {"target": TARGET}, {"image_build": {"sign": None}})
    assert result == {"changed": False, "attestations": [], "msg": "image_sign is not set: nothing signed"}


def test_target_is_required(run_action):
    result = run_action("image_attestation", {}, {"image_build": {"sign": None}})
    assert result["failed"] and "target" in result["msg"]


def test_unreadable_key_fails_the_sign_stage_without_the_password(run_action, tmp_path):
    key = str(tmp_path / "missing-key-s3cr3t-pw.pem")
    result = run_action("image_attestation", {"target": TARGET, "image_id": "sha256:x", "password": "s3cr3t-pw"},
                        {"image_build": {"sign": {"key": key}}})
    assert result["failed"] and result["stage"] == "sign" and "cannot sign the provenance of target container" in result["msg"]
    assert "s3cr3t-pw" not in repr(result)


def test_check_mode_signs_nothing(run_action):
    result = run_action("image_attestation", {"target": TARGET}, {"image_build": {"sign": {"key": "/k"}}}, check_mode=True)
    assert result["changed"] and result["attestations"] == []
