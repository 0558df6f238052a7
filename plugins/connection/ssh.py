# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: ssh
short_description: ansible.builtin.ssh that does not print the task environment
version_added: 0.2.0
description:
  - The connection of the collection's ec2 builders. It is P(ansible.builtin.ssh#connection), with one change - the
    commands it prints at C(-vvv) show the names of the task's environment variables (O(ignore:build_env)) but
    not their values, which may be secrets.
  - Every option is the one of P(ansible.builtin.ssh#connection).
  - With C(ansible_immutable_images_warm) true (the launch role sets it from O(ignore:image_warm_interpreter)), a
    pipelined module that runs as root (the login user root without become, or become root without a password)
    runs in a warm Python interpreter on the builder - forked per module, with C(ansible.module_utils) imported once
    - instead of a new interpreter each. It is installed in C(/dev/shm) on the first such module (not on any volume
    an AMI is made of); where it cannot start (no Python 3.9 or newer, no C(/dev/shm)), the build warns once per
    builder and modules run the usual way. Every other command is sent as it came.
extends_documentation_fragment:
  - ansible.builtin.connection_pipelining
author:
  - immutable.images maintainers (@immutable-images)
"""

import fcntl
import hashlib
import os

from ansible.constants import DEFAULT_LOCAL_TMP
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.connection import ssh as builtin_ssh
from ansible.plugins.loader import connection_loader
from ansible.utils.display import Display

from ansible_collections.immutable.images.plugins.plugin_utils import _redact as redact
from ansible_collections.immutable.images.plugins.plugin_utils._ec2 import warm as ssh_warm

redact.install(builtin_ssh)
# Its options are ansible.builtin.ssh's: load that plugin once so that its option definitions are known here.
connection_loader.get("ansible.builtin.ssh", class_only=True)

display = Display()
WARM_VAR = "ansible_immutable_images_warm"


class Connection(builtin_ssh.Connection):
    """ansible.builtin.ssh itself (options, transport name), with the display of environment values masked, and
    pipelined modules that run as root in the builder's warm interpreter."""

    # Its options are ansible.builtin.ssh's; the launch's switch for the warm interpreter comes as an extra variable.
    allow_extras = True
    _extras_prefix = "immutable_images"

    @property
    def _load_name(self):
        return "ssh"  # options are looked up as ansible.builtin.ssh's

    @_load_name.setter
    def _load_name(self, _value):
        pass  # the loader names the plugin after the file; its options stay ansible.builtin.ssh's

    def exec_command(self, cmd, in_data=None, sudoable=True):
        if in_data is not None and boolean((self._options.get("_extras") or {}).get(WARM_VAR, False), strict=False):
            cmd = self._in_warm_interpreter(cmd, sudoable) or cmd
        return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)

    def _in_warm_interpreter(self, cmd, sudoable):
        """cmd changed to run its module in the warm interpreter, when it is a pipelined module's that runs as root and
        the interpreter runs (started now if not yet); else None."""
        executable = self._play_context.executable
        found = ssh_warm.pipelined_module(cmd, executable, self.become if sudoable else None, self._shell,
                                          self.get_option("remote_user"))
        if found is None or not self._warm_started(found, executable):
            return None
        return ssh_warm.warm_command(found, executable, self._shell)

    def _marker(self):
        key = "%s\0%s" % (self.get_option("host") or self._play_context.remote_addr, self.get_option("port"))
        return os.path.join(DEFAULT_LOCAL_TMP, "ii-ssh-%s" % hashlib.sha256(key.encode("utf-8")).hexdigest()[:16])

    def _warm_started(self, found, executable):
        """Whether the builder's warm interpreter runs, for the interpreter of `found` (what ssh_warm.pipelined_module
        said of the command). Installed by the first module that may use it, once per builder and ansible-playbook run:
        its outcome is kept in that run's private temporary directory, for the tasks after (each a new process)."""
        interpreter, marker = found[0], self._marker()
        with open(marker + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two tasks on one builder (async, free strategy) install once
            for outcome in (".warm", ".fallback"):
                if os.path.exists(marker + outcome):
                    with open(marker + outcome) as f:
                        return outcome == ".warm" and f.read() == interpreter  # the server's Python only
            rc, out, err = super().exec_command(ssh_warm.install_command(found, executable, self._shell),
                                                in_data=ssh_warm.install_stdin(), sudoable=found[1] is not None)
            result = ssh_warm.started(found, rc, out + err)
            with open(marker + (".warm" if result["started"] else ".fallback"), "w") as f:
                f.write(interpreter)
        if not result["started"]:
            display.warning("%s: no warm interpreter on the builder (%s); each module starts an interpreter of its own, "
                            "which is slower" % (self.get_option("host") or self._play_context.remote_addr,
                                                 result["reason"]))
        return result["started"]

    def reset(self):
        # reset_connection, also ansible.builtin.reboot's: after a reboot /dev/shm is empty, and the next module that
        # may use the warm interpreter installs it again (if it still runs, the install finds it and keeps it).
        try:
            os.unlink(self._marker() + ".warm")
        except OSError:
            pass
        return super().reset()
