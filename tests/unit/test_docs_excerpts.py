# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's excerpt of examples/webapp/webapp.yml says nothing the file does not: every key it shows has
the file's value (the excerpt may leave keys out, and says so). The definition of docs/from-packer.md is valid."""

import copy
import os
import re

import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.immutable.images.plugins.plugin_utils._definition import as_written, definition

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


def test_the_definition_of_the_packer_page_is_valid(tmp_path):
    """As the build checks it before anything starts: the spec, the targets' checks, the values as YAML wrote them
    (in a directory with the dist/ it copies)."""
    page = open(os.path.join(ROOT, "docs", "from-packer.md")).read()
    match = re.search(r"<!-- from-packer definition:.*?-->\n```yaml\n(.*?)```", page, re.S)
    assert match, "the definition of docs/from-packer.md is gone"
    raw = yaml.safe_load(match.group(1))
    checked = ArgumentSpecValidator(definition.load_definition_spec()).validate(copy.deepcopy(raw))
    assert not checked.error_messages, checked.error_messages
    (tmp_path / "dist").mkdir()
    assert definition.check_definition(checked.validated_parameters, str(tmp_path)) == []
    assert as_written.errors(raw["image_targets"]) == []
