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
extends_documentation_fragment:
  - ansible.builtin.connection_pipelining
author:
  - immutable.images maintainers (@immutable-images)
"""

from ansible.plugins.connection import ssh as builtin_ssh
from ansible.plugins.loader import connection_loader

from ansible_collections.immutable.images.plugins.plugin_utils import _redact as redact

redact.install(builtin_ssh)
# Its options are ansible.builtin.ssh's: load that plugin once so that its option definitions are known here.
connection_loader.get("ansible.builtin.ssh", class_only=True)


class Connection(builtin_ssh.Connection):
    """ansible.builtin.ssh itself (options, transport name), with the display of environment values masked."""

    @property
    def _load_name(self):
        return "ssh"  # options are looked up as ansible.builtin.ssh's

    @_load_name.setter
    def _load_name(self, _value):
        pass  # the loader names the plugin after the file; its options stay ansible.builtin.ssh's
