# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a --limit lets a build's own hosts through, on ansible-core's own host patterns (no stand-in for them):
each case is what ansible-playbook would select for the build's plays and for builders added at run time."""

from __future__ import annotations

import pytest
from ansible.parsing.dataloader import DataLoader

from ansible_collections.immutable.images.plugins.plugin_utils import _run_limit as run_limit

NO_INVENTORY = {"all": [], "ungrouped": []}  # build_image without -i: localhost is implicit
WITH_LOCALHOST = {"all": ["localhost", "web1"], "ungrouped": ["localhost"], "web": ["web1"]}
DEFINITIONS = {"all": ["webapp", "worker", "other"], "ungrouped": ["other"], "image_definitions": ["webapp", "worker"]}
BUILDERS = "image_builders"


def left_out(limit, groups, runs_on, builder_groups=()):
    return [name for name, _what in run_limit.left_out(DataLoader(), limit, groups, runs_on, builder_groups)]


@pytest.mark.parametrize("limit, groups, runs_on, expected", [
    ("localhost", NO_INVENTORY, "localhost", [BUILDERS]),
    ("localhost,image_builders", NO_INVENTORY, "localhost", []),
    ("localhost:image_b*", NO_INVENTORY, "localhost", []),
    ("localhost:~image_.*", NO_INVENTORY, "localhost", []),
    ("localhost,!image_builders", NO_INVENTORY, "localhost", [BUILDERS]),
    ("image_builders", NO_INVENTORY, "localhost", ["localhost"]),
    # `all` takes in the builders (added to the inventory at run time) but not an implicit localhost
    ("all", NO_INVENTORY, "localhost", ["localhost"]),
    ("all", WITH_LOCALHOST, "localhost", []),
    ("web1", WITH_LOCALHOST, "localhost", ["localhost", BUILDERS]),
    ("web,localhost,image_builders", WITH_LOCALHOST, "localhost", []),
    # build_all: a limit to some definitions is fine, not to none of them
    ("webapp,image_builders", DEFINITIONS, "image_definitions", []),
    ("webapp", DEFINITIONS, "image_definitions", [BUILDERS]),
    ("other,image_builders", DEFINITIONS, "image_definitions", ["image_definitions"]),
    ("webapp,&image_definitions,image_builders", DEFINITIONS, "image_definitions", [BUILDERS]),
    # unset runs_on: the builders only
    ("web1", WITH_LOCALHOST, None, [BUILDERS]),
])
def test_what_a_limit_leaves_out(limit, groups, runs_on, expected):
    assert left_out(limit, groups, runs_on) == expected


def test_a_group_of_image_builder_groups_lets_the_builders_through():
    assert left_out("localhost,web_builders", NO_INVENTORY, "localhost", ["web_builders"]) == []
    assert left_out("localhost,web_builders", NO_INVENTORY, "localhost") == [BUILDERS]


def test_a_limit_from_a_file_is_read_as_ansible_reads_it(tmp_path):
    retry = tmp_path / "build.retry"
    retry.write_text("localhost\nimage_builders\n")
    assert left_out("@%s" % retry, NO_INVENTORY, "localhost") == []
    retry.write_text("localhost\n")
    assert left_out("@%s" % retry, NO_INVENTORY, "localhost") == [BUILDERS]


def test_the_message_says_what_is_left_out_and_how_to_let_it_through():
    missing = run_limit.left_out(DataLoader(), "web1", WITH_LOCALHOST, "localhost")
    assert run_limit.refusal("web1", missing) == (
        "--limit 'web1' leaves out localhost (where the build's own plays run) and the builders (the launch role adds "
        "them to the group image_builders): no image would be built. Let them through, e.g. --limit "
        "'web1,localhost,image_builders', or run without --limit.")
    # adding a name cannot undo an exclusion or an intersection: no example then
    missing = run_limit.left_out(DataLoader(), "localhost,!image_builders", NO_INVENTORY, "localhost")
    assert run_limit.refusal("localhost,!image_builders", missing).endswith(
        "no image would be built. Let them through or run without --limit.")
