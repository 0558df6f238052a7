# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""connection/ssh.py: ansible.builtin.ssh with the task environment's values masked in what -vvv prints."""

from __future__ import annotations

from ansible.plugins.connection import ssh as builtin_ssh

from ansible_collections.immutable.images.plugins.connection import ssh
from ansible_collections.immutable.images.plugins.plugin_utils import _redact as redact


def test_is_builtin_ssh_with_its_options():
    assert issubclass(ssh.Connection, builtin_ssh.Connection)
    conn = ssh.Connection.__new__(ssh.Connection)
    conn._load_name = "immutable.images.ssh"  # what the loader sets: ignored, the options stay ssh's
    assert conn._load_name == "ssh"


def test_exec_lines_show_names_not_values(monkeypatch):
    assert isinstance(builtin_ssh.display, redact.RedactingDisplay)
    shown = []
    monkeypatch.setattr(builtin_ssh.display, "_display", type("D", (), {"vvv": lambda self, msg, **k: shown.append(msg)})())
    builtin_ssh.display.vvv("SSH: EXEC ssh host /bin/sh -c 'API_TOKEN=s3cr3t DEBUG=1 /usr/bin/python3'")
    assert shown == ["SSH: EXEC ssh host /bin/sh -c 'API_TOKEN=******** DEBUG=******** /usr/bin/python3'"]
