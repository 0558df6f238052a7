# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""scripts/setup-env finds pyenv's Pythons by minor version, whatever patch release is installed."""

import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "setup-env")


def which_python(pyenv_root):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(pyenv_root), "PYENV_ROOT": str(pyenv_root)}
    out = subprocess.run([SCRIPT, "--which-python"], env=env, capture_output=True, text=True, check=True).stdout
    return dict(line.split(": ", 1) for line in out.splitlines())


def fake_pyenv_python(root, version):
    """root/versions/<version>/bin/python3: the interpreter running this test (>= 3.12 under the venv)."""
    bindir = root / "versions" / version / "bin"
    bindir.mkdir(parents=True)
    (bindir / "python3").symlink_to(os.path.realpath(sys.executable))
    return str(bindir / "python3")


def test_any_patch_release_of_pyenv_3_12_or_3_13_is_found(tmp_path):
    if sys.version_info < (3, 12) or glob.glob("/usr/bin/python3.1[2-9]"):
        pytest.skip("needs a Python >= 3.12 that is not the system's own")
    fake_pyenv_python(tmp_path, "3.11.2")  # the wrong minor: skipped (it is not 3.11 either)
    newest = fake_pyenv_python(tmp_path, "3.%d.42" % sys.version_info[1])
    fake_pyenv_python(tmp_path, "3.%d.9" % sys.version_info[1])
    assert which_python(tmp_path)["newest ansible-core"] == newest  # 3.x.42 sorts after 3.x.9


def test_nothing_found_says_so(tmp_path):
    if glob.glob("/usr/bin/python3.1[2-9]"):
        pytest.skip("the system has its own Python >= 3.12")
    assert which_python(tmp_path)["newest ansible-core"] == ""
