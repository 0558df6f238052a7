# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: build_guard
type: aggregate
short_description: Remove a build's temporary resources before ansible-playbook exits on Ctrl-C or SIGTERM
version_added: 0.1.0
description:
  - When C(ansible-playbook) receives SIGINT (Ctrl-C) or SIGTERM during a build, removes every temporary
    resource of the builds it is running (found by build id, as the end of a build does) before the
    process exits, then lets the signal take its usual course (exit code 99 for Ctrl-C, 143 for SIGTERM).
  - Without it, the detached guard of M(immutable.images.build_guard) does the same right after the process
    has exited, and also covers SIGKILL; this callback only makes the cleanup happen before the exit.
  - Enable it with C(callbacks_enabled = immutable.images.build_guard) in C(ansible.cfg)
    or E(ANSIBLE_CALLBACKS_ENABLED).
requirements:
  - enable in configuration
"""

import os
import signal

from ansible.plugins.callback import CallbackBase

from ansible_collections.immutable.images.plugins.module_utils import build_guard


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "immutable.images.build_guard"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._main_pid = os.getpid()
        self._builds = {}  # build id -> guard spec, between arming and disarming
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handler(signum, signal.getsignal(signum)))

    def _handler(self, signum, previous):
        def handle(sig, frame):
            # Workers are forks of this process and inherit the handler: only the main process cleans.
            if os.getpid() == self._main_pid and self._builds:
                builds, self._builds = self._builds, {}
                for spec in builds.values():
                    self._display.warning("interrupted: removing the temporary resources of build %s" % spec["build_id"])
                    build_guard.clean(spec, log=self._display.display)
                    if spec.get("pid"):
                        build_guard.disarm(spec["pid"])
            if callable(previous):
                return previous(sig, frame)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        return handle

    def v2_runner_on_ok(self, result):
        if not result._task.action.endswith("build_guard"):
            return
        spec = result._result.get("spec")
        if spec:
            self._builds[spec["build_id"]] = dict(spec, pid=result._result.get("pid"))
        elif result._result.get("disarmed"):
            self._builds.pop(result._result["disarmed"], None)
