# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The example image through the checks a build runs before it publishes: a run test with an HTTP probe
(passing and failing), its SBOM (lists python3, valid CycloneDX 1.5) and the scan gate (a stand-in
scanner with a critical finding fails the build; without a scanner the build says so once)."""

import json
import os
import shutil
import stat

import pytest

from conftest import ROOT, engine_state, new_resources, run_build

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAME = "webappchecks"
HEALTH = {"run": {"port": 8080, "http": {"path": "/health", "status": 200, "body_contains": "ok"}, "timeout": 30}}
FAKE_TRIVY = """#!/bin/sh
# stands in for trivy: one critical finding in python3, whatever the SBOM says
cat <<'JSON'
{"Results": [{"Target": "sbom", "Vulnerabilities": [
  {"VulnerabilityID": "CVE-2099-0001", "PkgName": "python3", "InstalledVersion": "3.11.2-1+b1", "Severity": "CRITICAL"}]}]}
JSON
"""


@pytest.fixture
def example(tmp_path, remove_images):
    remove_images(NAME)
    dest = tmp_path / "webapp"
    shutil.copytree(os.path.join(ROOT, "examples", "webapp"), dest, ignore=shutil.ignore_patterns("build-manifest.json"))
    return dest


def build(example, version, verify, env=None):
    definition = (example / "webapp.yml").read_text()
    extra = json.dumps({"image_name": NAME, "image_version": version, "image_verify": verify})
    return run_build(example, definition, "-e", extra, env=env)


def manifest(example):
    return json.loads((example / "build-manifest.json").read_text())


def test_passing_run_test_sbom_and_no_scanner(docker_client, example):
    result = build(example, "2.0.1", [HEALTH])
    assert result.returncode == 0, result.output
    assert result.output.count("no vulnerability scanner (trivy, grype) on PATH") == 1
    target = manifest(example)["targets"][0]
    image = docker_client.images.get("%s:2.0.1" % NAME)
    sbom = target["artifact"]["sbom"]
    assert sbom["scanner"] is None and sbom["packages"] > 50
    assert image.labels["immutable.images.sbom.sha256"] == sbom["sha256"]
    with open(sbom["path"]) as f:
        document = f.read()
    names = {c["name"] for c in json.loads(document)["components"]}
    assert {"python3", "libc6", "base-files"} <= names
    validation = pytest.importorskip("cyclonedx.validation.json")
    schema = pytest.importorskip("cyclonedx.schema")
    assert validation.JsonStrictValidator(schema.SchemaVersion.V1_5).validate_str(document) is None


def test_failing_http_probe_tags_nothing(docker_client, example):
    probe = json.loads(json.dumps(HEALTH))
    probe["run"]["http"]["body_contains"] = "this is not the body"
    probe["run"]["timeout"] = 12  # it retries until then: long enough for the app to answer, with the wrong body
    before = engine_state(docker_client)
    result = build(example, "2.0.2", [probe])
    assert result.returncode != 0
    error = manifest(example)["targets"][0]["error"]
    assert error["stage"] == "verify" and "this is not the body" in error["message"], error
    assert not [t for i in docker_client.images.list(name=NAME) for t in i.tags if t.endswith(":2.0.2")]
    assert new_resources(docker_client, before, NAME) == {"containers": [], "images": []}


def test_scan_gate_with_a_critical_finding_fails_the_build(docker_client, example, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    trivy = bindir / "trivy"
    trivy.write_text(FAKE_TRIVY)
    trivy.chmod(trivy.stat().st_mode | stat.S_IEXEC)
    before = engine_state(docker_client)
    result = build(example, "2.0.3", [], env={"PATH": "%s:%s" % (bindir, os.environ["PATH"])})
    assert result.returncode != 0
    assert "scan gate: %s" % trivy in result.output
    error = manifest(example)["targets"][0]["error"]
    assert error["stage"] == "scan" and "CVE-2099-0001" in error["message"], error
    assert not [t for i in docker_client.images.list(name=NAME) for t in i.tags if t.endswith(":2.0.3")]
    assert new_resources(docker_client, before, NAME) == {"containers": [], "images": []}
