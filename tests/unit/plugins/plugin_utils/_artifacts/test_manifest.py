# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""manifest.py: composing the build manifest, its human summary, and writing it atomically."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import manifest

BUILD_ID = "20261123T2135Z-7f3a"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def docker_target(name="container", **extra):
    return dict({"name": name, "type": "docker", "builder_name": "immutable-webapp-%s-%s" % (name, BUILD_ID),
                 "base_image": "debian:bookworm-slim"}, **extra)


def ec2_target(name="aws", **extra):
    return dict({"name": name, "type": "ec2", "builder_name": "immutable-webapp-%s-%s" % (name, BUILD_ID),
                 "region": "us-west-2", "source_ami_filter": {"name": "debian-*"}, "ssh_username": "admin"}, **extra)


def build(*targets, **extra):
    return dict({"id": BUILD_ID, "hash": "abc123def456", "name": "webapp", "version": "1.4.2",
                 "revision": "deadbeef", "started": "2026-11-23T21:35:00Z", "started_ts": 1000.0,
                 "on_error": "cleanup", "targets": list(targets), "skipped_targets": ["other"]}, **extra)


SUCCEEDED = {
    "status": "succeeded", "provision_duration": 12.3456,
    "artifact": {"image_id": "sha256:new", "tags": ["webapp:1.4.2", "webapp:latest"], "saved": None, "amis": {},
                 "pushed": [{"ref": "reg/webapp:1.4.2", "digest": DIGEST_A},
                            {"ref": "reg/webapp:latest", "digest": DIGEST_B}]},
}
FAILED = {"status": "failed", "stage": "provision", "task": "acme.webapp : install packages",
          "message": "  apt failed \n", "provision_duration": "7"}


def test_compose_all_succeeded():
    m = manifest.compose(build(docker_target()), {"container": SUCCEEDED}, 1042.5)
    assert m["status"] == "succeeded"
    assert m["manifest_version"] == manifest.MANIFEST_VERSION
    assert (m["build_id"], m["build_hash"], m["name"], m["version"], m["revision"]) == (
        BUILD_ID, "abc123def456", "webapp", "1.4.2", "deadbeef")
    assert m["started"] == "2026-11-23T21:35:00Z"
    assert m["finished"].endswith("Z")
    assert m["duration"] == 42.5
    assert m["skipped_targets"] == ["other"]
    (t,) = m["targets"]
    assert t["name"] == "container" and t["type"] == "docker" and t["status"] == "succeeded"
    assert t["builder"] == "immutable-webapp-container-" + BUILD_ID
    assert t["base_image"] == "debian:bookworm-slim"
    assert t["durations"] == {"provision": 12.35, "total": 42.5}
    assert "error" not in t and "kept_builder" not in t


def test_artifact_digests_from_pushed_refs_and_empty_values_dropped():
    m = manifest.compose(build(docker_target()), {"container": SUCCEEDED}, 1001)
    artifact = m["targets"][0]["artifact"]
    assert artifact == {"image_id": "sha256:new", "tags": ["webapp:1.4.2", "webapp:latest"],
                        "digests": {"reg/webapp:1.4.2": DIGEST_A, "reg/webapp:latest": DIGEST_B}}
    assert "pushed" not in artifact


def test_failed_target_has_error_block_and_fails_the_build():
    m = manifest.compose(build(docker_target(), docker_target("other2")),
                         {"container": SUCCEEDED, "other2": FAILED}, 1010)
    assert m["status"] == "failed"
    ok, bad = m["targets"]
    assert ok["status"] == "succeeded"
    assert bad["status"] == "failed"
    assert bad["error"] == {"stage": "provision", "task": "acme.webapp : install packages",
                            "message": "  apt failed \n"}
    assert bad["durations"]["provision"] == 7.0
    assert "kept_builder" not in bad  # on_error is cleanup
    assert "artifact" not in bad


@pytest.mark.parametrize("status", ["not built", "skipped", "cancelled", None])
def test_any_target_not_succeeded_fails_the_build(status):
    results = {"container": SUCCEEDED, "aws": {"status": status} if status else {}}
    m = manifest.compose(build(docker_target(), ec2_target()), results, 1001)
    assert m["status"] == "failed"
    assert "error" not in m["targets"][1]


def test_target_without_result_is_not_built():
    m = manifest.compose(build(docker_target()), {}, 1001)
    assert m["targets"][0]["status"] == "not built"
    assert m["status"] == "failed"
    assert m["targets"][0]["durations"]["provision"] is None


def test_no_targets_succeeds_vacuously_with_empty_list():
    m = manifest.compose(build(), {}, 1001)
    assert m["targets"] == []


def test_kept_docker_builder_hint():
    m = manifest.compose(build(docker_target(), on_error="keep"), {"container": FAILED}, 1001)
    assert m["targets"][0]["kept_builder"] == "docker exec -it immutable-webapp-container-%s /bin/sh" % BUILD_ID


def test_kept_docker_builder_hint_with_docker_host():
    target = docker_target(docker_host="tcp://10.0.0.5:2376")
    m = manifest.compose(build(target, on_error="keep"), {"container": FAILED}, 1001)
    assert m["targets"][0]["kept_builder"] == (
        "docker -H tcp://10.0.0.5:2376 exec -it immutable-webapp-container-%s /bin/sh" % BUILD_ID)


