# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet manifest's entries: built, reused, failed (at launch, or in the build)."""

from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import fleet


def manifest(status="succeeded", reused=False):
    target = {"name": "container", "status": status, "reused": reused, "artifact": {"tags": ["x:1"]}}
    return {"name": "x", "version": "1", "status": status, "build_id": "b", "build_hash": "h", "duration": 1.5,
            "targets": [target]}


def test_statuses_and_counts():
    entries = [
        fleet.definition_entry("a", manifest(), manifest_path="/m/a.json"),
        fleet.definition_entry("b", manifest(reused=True)),
        fleet.definition_entry("c", manifest("failed"), failure={"stage": "provision", "message": "Build failed.\n  x"}),
        fleet.definition_entry("d", failure={"stage": "validate", "message": "image_version: required"},
                               definition_file="/d.yml"),
        fleet.definition_entry("e"),  # nothing recorded: it never finished
    ]
    assert [e["status"] for e in entries] == ["built", "reused", "failed", "failed", "failed"]
    assert entries[0]["manifest"] == "/m/a.json" and entries[0]["targets"][0]["tags"] == ["x:1"]
    assert entries[3]["error"] == {"stage": "validate", "message": "image_version: required"}
    assert entries[3]["name"] == "d" and entries[3]["manifest"] is None and entries[3]["definition_file"] == "/d.yml"
    assert entries[4]["error"]["stage"] == "finalize"
    data = fleet.compose(entries, "2026-01-01T00:00:00Z")
    assert data["status"] == "failed" and data["failed"] == ["x", "d", "e"]  # "c"'s build manifest names it x
    assert data["counts"] == {"built": 1, "reused": 1, "failed": 3}
    text = fleet.summary(data, "/f.json")
    assert "3 failed" in text and "d: failed at stage validate: image_version: required" in text


def test_all_good_fleet_succeeds():
    data = fleet.compose([fleet.definition_entry("a", manifest())])
    assert data["status"] == "succeeded" and data["failed"] == []
