# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""layer_cache.py's inventory records: the package inventory of a layer, kept on the controller for a later build
whose every layer is cached. Found only for the same layer and the same inventory code, readable by the user alone,
and the newest INVENTORY_RECORDS kept."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.immutable.images.plugins.plugin_utils._docker import layer_cache

INVENTORY = {"os": {"id": "debian", "version_id": "12"}, "packages": [{"name": "bash", "version": "5.2.15-2", "type": "deb"}]}


@pytest.fixture(autouse=True)
def cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


def test_a_record_is_found_for_its_layer_only_and_is_the_users_alone(cache_home):
    assert layer_cache.inventory_dir() == str(cache_home / "immutable-images" / "inventories")
    assert layer_cache.read_inventory("sha256:aa") is None
    layer_cache.write_inventory("sha256:aa", INVENTORY)
    assert layer_cache.read_inventory("sha256:aa") == INVENTORY
    assert layer_cache.read_inventory("sha256:bb") is None
    (record,) = os.listdir(layer_cache.inventory_dir())
    assert stat.S_IMODE(os.stat(os.path.join(layer_cache.inventory_dir(), record)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(layer_cache.inventory_dir()).st_mode) == 0o700


def test_a_record_of_other_inventory_code_is_not_found(monkeypatch):
    layer_cache.write_inventory("sha256:aa", INVENTORY)
    monkeypatch.setattr(layer_cache, "_inventory_code", lambda: "a changed package_inventory module")
    assert layer_cache.read_inventory("sha256:aa") is None


@pytest.mark.parametrize("content", ["not json", json.dumps([1]), json.dumps({"layer": "sha256:bb", "os": None, "packages": []}),
                                     json.dumps({"layer": "sha256:aa", "os": None, "packages": "bash"}),
                                     json.dumps({"layer": "sha256:aa", "os": "debian", "packages": []})])
def test_a_record_that_is_not_this_layers_inventory_is_not_found(content):
    layer_cache.write_inventory("sha256:aa", INVENTORY)
    (record,) = os.listdir(layer_cache.inventory_dir())
    with open(os.path.join(layer_cache.inventory_dir(), record), "w") as f:
        f.write(content)
    assert layer_cache.read_inventory("sha256:aa") is None


def test_the_newest_records_are_kept(monkeypatch):
    monkeypatch.setattr(layer_cache, "INVENTORY_RECORDS", 3)
    for i in range(5):
        layer_cache.write_inventory("sha256:%d" % i, INVENTORY)
        path = layer_cache._inventory_path("sha256:%d" % i)
        os.utime(path, (1000 + i, 1000 + i))  # in the order written, whatever the file system's clock resolution
    assert [layer_cache.read_inventory("sha256:%d" % i) is not None for i in range(5)] == [False, False, True, True, True]


def test_a_record_that_cannot_be_written_is_no_error(cache_home):
    (cache_home / "immutable-images").write_text("a file where the directory would be")
    layer_cache.write_inventory("sha256:aa", INVENTORY)
    assert layer_cache.read_inventory("sha256:aa") is None
