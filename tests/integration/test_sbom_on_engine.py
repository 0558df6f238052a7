# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SBOM and the scan gate on a real builder: package_inventory runs in a container through
community.docker.docker_api, image_sbom on the controller, with a stand-in trivy on PATH or none."""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import uuid

import pytest
import yaml

from conftest import BASE_IMAGE, ansible_env

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
METADATA = {"image_name": "sbomtest", "image_version": "1.0.0", "build_id": "20261123T2135Z-5b0a11",
            "target": "container", "target_type": "docker", "artifact": "sha256:" + "0" * 64}
DEMO_METADATA = "Metadata-Version: 2.1\nName: demo_app\nVersion: 1.2.3\n\nName: not-this\n"

# Stands in for trivy: checks its arguments and the SBOM, logs the call, and reports one finding per
# entry of the fake-trivy-severities.json next to the SBOM, on that package's version in the SBOM.
FAKE_TRIVY = """\
#!{python}
import json, os, sys
args = sys.argv[1:]
if args[:4] != ["sbom", "--quiet", "--format", "json"] or len(args) != 5:
    sys.exit("unexpected arguments: %r" % args)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.log"), "a") as log:
    log.write(json.dumps(args) + "\\n")
doc = json.load(open(args[4]))
assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.5", doc.get("specVersion")
versions = {{c["name"]: c.get("version") for c in doc["components"]}}
severities = json.load(open(os.path.join(os.path.dirname(args[4]), "fake-trivy-severities.json")))
vulns = [{{"VulnerabilityID": "CVE-2099-%04d" % i, "PkgName": name, "InstalledVersion": versions[name],
          "Severity": severity}} for i, (name, severity) in enumerate(sorted(severities.items()))]
print(json.dumps({{"SchemaVersion": 2, "Results": [{{"Target": "sbom (debian 12)", "Class": "os-pkgs",
                                                    "Vulnerabilities": vulns}}]}}))
"""


@pytest.fixture(scope="module")
def builder(docker_client):
    """A builder-like container of the base image, with an application prefix holding one distribution."""
    name = "sbom_inventory_test_%s" % uuid.uuid4().hex[:12]
    container = docker_client.containers.run(BASE_IMAGE, ["-c", "sleep 1800"], entrypoint=["/bin/sh"], detach=True,
                                             name=name, labels={"immutable.images.test": "test_sbom"})
    try:
        dist = "/opt/app/venv/lib/python3.11/site-packages/demo_app-1.2.3.dist-info"
        made = container.exec_run(["sh", "-c", "mkdir -p %s && printf '%%s' \"$0\" > %s/METADATA" % (dist, dist),
                                   DEMO_METADATA])
        assert made.exit_code == 0, made.output
        listed = container.exec_run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\n"])
        assert listed.exit_code == 0, listed.output
        container.installed = {tuple(line.split("\t")[1:]) for line in listed.output.decode().splitlines()
                               if line.startswith("ii")}
        yield container
    finally:
        container.remove(force=True)


def run_playbook(workdir, container, tasks, path_env):
    """ansible-playbook with the container as the only host; the registered results are written into the
    container and read from there. PATH is exactly path_env (where image_sbom looks for scanners): no
    /usr/bin, so no task may run on the controller's shell."""
    inventory = {"all": {"hosts": {"builder": {
        "ansible_connection": "community.docker.docker_api", "ansible_host": container.name,
        "ansible_python_interpreter": "/usr/bin/python3"}}}}
    registered = [t["register"] for t in tasks if "register" in t]
    results = "/tmp/results-%s.json" % uuid.uuid4().hex
    play = [{"name": "SBOM of a builder", "hosts": "builder", "gather_facts": False, "tasks": tasks + [{
        "name": "Keep the results",
        "ansible.builtin.copy": {"content": "{{ %s | to_json }}" % ("{" + ", ".join("'%s': %s" % (r, r) for r in registered) + "}"),
                                 "dest": results, "mode": "0644"}}]}]
    (workdir / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (workdir / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "inventory.yml", "play.yml"], cwd=str(workdir), capture_output=True,
                          text=True, timeout=300, check=False,
                          env=ansible_env({"PATH": path_env, "ANSIBLE_PIPELINING": "1"}))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    read = container.exec_run(["cat", results])
    assert read.exit_code == 0, read.output
    return json.loads(read.output), output


def inventory_task():
    return {"name": "Inventory", "immutable.images.package_inventory": {"python_paths": ["/opt/app/venv"]},
            "register": "inventory"}


def sbom_task(register, path, fail_on="critical", **extra):
    task = {"name": "SBOM " + register, "immutable.images.image_sbom": {
        "packages": "{{ inventory.packages }}", "os": "{{ inventory.os }}", "path": path, "metadata": METADATA,
        "scan_fail_on": fail_on}, "register": register}
    task.update(extra)
    return task


