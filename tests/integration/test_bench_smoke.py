"""Smoke run of the benchmark (bench/bench.py): one cold build and one identical rerun of workload W1.

No timing is asserted (the machine is shared); what must hold is that the harness still runs our
build end to end, that the rerun really reuses the first build's artifact, that both result images
have the same end state (the harness hashes it), and that the harness leaves nothing behind.
Cost: a cold build, the rerun's priming build (uncounted), the rerun and two checksum containers: 32 s at a load
average of 3 (197 s at 15-20, when other suites ran on the same 2 cores).
"""

import json
import os
import secrets
import subprocess
import sys

import pytest

from conftest import ROOT, ansible_env, image_tags

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_bench_smoke(tmp_path, docker_client):
    token = "sm" + secrets.token_hex(2)   # every image/container of the run carries it
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "bench.py"), "--results", str(tmp_path), "--runs", "1",
         "--retries", "0", "--variants", "ours-cold,ours-warm", "--token", token],
        capture_output=True, text=True, env=ansible_env(), timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    doc = json.loads((tmp_path / "latest.json").read_text())
    variants = doc["variants"]
    assert {n: (v["n"], v["failures"]) for n, v in variants.items()} == {"ours-cold": (1, 0), "ours-warm": (1, 0)}, out

    # Both results have the same end state, the one W1 always has (485 lines: users, paths, contents).
    states = doc["end_state"]["per_variant"]
    assert doc["end_state"]["all_equal"] and states["ours-cold"] == states["ours-warm"], states
    assert states["ours-cold"][0].endswith(" 485"), states

    # The counted rerun reused the artifact of its priming build: no role ran (no provision play).
    warm = [r for r in doc["raw_records"] if r["variant"] == "ours-warm" and r["counted"]][0]
    assert [t.get("reused") for t in warm["manifest"]["targets"]] == [True], warm["manifest"]
    cold = [r for r in doc["raw_records"] if r["variant"] == "ours-cold" and r["counted"]][0]
    assert not cold["manifest"]["targets"][0].get("reused"), cold["manifest"]

    # The report was written, and the harness removed what it made.
    assert "all variants of each workload identical" in (tmp_path / "latest.md").read_text()
    assert docker_client.containers.list(all=True, filters={"label": "bench.run=%s" % token}) == []
    assert docker_client.images.list(filters={"label": "bench.run=%s" % token}) == []
    assert [t for t in image_tags(docker_client) if token in t] == []
    assert not [p for p in os.listdir(tmp_path) if p.startswith("tmp-%s" % token)]
