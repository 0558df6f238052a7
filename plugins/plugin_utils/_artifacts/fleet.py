# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet manifest: one entry per image definition of a build_all run (built, reused or failed)."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.module_utils._common import naming

FLEET_MANIFEST_VERSION = 1


def definition_entry(host, manifest=None, failure=None, manifest_path=None, definition_file=None):
    """One definition's outcome from what its host recorded: its build manifest (if finalize got that far)
    and its failure (stage and message, if launch or finalize failed)."""
    manifest = manifest or {}
    targets = manifest.get("targets") or []
    failed = failure is not None or manifest.get("status") != "succeeded"
    if failed:
        status = "failed"
    elif targets and all(t.get("reused") for t in targets):
        status = "reused"
    else:
        status = "built"
    entry = {
        "name": manifest.get("name") or host,
        "version": manifest.get("version"),
        "status": status,
        "definition_file": definition_file,
        "manifest": manifest_path if manifest else None,
        "build_id": manifest.get("build_id"),
        "build_hash": manifest.get("build_hash"),
        "duration": manifest.get("duration"),
        "targets": [{"name": t.get("name"), "status": t.get("status"), "reused": bool(t.get("reused")), "engine": t.get("engine"),
                     "tags": (t.get("artifact") or {}).get("tags") or [],
                     "amis": (t.get("artifact") or {}).get("amis") or {}} for t in targets],
    }
    if failed:
        failure = failure or {"stage": "finalize", "message": "the build did not finish (no build manifest)"}
        entry["error"] = {"stage": failure.get("stage") or "-", "message": (failure.get("message") or "").strip()}
    return entry


def compose(entries, started=None):
    """The fleet manifest from the definitions' entries (in inventory order); started: when the first build did."""
    counts = {s: sum(1 for e in entries if e["status"] == s) for s in ("built", "reused", "failed")}
    return {
        "fleet_manifest_version": FLEET_MANIFEST_VERSION,
        "started": started,
        "finished": naming.iso_utc(),
        "status": "failed" if counts["failed"] else "succeeded",
        "counts": counts,
        "failed": [e["name"] for e in entries if e["status"] == "failed"],
        "definitions": entries,
    }


def summary(fleet, path=None):
    """One line per definition; the failed ones with their stage and first line of cause."""
    c = fleet["counts"]
    lines = ["Fleet of %d definitions: %d built, %d reused, %d failed%s" % (
        len(fleet["definitions"]), c["built"], c["reused"], c["failed"], " (fleet manifest: %s)" % path if path else "")]
    for e in fleet["definitions"]:
        if e["status"] == "failed":
            message = (e["error"]["message"].splitlines() or [""])[0]
            lines.append("  %s: failed at stage %s: %s" % (e["name"], e["error"]["stage"], message))
        else:
            lines.append("  %s %s: %s" % (e["name"], e["version"], e["status"]))
    return "\n".join(lines)
