# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a commit leaves out: the parts that need no engine (tests/integration/test_base_image_volumes.py has the rest)."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.module_utils._docker import volumes


def test_the_engines_time_stamps_in_seconds_since_the_epoch():
    assert volumes.started_at("2026-12-07T03:11:05.123456789Z") == 1796613065.123456789
    assert volumes.started_at("2026-12-07T03:11:05Z") == 1796613065


class Engine:
    def __init__(self, attrs):
        self.attrs, self.execs = attrs, []

    def inspect_container(self, _container):
        return self.attrs

    def exec_create(self, *args, **kwargs):
        self.execs.append(args)
        raise AssertionError("nothing to look at: no exec")


def test_no_volume_no_running_builder_nothing_to_look_at():
    bind = {"Type": "bind", "Source": "/srv/wheels", "Destination": "/wheels"}
    running = {"Running": True, "StartedAt": "2026-12-07T03:11:05.1Z"}
    assert volumes.changed_in_volumes(Engine({"Mounts": [bind], "State": running}), "b") == ([], [])
    stopped = Engine({"Mounts": [bind, {"Type": "volume", "Destination": "/data"}], "State": {"Running": False}})
    assert volumes.changed_in_volumes(stopped, "b") == (["/data"], [])


def test_the_warning_names_the_volumes_and_at_most_five_paths():
    changed = ["/data/%d" % i for i in range(6)]
    text = volumes.lost_changes_warning("builder-1", ["/data", "/var/lib/db"], changed)
    assert "changed files under /data, /var/lib/db, which the base image declares as VOLUME" in text
    assert "lacks these changes: /data/0, /data/1, /data/2, /data/3, /data/4 and more. " in text
