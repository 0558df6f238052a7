# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The task files a build writes in its work directory for the builders' play (the roles' steps, the checks).

YAML, loaded by ansible-core as it loads a playbook's task files. Values stay as written in the definition (strings
exactly, untemplated), and a vault-encrypted one stays encrypted: written as its ciphertext (`!vault`), it is
decrypted when a task reads it, with the run's vault secrets, as in a play. Written decrypted, a secret of the
definition would lie in the clear on the controller's disk for the whole build (and after it, were the build killed).
"""

from __future__ import annotations

import yaml
from ansible.parsing.vault import VaultHelper


class _TaskFileDumper(yaml.SafeDumper):
    """yaml.SafeDumper, for ansible-core's own types as well: its tagged strings, mappings and lists (the definition's
    values as loaded), and its vault-encrypted values."""

    def ignore_aliases(self, data):
        return True  # a value given in two places is written out in both (the entry's vars, the plan's copy of them)


def _represent(dumper, value):
    ciphertext = VaultHelper.get_ciphertext(value, with_tags=False)
    if ciphertext:
        return dumper.represent_scalar("!vault", ciphertext, style="|")
    if isinstance(value, dict):
        return dumper.represent_dict(value)
    if isinstance(value, (list, tuple)):
        return dumper.represent_list(value)
    return dumper.represent_str(str(value))


# after the exact types (str, dict, list, int, ...), which are plain: every other type, subclasses included
_TaskFileDumper.add_multi_representer(object, _represent)


def write(path, tasks):
    """Write `tasks` (a list of tasks) as a task file at `path`."""
    with open(path, "w") as f:
        yaml.dump(tasks, f, Dumper=_TaskFileDumper, sort_keys=False, allow_unicode=True, width=1 << 30)
