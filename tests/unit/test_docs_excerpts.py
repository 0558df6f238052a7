# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's excerpt of examples/webapp/webapp.yml says nothing the file does not: every key it shows has
the file's value (the excerpt may leave keys out, and says so)."""

import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def subset(excerpt, full, where="webapp.yml"):
    if isinstance(excerpt, dict):
        assert isinstance(full, dict), where
        for key, value in excerpt.items():
            assert key in full, "%s: %s is not in the file" % (where, key)
            subset(value, full[key], "%s.%s" % (where, key))
    elif isinstance(excerpt, list):
        assert isinstance(full, list) and len(excerpt) == len(full), where
        for i, (a, b) in enumerate(zip(excerpt, full)):
            subset(a, b, "%s[%d]" % (where, i))
    else:
        assert excerpt == full, "%s: %r in the README, %r in the file" % (where, excerpt, full)


def test_readme_excerpt_matches_the_example():
    readme = open(os.path.join(ROOT, "README.md")).read()
    match = re.search(r"An excerpt of `examples/webapp/webapp\.yml`.*?```yaml\n(.*?)```", readme, re.S)
    assert match, "the README's excerpt of the example definition is gone"
    with open(os.path.join(ROOT, "examples", "webapp", "webapp.yml")) as f:
        full = yaml.safe_load(f)
    subset(yaml.safe_load(match.group(1)), full)
