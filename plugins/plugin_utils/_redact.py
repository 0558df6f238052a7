# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Keep task environments (build_env) out of the connection lines that -vvv prints.

Ansible passes a task's `environment` as assignments in front of the command (`/bin/sh -c 'NAME=value
python3'`), and connections print that command at -vvv ("EXEC ..."). build_env values may be secrets:
the lines keep the names and lose the values.
"""

from __future__ import annotations

import re

# A shell word: unquoted characters and quoted pieces, also the '"'"' of a command quoted inside another.
_WORD = r"""(?:'[^']*'|"[^"]*"|[^\s'"])+"""
# The assignments right after `sh -c` (behind however many quote characters the nesting adds).
_PREFIX_RE = re.compile(r"""(-c\s+['"]*)((?:[A-Za-z_][A-Za-z0-9_]*=%s\s+)+)""" % _WORD)
_ASSIGNMENT_RE = re.compile(r"""([A-Za-z_][A-Za-z0-9_]*)=%s""" % _WORD)

MASK = "********"


def redact_environment(text):
    """`... sh -c 'A=1 B=two python3'` -> `... sh -c 'A=******** B=******** python3'`."""
    if "=" not in str(text):
        return text
    return _PREFIX_RE.sub(lambda m: m.group(1) + _ASSIGNMENT_RE.sub(lambda a: a.group(1) + "=" + MASK, m.group(2)),
                          str(text))


class RedactingDisplay:
    """A stand-in for a plugin module's `display` that masks environment values in what it prints."""

    _METHODS = ("v", "vv", "vvv", "vvvv", "vvvvv", "vvvvvv", "debug", "display", "verbose")

    def __init__(self, display):
        self._display = display

    def __getattr__(self, name):
        target = getattr(self._display, name)
        if name not in self._METHODS:
            return target

        def masked(msg, *args, **kwargs):
            return target(redact_environment(msg), *args, **kwargs)
        return masked


def install(module):
    """Make `module.display` (a connection plugin's module) mask environment values; idempotent."""
    if not isinstance(getattr(module, "display", None), RedactingDisplay):
        module.display = RedactingDisplay(module.display)
