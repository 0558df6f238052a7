# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cleanup_module.py with engines: one step removes a build's resources on each engine of the list (fake engines;
on real ones: every build's finalize, tests/integration/test_engine_pool.py)."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.module_utils._docker import cleanup_module
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import run_in_worker


def clean(monkeypatch, args, answering=("unix:///one.sock", "tcp://two:2376")):
    """The module's result, and the engines asked, each with what it found (one container named after it)."""
    asked = []

    def get_client(docker_host, timeout, tls):
        asked.append((docker_host, tls))
        if docker_host not in answering:
            raise DockerFailure("client", "cannot reach the Docker engine at %s" % docker_host)
        return docker_host

    class Janitor:
        def __init__(self, client):
            self.client = client

        def find(self, **_kw):
            return [{"kind": "container", "id": "id-" + self.client, "name": "b", "build_id": "b1", "created": ""}]

        def keep(self, _names):
            return []

        def remove(self, found):
            return [r["id"] for r in found]

    monkeypatch.setattr(cleanup_module, "get_client", get_client)
    monkeypatch.setattr(cleanup_module, "DockerJanitor", Janitor)
    return run_in_worker(cleanup_module, "docker_cleanup", args, False, None), asked


def test_every_engine_of_the_list_in_one_step(monkeypatch):
    tls = {"ca_cert": "/ca.pem", "client_cert": "/c.pem", "client_key": "/k.pem", "verify": True, "hostname": None}
    result, asked = clean(monkeypatch, {"build_id": "b1", "engines": [
        {"docker_host": "unix:///one.sock", "tls": None}, {"docker_host": "tcp://two:2376", "tls": tls}]})
    assert asked == [("unix:///one.sock", None), ("tcp://two:2376", tls)]
    assert result["changed"] and result["removed"] == ["id-unix:///one.sock", "id-tcp://two:2376"]
    assert "engine_answered" not in result and not result.get("failed")


def test_an_empty_list_removes_nothing_and_asks_no_engine(monkeypatch):
    result, asked = clean(monkeypatch, {"build_id": "b1", "engines": []})
    assert asked == [] and result["changed"] is False and result["removed"] == []


def test_an_engine_that_went_away_is_skipped_the_others_are_cleaned(monkeypatch):
    result, _asked = clean(monkeypatch, {"build_id": "b1", "skip_unreachable": True, "engines": [
        {"docker_host": "tcp://gone:2376"}, {"docker_host": "unix:///one.sock"}]})
    assert result["removed"] == ["id-unix:///one.sock"] and result["engine_answered"] is False
    assert any("tcp://gone:2376: nothing removed there" in w for w in result["warnings"])
    failed, _asked = clean(monkeypatch, {"build_id": "b1", "engines": [{"docker_host": "tcp://gone:2376"}]})
    assert failed["failed"] and failed["stage"] == "client"


def test_a_bad_engine_entry_is_refused_before_any_engine_is_asked(monkeypatch):
    engines = [{"docker_host": "unix:///one.sock"}, {"docker_host": "tcp://two:2376", "tsl": {}}]
    result, asked = clean(monkeypatch, {"build_id": "b1", "engines": engines})
    assert result["failed"] and result["msg"].startswith("engines[1]: ") and "tsl" in result["msg"]
    assert asked == []
