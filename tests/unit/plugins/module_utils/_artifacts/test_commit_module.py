# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""commit_module: the run tests' env values are masked in what the tests report, not in the rest of the result (the
image's id and tags: tests/integration/test_reuse_and_verify.py)."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.module_utils._artifacts import commit_module


def test_run_test_env_is_no_no_log_option():
    # as one, each value would be masked wherever it occurs in the result: "1" in every tag and digest
    assert commit_module.MODULE_ARGS["argument_spec"]["run_test_env"]["no_log"] is False


def test_values_of_four_characters_or_more_are_masked_in_what_a_test_reports():
    env = [{"DRY_RUN": "1", "MODE": "yes"}, {"TOKEN": "tk-Secret-4711"}, None]
    assert commit_module.masked("run test 1 of 2: got 1 tk-Secret-4711", env) == "run test 1 of 2: got 1 ********"
    assert commit_module.masked(["a tk-Secret-4711 b", "yes"], env) == ["a ******** b", "yes"]
    assert commit_module.masked("nothing to mask", []) == "nothing to mask"