def test_kept_docker_builder_that_was_not_started_is_started_first_by_the_hint():
    target = docker_target(start_builder=False)
    m = manifest.compose(build(target, on_error="keep"), {"container": FAILED}, 1001)
    name = "immutable-webapp-container-%s" % BUILD_ID
    assert m["targets"][0]["kept_builder"] == "docker start %s && docker exec -it %s /bin/sh" % (name, name)


def test_kept_ec2_builder_hint():
    connection = {"private_key_file": "/tmp/k", "ssh_port": 2222, "ssh_host": "203.0.113.7",
                  "instance_id": "i-0123456789abcdef0"}
    result = dict(FAILED, source_ami="ami-0123456789abcdef0", connection=connection)
    t = manifest.compose(build(ec2_target(), on_error="keep"), {"aws": result}, 1001)["targets"][0]
    assert t["kept_builder"].startswith("ssh -i /tmp/k -p 2222 admin@203.0.113.7")
    assert "i-0123456789abcdef0" in t["kept_builder"]
    assert t["region"] == "us-west-2"
    assert t["source_ami"] == "ami-0123456789abcdef0"


def test_succeeded_target_never_has_kept_builder():
    m = manifest.compose(build(docker_target(), on_error="keep"), {"container": SUCCEEDED}, 1001)
    assert "kept_builder" not in m["targets"][0]


def test_ec2_artifact_and_source_ami_fallback():
    target = ec2_target(source_ami="ami-0123456789abcdef0")
    result = {"status": "succeeded", "artifact": {"amis": {"us-west-2": "ami-1", "eu-west-1": "ami-2"}, "tags": []}}
    t = manifest.compose(build(target), {"aws": result}, 1001)["targets"][0]
    assert t["source_ami"] == "ami-0123456789abcdef0"
    assert t["artifact"] == {"amis": {"us-west-2": "ami-1", "eu-west-1": "ami-2"}}
    assert "base_image" not in t


def test_summary_success():
    m = manifest.compose(build(docker_target()), {"container": SUCCEEDED}, 1001)
    lines = manifest.summary(m).splitlines()
    assert lines[0] == "Built webapp 1.4.2 (build %s)." % BUILD_ID
    assert lines[1] == "  target container: webapp:1.4.2, webapp:latest"


def test_summary_ec2_success_lists_amis():
    result = {"status": "succeeded", "artifact": {"amis": {"us-west-2": "ami-1"}}}
    text = manifest.summary(manifest.compose(build(ec2_target()), {"aws": result}, 1001))
    assert "  target aws: us-west-2=ami-1" in text.splitlines()


def test_summary_failure_names_stage_task_and_cause_and_hint():
    m = manifest.compose(build(docker_target(), docker_target("b"), on_error="keep"),
                         {"container": SUCCEEDED, "b": FAILED}, 1001)
    lines = manifest.summary(m).splitlines()
    assert lines[0] == "Build of webapp 1.4.2 (build %s) failed." % BUILD_ID
    assert lines[2] == "  target b: failed at stage provision in task 'acme.webapp : install packages': apt failed"
    assert lines[3] == "    builder kept for debugging: docker exec -it immutable-webapp-b-%s /bin/sh" % BUILD_ID


def test_summary_not_built_target():
    text = manifest.summary(manifest.compose(build(docker_target()), {}, 1001))
    assert "  target container: not built at stage -: " in text


def test_write_is_valid_json_and_atomic(tmp_path, monkeypatch):
    m = manifest.compose(build(docker_target()), {"container": SUCCEEDED}, 1001)
    path = tmp_path / "build-manifest.json"
    path.write_text("old")
    replaced = []
    real_replace = os.replace

    def spy_replace(src, dst):
        # the full manifest is in a temporary file in the same directory before it takes the name
        assert os.path.dirname(src) == str(tmp_path)
        assert json.loads(open(src).read()) == m
        assert path.read_text() == "old"
        replaced.append((src, dst))
        real_replace(src, dst)

    monkeypatch.setattr(manifest.os, "replace", spy_replace)
    manifest.write(m, str(path))
    assert len(replaced) == 1 and replaced[0][1] == str(path)
    assert json.loads(path.read_text()) == m
    assert path.read_text().endswith("\n")
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert sorted(os.listdir(tmp_path)) == ["build-manifest.json"]  # no temporary file left


def test_write_relative_path_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manifest.write({"a": 1}, "m.json")
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["m.json"]


def test_kept_ec2_builder_hint_behind_a_bastion_goes_through_it():
    through = {"host": "jump.example.com", "proxy_command": "ssh -o BatchMode=yes -p 22 -W %h:%p jump.example.com"}
    connection = {"private_key_file": "/tmp/k", "ssh_port": 22, "ssh_host": "10.0.3.7",
                  "instance_id": "i-0123456789abcdef0", "ssh_bastion": through}
    result = dict(FAILED, source_ami="ami-0123456789abcdef0", connection=connection)
    t = manifest.compose(build(ec2_target(), on_error="keep"), {"aws": result}, 1001)["targets"][0]
    assert t["kept_builder"].startswith(
        "ssh -i /tmp/k -p 22 -o ProxyCommand='ssh -o BatchMode=yes -p 22 -W %h:%p jump.example.com' admin@10.0.3.7")
