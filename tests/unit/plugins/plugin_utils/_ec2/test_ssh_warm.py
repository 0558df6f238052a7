# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugin_utils/_ec2/warm.py: which commands of an ec2 builder's connection run their module in the warm interpreter,
judged on the commands ansible-core's own _low_level_execute_command sends (with the real sh shell and sudo become
plugins); that ansible-core still sends them so is test_private_apis.py's, on both cores. The builds: the integration
tests of ec2 targets (test_ec2_become.py)."""

from __future__ import annotations

import os
import shlex

import pytest
from ansible.playbook.play_context import PlayContext
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import become_loader, get_shell_plugin

from ansible_collections.immutable.images.plugins.module_utils._warm import client as warm_client, install
from ansible_collections.immutable.images.plugins.plugin_utils._ec2 import warm as ssh_warm

PYTHON = "/usr/bin/python3"


class Sent:
    """A connection that records what an action sends it."""

    transport = "ssh"
    allow_executable = True

    def __init__(self, become, remote_user):
        self.become, self.remote_user, self.commands = become, remote_user, []
        self._shell = get_shell_plugin(shell_type="sh", executable=PlayContext().executable)  # as ConnectionBase makes it

    def get_option(self, name):
        return {"remote_user": self.remote_user}[name]

    def exec_command(self, cmd, in_data=None, sudoable=True):
        self.commands.append(cmd)
        return 0, b"{}", b""


class Action(ActionBase):
    def run(self, tmp=None, task_vars=None):
        raise NotImplementedError


def sent(cmd, become_user="root", remote_user="admin", password=None, flags=None, sudoable=True):
    """(connection, the command ansible-core sends for cmd) with sudo to become_user (None: no become)."""
    become = None
    if become_user is not None:
        become = become_loader.get("sudo")
        become.set_options(direct={k: v for k, v in {"become_user": become_user, "become_pass": password,
                                                     "become_flags": flags}.items() if v is not None})
    conn = Sent(become, remote_user)
    action = Action(task=None, connection=conn, play_context=PlayContext(), loader=None, templar=None,
                    shared_loader_obj=None)
    action._low_level_execute_command(cmd, sudoable=sudoable, in_data=b"module")
    return conn, conn.commands[-1]


def judged(conn, cmd, sudoable=True):
    return ssh_warm.pipelined_module(cmd, PlayContext().executable, conn.become if sudoable else None, conn._shell,
                                     conn.remote_user)


def innermost(cmd):
    """The words of the innermost `sh -c` of cmd, and what runs it (the words around it)."""
    outer = shlex.split(cmd)
    become = shlex.split(outer[2])
    return shlex.split(become[-1]), outer[:2] + become[:-1]


def test_a_pipelined_module_through_sudo_to_root_is_recognised_and_rewritten():
    conn, cmd = sent(PYTHON)
    found = judged(conn, cmd)
    assert found[:2] == (PYTHON, conn.become)
    warm = ssh_warm.warm_command(found, PlayContext().executable, conn._shell)
    # the same command, through the same sudo and with the same success marker, with the client's two variables
    env = install.connection_env(PYTHON)
    words, around = innermost(warm)
    assert words == ["echo", conn.become.success, ";", "IMMUTABLE_IMAGES_WARM=" + env["IMMUTABLE_IMAGES_WARM"],
                     "PYTHONPATH=" + env["PYTHONPATH"], PYTHON]
    assert around == innermost(cmd)[1] and innermost(cmd)[0] == ["echo", conn.become.success, ";", PYTHON]


def test_custom_sudo_flags_are_kept():
    conn, cmd = sent(PYTHON, flags="-H -S -n -E")
    found = judged(conn, cmd)
    assert found[:2] == (PYTHON, conn.become)
    assert "-H -S -n -E" in ssh_warm.warm_command(found, PlayContext().executable, conn._shell)


def test_root_without_become_is_recognised_another_user_is_not():
    conn, cmd = sent(PYTHON, become_user=None, remote_user="root")
    assert judged(conn, cmd)[:2] == (PYTHON, None)
    conn, cmd = sent(PYTHON, become_user=None, remote_user="admin")
    assert judged(conn, cmd) is None  # its module runs as admin, who may not use root's server


@pytest.mark.parametrize("how", [
    {"become_user": "postgres"},  # another user than root
    {"password": "s3cret"},  # a password prompt to answer
    {"sudoable": False},  # the command is not to be run through become
])
def test_other_become_is_sent_as_it_came(how):
    conn, cmd = sent(PYTHON, **{k: v for k, v in how.items() if k != "sudoable"})
    assert judged(conn, cmd, sudoable=how.get("sudoable", True)) is None


@pytest.mark.parametrize("command", [
    "API_TOKEN=x %s" % PYTHON,  # a task's environment: in front of the interpreter
    "%s /home/admin/.ansible/tmp/AnsiballZ_copy.py" % PYTHON,  # a module run from a file (not pipelined)
    "echo ~admin && sleep 0",
    "/usr/bin/env python3",
])
def test_what_is_not_exactly_a_pipelined_module_is_sent_as_it_came(command):
    conn, cmd = sent(command)
    assert judged(conn, cmd) is None


def test_a_become_plugin_that_built_no_command_is_not_taken_for_one():
    # with become_user the login user, ansible-core sends the command without become (the plugin builds nothing)
    conn, cmd = sent(PYTHON, become_user=None, remote_user="admin")
    fresh = become_loader.get("sudo")
    fresh.set_options(direct={"become_user": "root"})
    assert ssh_warm.pipelined_module(cmd, PlayContext().executable, fresh, conn._shell, "admin") is None


def test_a_command_that_is_no_shell_words_is_sent_as_it_came():
    conn, _cmd = sent(PYTHON)
    assert judged(conn, "/bin/sh -c 'unbalanced") is None


def test_the_install_command_runs_the_archives_start_as_root():
    conn, cmd = sent(PYTHON)
    words, around = innermost(ssh_warm.install_command(judged(conn, cmd), PlayContext().executable, conn._shell))
    assert words == ["echo", conn.become.success, ";"] + install.start_argv(PYTHON) and around == innermost(cmd)[1]


def test_what_sudo_records_of_the_command_is_what_it_would_be_without_the_warm_interpreter(monkeypatch):
    conn, cold = sent(PYTHON)
    warm = ssh_warm.warm_command(judged(conn, cold), PlayContext().executable, conn._shell)
    inner = shlex.split(shlex.split(warm)[2])[-1]  # what sudo runs (sh -c INNER), and records as SUDO_COMMAND
    cold_inner = shlex.split(shlex.split(cold)[2])[-1]
    env = install.connection_env(PYTHON)
    monkeypatch.setattr(os, "environ", dict(env, SUDO_COMMAND="/bin/sh -c %s" % inner, PATH="/usr/bin"))
    seen = warm_client.forwarded_env(env["PYTHONPATH"])
    assert seen == {"SUDO_COMMAND": "/bin/sh -c %s" % cold_inner, "PATH": "/usr/bin"}
