# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module and role documentation renders with ansible-doc (what users read)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "plugins", "modules")) if f.endswith(".py"))
ROLES = sorted(os.listdir(os.path.join(ROOT, "roles")))
ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), "ansible-doc")


@pytest.mark.parametrize("args", [["immutable.images." + m] for m in MODULES] +
                         [["-t", "role", "immutable.images." + r] for r in ROLES], ids=MODULES + ROLES)
def test_ansible_doc_renders(args):
    proc = subprocess.run([ANSIBLE_DOC] + args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "[ERROR]" not in proc.stderr, proc.stderr
    if args[0] == "-t":
        assert "ENTRY POINT" in proc.stdout and "OPTIONS" in proc.stdout.upper()
    else:
        assert "EXAMPLES" in proc.stdout and "RETURN VALUES" in proc.stdout.upper()
