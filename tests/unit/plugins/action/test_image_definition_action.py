# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/image_definition.py: it takes no options (the definition is the image_* variables) and fails the
validate stage on a bad definition before anything is created. The plan itself: test_roles_like_a_play.py,
module_utils/test_definition.py and the integration tests."""

from __future__ import annotations


def test_takes_no_options(run_action):
    result = run_action("image_definition", {"image_name": "x"})
    assert result["failed"] and "unsupported parameters: image_name" in result["msg"]


def test_bad_definition_fails_the_validate_stage(run_action, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_action("image_definition", {}, {"image_name": "arch-web", "image_targets": []})
    assert result["failed"] and result["stage"] == "validate" and result["errors"]
    assert list(tmp_path.iterdir()) == []
