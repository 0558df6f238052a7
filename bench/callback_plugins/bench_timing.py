# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-task timing for the benchmark (ansible-core ships no profile_tasks; ansible.posix is not installed).

Enabled with:
    ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=bench_timing
    BENCH_TIMING_FILE=/path/out.json
Writes one JSON document at the end of the playbook: the process start time (from /proc), every
play start and every task start with its play, role, action, and the time each host's result
arrived. Times are epoch seconds (time.time()), so they line up with the harness's clock.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_timing
type: aggregate
short_description: write task timings to a JSON file (benchmark helper)
description: Records play and task start times and per-host result times into E(BENCH_TIMING_FILE).
requirements: [enable in callbacks_enabled]
"""


def _process_start():
    """Epoch time this process started: now minus its age (both from /proc, 10 ms resolution)."""
    try:
        now = time.time()
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22 of stat
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return now - (uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._doc = {"process_start": _process_start(), "callback_init": time.time(),
                     "plays": [], "tasks": [], "end": None}
        self._by_uuid = {}

    def v2_playbook_on_play_start(self, play):
        self._doc["plays"].append({"name": play.get_name(), "start": time.time()})

    def _task_start(self, task, handler=False):
        role = task._role.get_name() if getattr(task, "_role", None) else None
        entry = {"name": task.get_name(), "action": task.action, "role": role, "handler": handler,
                 "play": len(self._doc["plays"]) - 1, "start": time.time(), "results": []}
        self._doc["tasks"].append(entry)
        self._by_uuid[task._uuid] = entry

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task, handler=True)

    def _result(self, result, status):
        entry = self._by_uuid.get(result._task._uuid)
        if entry is not None:
            entry["results"].append({"host": result._host.get_name(), "status": status, "end": time.time()})

    def v2_runner_on_ok(self, result):
        self._result(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._doc["end"] = time.time()
        path = os.environ.get("BENCH_TIMING_FILE")
        if path:
            with open(path, "w") as f:
                json.dump(self._doc, f, indent=1)
