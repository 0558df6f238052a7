# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/definition-reference.md is generated from the launch role's argument spec and must not drift."""

import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "gen-definition-reference")
SPEC = os.path.join(ROOT, "roles", "launch", "meta", "argument_specs.yml")
REFERENCE = os.path.join(ROOT, "docs", "definition-reference.md")


def spec_options():
    with open(SPEC) as f:
        return yaml.safe_load(f)["argument_specs"]["definition"]["options"]


def reference_text():
    with open(REFERENCE) as f:
        return f.read()


def test_reference_is_up_to_date():
    proc = subprocess.run([sys.executable, SCRIPT, "--check"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, "docs/definition-reference.md is stale; run scripts/gen-definition-reference\n" \
        + proc.stdout[-4000:] + proc.stderr[-1000:]


def test_check_mode_reports_a_stale_file(tmp_path):
    """--check fails with a diff when the file differs (run on a copy of the tree, never the checkout)."""
    for rel in ("scripts/gen-definition-reference", "roles/launch/meta/argument_specs.yml"):
        dest = tmp_path / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(open(os.path.join(ROOT, rel)).read())
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "definition-reference.md").write_text(reference_text() + "stale line\n")
    script = str(tmp_path / "scripts" / "gen-definition-reference")
    proc = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "-stale line" in proc.stdout
    subprocess.run([sys.executable, script], check=True)
    assert subprocess.run([sys.executable, script, "--check"], capture_output=True).returncode == 0


def test_every_top_level_option_has_a_section():
    text = reference_text()
    for name in spec_options():
        assert "\n## %s\n" % name in text, name


def test_every_target_option_is_in_the_table():
    text = reference_text()
    options = spec_options()["image_targets"]["options"]
    for name in options:
        assert "| `%s` |" % name in text, name
    for parent in ("config", "registry_auth", "root_volume"):
        assert "`image_targets[].%s`" % parent in text
        for name in options[parent]["options"]:
            assert "| `%s` |" % name in text, "%s.%s" % (parent, name)
    for name in options["config"]["options"]["healthcheck"]["options"]:
        assert "| `%s` |" % name in text, "config.healthcheck." + name


def test_no_ansible_markup_is_left():
    text = reference_text()
    for macro in ("C(", "V(", "O(", "E(", "U(", "I(", "M("):
        assert " " + macro not in text and "(" + macro not in text, macro
