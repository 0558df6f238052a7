# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The build manifest: what a build produced, per target, as JSON (like Packer's manifest post-processor)."""

from __future__ import annotations

import json
import os
import shlex
import tempfile

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.engine import engine_url

MANIFEST_VERSION = 1


def compose(build, results, finished_ts):
    """Manifest dict from the build plan and finalize's per-target results."""
    targets = []
    for t in list(build["targets"]) + list(build.get("reused_targets") or []):
        r = results.get(t["name"]) or {"status": "not built"}
        entry = {
            "name": t["name"],
            "type": t["type"],
            "status": r.get("status"),
            "builder": None if t.get("reuse") else t["builder_name"],
        }
        if t.get("reuse") or (r.get("artifact") or {}).get("reused_from"):  # planned, or found at commit time
            entry["reused"] = True
        if t["type"] == "docker":
            entry["base_image"] = t.get("base_image")
            entry["engine"] = engine_url(t.get("docker_host"))  # where the builder ran and the artifact is (engine pools)
        else:
            entry.update(region=t.get("region"), source_ami=r.get("source_ami") or t.get("source_ami"))
        if r.get("artifact"):
            entry["artifact"] = _artifact(r["artifact"])
        if r.get("status") == "failed":
            entry["error"] = {k: r.get(k) for k in ("stage", "task", "message")}
            if build.get("on_error") == "keep":
                entry["kept_builder"] = debug_hint(t, r.get("connection"))
        entry["durations"] = {"provision": _number(r.get("provision_duration")),
                              "total": round(finished_ts - float(build["started_ts"]), 2)}
        targets.append(entry)
    failed = [t for t in targets if t["status"] != "succeeded"]
    return {
        "manifest_version": MANIFEST_VERSION,
        "build_id": build["id"],
        "build_hash": build["hash"],
        "name": build["name"],
        "version": build["version"],
        "revision": build.get("revision"),
        "started": build["started"],
        "finished": naming.iso_utc(),
        "duration": round(finished_ts - float(build["started_ts"]), 2),
        "status": "failed" if failed else "succeeded",
        "targets": targets,
        "skipped_targets": build.get("skipped_targets") or [],
    }


def _artifact(artifact):
    out = {k: v for k, v in artifact.items() if k != "pushed" and v not in (None, [], {})}
    if artifact.get("pushed"):
        out["digests"] = {p["ref"]: p["digest"] for p in artifact["pushed"]}
    return out


def _number(value):
    try:
        return round(float(value), 2)
    except (TypeError, ValueError):
        return None


def debug_hint(target, connection=None):
    """How to get into a failed builder that was kept (connection: the ec2 builder's facts)."""
    if target["type"] == "docker":
        host = " -H %s" % target["docker_host"] if target.get("docker_host") else ""
        # a builder that was never started (every layer cached) runs its idle shell once started
        start = "docker%s start %s && " % (host, target["builder_name"]) if target.get("start_builder") is False else ""
        return "%sdocker%s exec -it %s /bin/sh" % (start, host, target["builder_name"])
    c = connection or {}
    through = (c.get("ssh_bastion") or {}).get("proxy_command")
    return "ssh -i %s -p %s%s %s@%s  (instance %s in %s)" % (
        c.get("private_key_file") or "KEY", c.get("ssh_port") or 22,
        " -o ProxyCommand=%s" % shlex.quote(through) if through else "", target.get("ssh_username"),
        c.get("ssh_host") or "HOST", c.get("instance_id") or "?", target.get("region"))


def summary(manifest, check_mode=False):
    """Human summary: one line per target; the failures say stage, task and cause."""
    head = "%s %s (build %s)" % (manifest["name"], manifest["version"], manifest["build_id"])
    if check_mode:
        return "Checked %s in check mode: the definition is valid; nothing was built." % head
    lines = [("Build of %s failed." if manifest["status"] == "failed" else "Built %s.") % head]
    for t in manifest["targets"]:
        if t["status"] == "succeeded":
            art = t.get("artifact") or {}
            what = ", ".join(art.get("tags") or []) or ", ".join("%s=%s" % kv for kv in (art.get("amis") or {}).items())
            reused = " (already built by build %s: reused)" % art.get("reused_from") if t.get("reused") else ""
            lines.append("  target %s: %s%s" % (t["name"], what, reused))
            for ref, other in sorted((art.get("tags_taken") or {}).items()):
                lines.append("    note: %s was taken over from build %s of the same version" % (ref, other))
            for ref, current in sorted((art.get("tags_moved") or {}).items()):
                lines.append("    warning: %s now points at %s, not at this build's image: a concurrent build "
                             "of the same version won that tag" % (ref, current or "nothing"))
        else:
            err = t.get("error") or {}
            task = " in task '%s'" % err["task"] if err.get("task") else ""
            lines.append("  target %s: %s at stage %s%s: %s" % (
                t["name"], t["status"], err.get("stage") or "-", task, (err.get("message") or "").strip()))
            if t.get("kept_builder"):
                lines.append("    builder kept for debugging: %s" % t["kept_builder"])
    return "\n".join(lines)


def write(manifest, path):
    """Write atomically, so a reader never sees half a manifest."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".manifest-")
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=False)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
