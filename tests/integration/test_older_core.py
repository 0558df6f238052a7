# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Builds with the older ansible-core the collection supports: 2.19, the newest release Python 3.11 gets (what an
AWX execution environment on Python 3.11 has). The rest of the suite builds with the newest. Run with
.deps/venv-2.19 (scripts/setup-env makes it, with the collection's requirements) first on PATH, so that the build and
the plain play it is compared with both run ansible-core 2.19: a role given role parameters, vars, a dependency and
a handler (ranked as in a play), then a file larger than the session carries (in pieces)."""

import os
import re
import subprocess

import pytest

from conftest import ROOT, ansible_env
from test_roles_like_a_play import RANKED_AS_IN_A_PLAY, built_as_played, ranking_entry

pytestmark = [pytest.mark.docker]

OLD_CORE_BIN = os.path.join(ROOT, ".deps", "venv-2.19", "bin")


@pytest.fixture
def older_core(monkeypatch):
    if not os.path.exists(os.path.join(OLD_CORE_BIN, "ansible-playbook")):
        pytest.skip("no .deps/venv-2.19 (scripts/setup-env with SETUP_OLD_CORE=0)")
    monkeypatch.setenv("PATH", OLD_CORE_BIN + os.pathsep + os.environ["PATH"])
    version = subprocess.run(["ansible-playbook", "--version"], env=ansible_env(), capture_output=True, text=True,
                             check=True).stdout
    assert re.search(r"\[core 2\.19\.", version), version


def test_roles_as_in_a_play_with_ansible_core_2_19(older_core, docker_client, project, remove_images, tmp_path):
    remove_images("oldcore")
    large = project.role("large", """
        - name: Copy a large file
          ansible.builtin.copy: {src: large.bin, dest: /opt/large.bin, mode: "0644"}
        """)
    (large / "files").mkdir()
    (large / "files" / "large.bin").write_bytes(b"0123456789abcdef" * (1 << 20) + b"end")  # above 16 MiB
    entries = [ranking_entry(project), "large"]
    built = built_as_played(docker_client, project, tmp_path, "oldcore", entries,
                            "cat /ranks; stat -c %s /opt/large.bin")
    assert built.splitlines() == RANKED_AS_IN_A_PLAY + [str((16 << 20) + 3)], built
