# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options that were retired keep old definitions building, and say so."""

import pytest

from conftest import run_build

pytestmark = [pytest.mark.docker]


def test_image_mitogen_is_accepted_with_a_deprecation_warning(project, docker_client, docker_definition):
    definition = dict(docker_definition("tidy-retired"), image_mitogen=True)
    proc = run_build(project.path, definition, "--check", env={"ANSIBLE_DEPRECATION_WARNINGS": "1"})
    assert proc.returncode == 0, proc.output
    assert "image_mitogen has no effect" in proc.output
    assert "Mitogen" not in proc.output.split("image_mitogen has no effect")[0]  # the plan no longer mentions it
