# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The warm interpreter on ec2 builders: which commands of their SSH connection (connection/ssh.py) run their module
in it, and the command that installs it (with what it says). The connection's one way to the speed layer.

A docker builder's modules reach its warm interpreter through the builder's session (module_utils/_warm/relay.py),
which also saves an exec per command. Over SSH the connection already keeps one connection for the whole build
(ControlPersist), so only the interpreter is added: installed once per builder, as root, in /dev/shm (a tmpfs: in no
volume an AMI is made of, and gone when the instance stops for its image), and reached by the client that docker
builders use (module_utils/_warm/client.py, the sitecustomize of a directory of its own) from the command of a
pipelined module, which gets the client's two environment variables in front of its interpreter.

Only a command that is exactly what ansible-core sends for a pipelined module running as root is changed: rebuilt
here from its interpreter, with the task's become plugin, and compared. Root because the server's socket is root's
alone: the login user root without become, or become root without a password. Everything else is sent as it came.
"""

from __future__ import annotations

import copy
import re
import shlex

from ansible_collections.immutable.images.plugins.module_utils._warm import install

_PATH = re.compile(r"/[A-Za-z0-9_./+-]+")  # an interpreter's absolute path, as a launch gives it


def _as_sent(inner, executable, become, shell, sleep):
    """What ansible-core's _low_level_execute_command sends for `inner`: through the become plugin (with the success
    marker the task's plugin holds now), with ` && sleep 0` where it appends that (ansible-core before 2.20), then
    `executable -c`."""
    if become is not None:
        probe = copy.copy(become)  # building sets a new marker on the plugin: on a copy, the task's stays
        inner = probe.build_become_command(inner, shell).replace(probe.success, become.success)
    if sleep:
        inner = shell.append_command(inner, "sleep 0")
    return "%s -c %s" % (executable, shlex.quote(inner)) if executable else inner


_SLEEP = ["&&", "sleep", "0"]


def _last_word(cmd):
    """The last word of the innermost command of cmd (`sh -c 'sudo ... "echo MARKER ; python3"'`): the interpreter,
    if cmd runs a pipelined module (checked after, by rebuilding cmd)."""
    try:
        words = shlex.split(cmd)
        while True:
            if words[-3:] == _SLEEP:
                words = words[:-3]
            if not words or not any(c.isspace() for c in words[-1]):
                return words[-1] if words else None
            words = shlex.split(words[-1])
    except ValueError:
        return None


def as_root_become(become):
    """The become plugin when it made the command root's without a password prompt, else None."""
    if become is None or not become.success or become.expect_prompt():  # no success marker: it built no command
        return None
    return become if (become.get_option("become_user") or "root") == "root" else None


def pipelined_module(cmd, executable, become, shell, remote_user):
    """How cmd was made when it is exactly a pipelined module's command that runs as root: (interpreter, become plugin
    or None, whether ` && sleep 0` was appended); else None.

    become: the task's become plugin when the command may use it (sudoable), else None."""
    interpreter = _last_word(cmd)
    if not interpreter or not _PATH.fullmatch(interpreter):
        return None
    ways = [None] if remote_user == "root" else []
    root = as_root_become(become)
    if root is not None:
        ways.append(root)
    for way in ways:
        for sleep in (False, True):
            if cmd == _as_sent(interpreter, executable, way, shell, sleep):
                return interpreter, way, sleep
    return None


def warm_command(found, executable, shell):
    """The command that runs a pipelined module in the warm interpreter when it answers (else as before); found: what
    pipelined_module() said of the module's command."""
    interpreter, become, sleep = found
    env = install.connection_env(interpreter)
    assignments = " ".join("%s=%s" % (name, shlex.quote(env[name])) for name in sorted(env))
    return _as_sent("%s %s" % (assignments, interpreter), executable, become, shell, sleep)


def install_stdin():
    """What install_command() reads: the archive of the warm interpreter."""
    return install.install_archive()


def started(found, rc, output):
    """{started, reason} of an install_command() that ended with rc and printed output (bytes)."""
    return install.started(found[0], rc, output)


def install_command(found, executable, shell):
    """The command that runs install.start_argv() as the module would run (as root): its stdin is
    install.install_archive(), its exit status and output mean what install.started() says."""
    interpreter, become, sleep = found
    return _as_sent(" ".join(shlex.quote(word) for word in install.start_argv(interpreter)), executable, become, shell,
                    sleep)
