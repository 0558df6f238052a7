# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/package-layout.tsv, the moves of the planned reorganisation, stays complete and mechanical: every file of
module_utils and plugin_utils has a row, every old path exists, no two files go to the same place."""

from __future__ import annotations

import csv
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rows():
    with open(os.path.join(ROOT, "docs", "package-layout.tsv"), newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_every_library_file_has_a_row_and_exists():
    old = [r["old_path"] for r in rows()]
    assert len(old) == len(set(old))
    assert [p for p in old if not os.path.isfile(os.path.join(ROOT, p))] == [], "rows for files that are gone"
    library = ["plugins/%s/%s" % (d, f) for d in ("module_utils", "plugin_utils")
               for f in os.listdir(os.path.join(ROOT, "plugins", d)) if f.endswith(".py")]
    assert sorted(set(library) - set(old)) == [], "add a row to docs/package-layout.tsv for each new file"


def test_new_paths_are_unique_and_test_basenames_too():
    new = [r["new_path"] for r in rows()]
    assert len(new) == len(set(new))
    tests = [os.path.basename(p) for p in new if p.startswith("tests/")]
    assert len(tests) == len(set(tests)), "test directories have no __init__.py: basenames must stay unique"
    assert all(p.startswith(("plugins/module_utils/", "plugins/plugin_utils/", "tests/unit/plugins/")) for p in new)
