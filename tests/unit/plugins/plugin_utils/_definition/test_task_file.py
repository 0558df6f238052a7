# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""task_file.py: what ansible-core loads back from a written task file is what was written, and a vault-encrypted
value is written encrypted (its ciphertext), never in the clear."""

from __future__ import annotations

from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import EncryptedString, VaultHelper, VaultLib, VaultSecret
from ansible.template import trust_as_template

from ansible_collections.immutable.images.plugins.plugin_utils._definition import task_file

SECRET = "S3cret-db-password"


def loader():
    """ansible-core's loader, with the run's vault secret, as the play loads an included task file."""
    loaded = DataLoader()
    loaded.set_vault_secrets([("default", VaultSecret(b"vault-password"))])
    return loaded


def test_values_come_back_as_written_and_a_vaulted_one_stays_encrypted(tmp_path):
    ciphertext = VaultLib([("default", VaultSecret(b"vault-password"))]).encrypt(SECRET).decode()
    entry_vars = {"password": EncryptedString(ciphertext=ciphertext), "template": trust_as_template("{{ x }}/conf"),
                  "nested": {"token": EncryptedString(ciphertext=ciphertext), "list": ["yes", "0755", 8080, None, True]},
                  "multiline": "line one\nline two: with a colon\n", "empty": "", 1: "an integer key"}
    tasks = [{"name": "A block", "block": [{"ansible.builtin.debug": {"var": "password"}}], "vars": entry_vars}]
    path = str(tmp_path / "tasks.yml")
    task_file.write(path, tasks)
    text = open(path).read()
    assert SECRET not in text and text.count("!vault |") == 2

    [block] = loader().load_from_file(path)
    back = block["vars"]
    for value in (back["password"], back["nested"]["token"]):
        assert VaultHelper.get_ciphertext(value, with_tags=False) == ciphertext  # decrypted only when a task reads it
    assert back["template"] == "{{ x }}/conf" and back["nested"]["list"] == ["yes", "0755", 8080, None, True]
    assert back["multiline"] == "line one\nline two: with a colon\n" and back["empty"] == "" and back[1] == "an integer key"
    assert block["block"] == [{"ansible.builtin.debug": {"var": "password"}}]
