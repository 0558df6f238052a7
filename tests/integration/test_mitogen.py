# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Builds where ansible-playbook is configured with Mitogen's strategy (mitogen_linear, as its documentation has users
set it in ansible.cfg), compared with the same roles run by a plain play under the same strategy. Mitogen runs every
action plugin as a class it makes at run time; the builders' tasks keep the collection's own connection."""

import importlib.util
import os

import pytest

from conftest import build_containers, run_build
from test_roles_like_a_play import RANKED_AS_IN_A_PLAY, built_as_played, definition, ranking_entry

pytestmark = [pytest.mark.docker]


@pytest.fixture
def mitogen_strategy(monkeypatch):
    spec = importlib.util.find_spec("ansible_mitogen")
    assert spec is not None, "mitogen is in tests/requirements.txt"
    monkeypatch.setenv("ANSIBLE_STRATEGY_PLUGINS",
                       os.path.join(spec.submodule_search_locations[0], "plugins", "strategy"))
    monkeypatch.setenv("ANSIBLE_STRATEGY", "mitogen_linear")


def test_roles_as_in_a_play_under_mitogen(mitogen_strategy, docker_client, project, remove_images, tmp_path):
    remove_images("mitogen")
    built = built_as_played(docker_client, project, tmp_path, "mitogen", [ranking_entry(project)], "cat /ranks")
    assert built.splitlines() == RANKED_AS_IN_A_PLAY, built
    # this test's: the other worker's tests build on the same engine meanwhile
    assert [c for c in build_containers(docker_client) if c.labels.get("immutable.images.image-name") == "mitogen"] == []


def test_no_warm_interpreter_on_the_controller_under_mitogen(mitogen_strategy, docker_client, project, remove_images):
    """Mitogen runs the controller's modules (here the save's) in interpreters of its own: the collection's warm
    interpreter for them would only take CPU from the build. The saved image is written as without Mitogen."""
    remove_images("mitogensave")
    built = definition("mitogensave", [ranking_entry(project)], image_gather_facts=False)
    built["image_targets"][0]["save"] = "mitogensave.tar"
    proc = run_build(project.path, built, "-v")
    assert proc.returncode == 0, proc.output[-4000:]
    assert "no server: Mitogen runs the modules on the controller" in proc.output
    assert (project.path / "mitogensave.tar").stat().st_size > 0
