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


def test_the_warm_interpreter_is_installed_once_per_builder_and_again_after_a_reset(monkeypatch, tmp_path):
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import connection_loader

    connection_loader.get("ssh", class_only=True)  # its option definitions, which a run has loaded
    monkeypatch.setattr(ssh, "DEFAULT_LOCAL_TMP", str(tmp_path))
    sent, warnings = [], []
    monkeypatch.setattr(ssh.display, "warning", warnings.append)
    install_rc = [0]

    def builtin_exec(self, cmd, in_data=None, sudoable=True):
        sent.append("install" if "server.py" in cmd else "warm" if "IMMUTABLE_IMAGES_WARM=" in cmd else "cold")
        return (install_rc[0], b"", b"") if sent[-1] == "install" else (0, b"{}", b"")

    monkeypatch.setattr(builtin_ssh.Connection, "exec_command", builtin_exec)
    monkeypatch.setattr(builtin_ssh.Connection, "reset", lambda self: None)

    def task(host="10.0.0.5", warm=True):  # each task has a connection of its own, as in a run
        conn = ssh.Connection(PlayContext(), None)
        conn.set_options(var_options={"ansible_host": host, "ansible_user": "root", "_extras": {ssh.WARM_VAR: warm}})
        return conn

    module = "/bin/sh -c /usr/bin/python3"
    task().exec_command(module, in_data=b"module")
    task().exec_command(module, in_data=b"module")
    task().exec_command("/bin/sh -c 'echo ~ && sleep 0'", in_data=b"")  # not a module: as it came
    task(warm=False).exec_command(module, in_data=b"module")
    assert sent == ["install", "warm", "warm", "cold", "cold"]
    task().reset()  # reset_connection, a reboot: the next module installs it again
    task().exec_command(module, in_data=b"module")
    assert sent[5:] == ["install", "warm"]
    # another builder where it cannot start: one warning, modules as they came, no second install
    install_rc[0] = 3
    del sent[:]
    for _attempt in range(2):
        task(host="10.0.0.6").exec_command(module, in_data=b"module")
    assert sent == ["install", "cold", "cold"]
    assert len(warnings) == 1 and "10.0.0.6: no warm interpreter on the builder" in warnings[0] \
        and "Python 3.9 or newer" in warnings[0]