def schema_errors(path):
    validation = pytest.importorskip("cyclonedx.validation.json")
    schema = pytest.importorskip("cyclonedx.schema")
    errors = validation.JsonStrictValidator(schema.SchemaVersion.V1_5).validate_str(path.read_text(), all_errors=True)
    return [str(e) for e in errors] if errors else []


def venv_only_path(tmp_path):
    """A PATH with the ansible commands and no trivy or grype (skips if the venv has one)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    path_env = os.pathsep.join([str(empty), os.path.dirname(sys.executable)])
    if shutil.which("trivy", path=path_env) or shutil.which("grype", path=path_env):
        pytest.skip("a scanner is installed next to ansible-playbook")
    return path_env


def test_inventory_sbom_and_gate_with_trivy_on_path(builder, tmp_path):
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "trivy").write_text(FAKE_TRIVY.format(python=sys.executable))
    (fake_bin / "trivy").chmod(0o755)
    for name, severities in (("critical", {"libc6": "CRITICAL", "base-files": "LOW"}), ("low", {"libc6": "LOW"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "fake-trivy-severities.json").write_text(json.dumps(severities))

    results, output = run_playbook(tmp_path, builder, [
        inventory_task(),
        sbom_task("gate_critical", "critical/sbom.cdx.json", ignore_errors=True),
        sbom_task("gate_low", "low/sbom.cdx.json"),
    ], os.pathsep.join([str(fake_bin), venv_only_path(tmp_path)]))

    inv = results["inventory"]
    assert inv["changed"] is False and inv["sources"] == ["dpkg", "python"]
    assert (inv["os"]["id"], inv["os"]["version_id"]) == ("debian", "12")
    deb = {p["name"]: p for p in inv["packages"] if p["type"] == "deb"}
    assert {(p["name"], p["version"]) for p in deb.values()} == builder.installed  # exactly what dpkg-query lists
    for name in ("python3", "libc6", "base-files"):
        assert deb[name]["version"] and deb[name]["purl"].startswith("pkg:deb/debian/%s@" % name)
        assert "distro=debian-12" in deb[name]["purl"]
    assert deb["libc6"]["source"] == "glibc" and deb["libc6"]["arch"]
    assert {"name": "demo_app", "version": "1.2.3", "type": "pypi", "purl": "pkg:pypi/demo-app@1.2.3"} in inv["packages"]

    sbom_file = tmp_path / "critical" / "sbom.cdx.json"
    assert schema_errors(sbom_file) == []
    doc = json.loads(sbom_file.read_text())
    assert doc["metadata"]["component"]["name"] == "sbomtest"
    assert "pkg:deb/debian/libc6@" in " ".join(c.get("purl", "") for c in doc["components"])
    assert stat.S_IMODE(sbom_file.stat().st_mode) == 0o644

    critical = results["gate_critical"]
    assert critical["failed"] is True and critical["stage"] == "scan" and critical["scanner"] == "trivy"
    assert critical["path"] == str(sbom_file) and critical["sha256"] == hashlib.sha256(sbom_file.read_bytes()).hexdigest()
    assert critical["package_count"] == len(inv["packages"])
    assert critical["findings"]["critical"] == 1 and critical["findings"]["low"] == 1
    assert critical["blocking"] == [{"id": "CVE-2099-0001", "package": "libc6", "version": deb["libc6"]["version"],
                                     "severity": "critical"}]
    assert "target container" in critical["msg"] and "1 vulnerability" in critical["msg"]
    assert "CVE-2099-0001 (critical) in libc6" in critical["msg"]

    low = results["gate_low"]
    assert low.get("failed", False) is False and low["changed"] is True
    assert low["scanner"] == "trivy" and low["blocking"] == [] and low["findings"]["low"] == 1
    assert "passed" in low["msg"]

    calls = [json.loads(line) for line in (fake_bin / "calls.log").read_text().splitlines()]
    assert calls == [["sbom", "--quiet", "--format", "json", str(tmp_path / d / "sbom.cdx.json")] for d in ("critical", "low")]


def test_no_scanner_on_path_skips_the_gate(builder, tmp_path):
    results, output = run_playbook(tmp_path, builder, [
        inventory_task(),
        sbom_task("unscanned", "out/sbom.cdx.json", fail_on="low"),
        sbom_task("checked", "check/sbom.cdx.json", check_mode=True),
    ], venv_only_path(tmp_path))

    unscanned = results["unscanned"]
    assert unscanned["scanner"] is None and unscanned["findings"] == {} and unscanned["blocking"] == []
    assert unscanned["changed"] is True and "gate was skipped" in unscanned["msg"]
    assert schema_errors(tmp_path / "out" / "sbom.cdx.json") == []
    assert "[WARNING]" not in output

    checked = results["checked"]
    assert checked["changed"] is True and checked["scanner"] is None
    assert not (tmp_path / "check").exists()
