# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sbom.py: the CycloneDX document (checked against the official 1.5 schema), the scanner reports, the gate."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
import sys
import textwrap

import pytest

from ansible_collections.immutable.images.plugins.module_utils._artifacts import package_inventory as inv
from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import sbom

DEBIAN = {"id": "debian", "version_id": "12", "pretty_name": "Debian GNU/Linux 12 (bookworm)"}
STATUS = textwrap.dedent("""\
    Package: libc6
    Status: install ok installed
    Architecture: amd64
    Source: glibc
    Version: 2.36-9+deb12u4

    Package: base-files
    Status: install ok installed
    Architecture: amd64
    Version: 12.4+deb12u5

    Package: python3
    Status: install ok installed
    Architecture: amd64
    Source: python3-defaults (3.11.2-1)
    Version: 3.11.2-1+b1
    """)
METADATA = {"image_name": "webapp", "image_version": "1.4.2", "build_id": "20261123T2135Z-7f3a9c",
            "target": "container", "target_type": "docker", "artifact": "sha256:" + "a" * 64}
SERIAL = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"
TIMESTAMP = "2026-11-23T21:40:00Z"


def inventory():
    packages = inv.parse_dpkg_status(STATUS, DEBIAN) + [inv.pypi_package("Flask", "3.0.0"), inv.pypi_package("flask", "3.0.0")]
    return {"packages": packages, "os": DEBIAN}


def document(**kwargs):
    return sbom.cyclonedx_document(inventory(), METADATA, serial_number=SERIAL, timestamp=TIMESTAMP, **kwargs)


@pytest.fixture(scope="module")
def schema_errors():
    """Errors of the official CycloneDX 1.5 JSON schema (strict: no unknown properties) for a document."""
    validation = pytest.importorskip("cyclonedx.validation.json")
    schema = pytest.importorskip("cyclonedx.schema")
    validator = validation.JsonStrictValidator(schema.SchemaVersion.V1_5)

    def check(doc):
        errors = validator.validate_str(json.dumps(doc), all_errors=True)
        return [str(e) for e in errors] if errors else []
    return check


def test_document_is_valid_cyclonedx_1_5(schema_errors):
    assert schema_errors(document()) == []
    assert schema_errors(sbom.cyclonedx_document({"packages": [], "os": {}}, {})) == []


@pytest.mark.parametrize("breakage", ["component-type", "serial", "spec-version", "unknown-field", "missing-name"])
def test_schema_validation_catches_broken_documents(schema_errors, breakage):
    doc = copy.deepcopy(document())
    if breakage == "component-type":
        doc["components"][0]["type"] = "package"
    elif breakage == "serial":
        doc["serialNumber"] = "3e671687-395b-41f5-a30f-a58921a69b79"
    elif breakage == "spec-version":
        doc["specVersion"] = 1.5
    elif breakage == "unknown-field":
        doc["metadata"]["component"]["build_id"] = "x"
    else:
        del doc["components"][1]["name"]
    assert schema_errors(doc)


def test_document_content():
    doc = document()
    assert (doc["bomFormat"], doc["specVersion"], doc["version"], doc["serialNumber"]) == ("CycloneDX", "1.5", 1, SERIAL)
    meta = doc["metadata"]
    assert meta["timestamp"] == TIMESTAMP
    assert meta["tools"]["components"][0]["name"] == "immutable.images"
    root = meta["component"]
    assert (root["type"], root["name"], root["version"]) == ("container", "webapp", "1.4.2")
    assert {p["name"]: p["value"] for p in root["properties"]} == {
        "immutable.images:build-id": METADATA["build_id"], "immutable.images:target": "container",
        "immutable.images:target-type": "docker", "immutable.images:artifact": METADATA["artifact"]}
    names = [(c["type"], c["name"]) for c in doc["components"]]
    assert names == [("library", "base-files"), ("library", "libc6"), ("library", "python3"),
                     ("library", "Flask"), ("operating-system", "debian")]  # Flask once
    libc = doc["components"][1]
    assert libc["purl"] == libc["bom-ref"] == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
    props = {p["name"]: p["value"] for p in libc["properties"]}
    assert props["aquasecurity:trivy:SrcName"] == "glibc" and props["immutable.images:package-type"] == "deb"
    py3 = {p["name"]: p["value"] for p in doc["components"][2]["properties"]}
    assert py3["aquasecurity:trivy:SrcVersion"] == "3.11.2-1"
    os_component = doc["components"][-1]
    assert (os_component["version"], os_component["description"]) == ("12", DEBIAN["pretty_name"])


def test_dependencies_put_os_packages_under_the_os():
    deps = {d["ref"]: d["dependsOn"] for d in document()["dependencies"]}
    root_ref = document()["metadata"]["component"]["bom-ref"]
    assert deps[root_ref] == ["os:debian-12", "pkg:pypi/flask@3.0.0"]
    assert len(deps["os:debian-12"]) == 3 and all(r.startswith("pkg:deb/") for r in deps["os:debian-12"])

    no_os = sbom.cyclonedx_document({"packages": inventory()["packages"]}, {"target_type": "ec2"})
    assert no_os["metadata"]["component"]["type"] == "operating-system"
    assert [c for c in no_os["components"] if c["type"] == "operating-system"] == []
    assert len(no_os["dependencies"]) == 1 and len(no_os["dependencies"][0]["dependsOn"]) == 4


def test_document_is_deterministic_except_serial_and_timestamp():
    assert document() == document()
    a, b = (sbom.cyclonedx_document(inventory(), METADATA) for _i in range(2))
    assert a["serialNumber"] != b["serialNumber"] and a["serialNumber"].startswith("urn:uuid:")
    for doc in (a, b):
        doc.pop("serialNumber")
        doc["metadata"].pop("timestamp")
    assert a == b
    shuffled = dict(inventory(), packages=list(reversed(inventory()["packages"])))
    assert sbom.cyclonedx_document(shuffled, METADATA, SERIAL, TIMESTAMP) == document()


def test_check_packages():
    assert sbom.check_packages(inventory()["packages"]) == []
    assert sbom.check_packages([{"name": "x", "version": "1", "type": "deb"}, "junk"]) == [
        "packages[0]: missing purl", "packages[1]: missing name, version, type, purl"]


def test_write_creates_directories_and_mode(tmp_path):
    content = sbom.serialize(document())
    path = tmp_path / "out" / "sbom" / "webapp.cdx.json"
    digest = sbom.write(content, str(path))
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert json.loads(path.read_text()) == document()
    assert [p.name for p in path.parent.iterdir()] == ["webapp.cdx.json"]  # no temporary file left


# --- scanner reports and the gate ----------------------------------------------------------

TRIVY_REPORT = {
    "SchemaVersion": 2, "ArtifactName": "sbom.json", "ArtifactType": "cyclonedx",
    "Metadata": {"OS": {"Family": "debian", "Name": "12"}},
    "Results": [
        {"Target": "sbom.json (debian 12)", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": [
            {"VulnerabilityID": "CVE-2023-4911", "PkgID": "libc6@2.36-9+deb12u1", "PkgName": "libc6",
             "InstalledVersion": "2.36-9+deb12u1", "FixedVersion": "2.36-9+deb12u3", "Status": "fixed",
             "Severity": "HIGH", "Title": "glibc: buffer overflow in ld.so leading to privilege escalation"},
            {"VulnerabilityID": "CVE-2011-3374", "PkgName": "apt", "InstalledVersion": "2.6.1", "Severity": "LOW"},
            {"VulnerabilityID": "TEMP-0841856-B18BAF", "PkgName": "bash", "InstalledVersion": "5.2.15-2+b2",
             "Severity": "UNKNOWN"},
            {"VulnerabilityID": "CVE-2011-3374", "PkgName": "apt", "InstalledVersion": "2.6.1", "Severity": "LOW"},
        ]},
        {"Target": "Python", "Class": "lang-pkgs", "Type": "python-pkg", "Vulnerabilities": None},
        {"Target": "Node.js", "Class": "lang-pkgs", "Type": "node-pkg"},
    ],
}
GRYPE_REPORT = {
    "matches": [
        {"vulnerability": {"id": "CVE-2024-6119", "dataSource": "https://security-tracker.debian.org/tracker/CVE-2024-6119",
                           "namespace": "debian:distro:debian:12", "severity": "High",
                           "fix": {"versions": ["3.0.14-1~deb12u2"], "state": "fixed"}},
         "artifact": {"id": "1", "name": "libssl3", "version": "3.0.11-1~deb12u2", "type": "deb",
                      "purl": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"}},
        {"vulnerability": {"id": "CVE-2005-2541", "severity": "Negligible"},
         "artifact": {"name": "tar", "version": "1.34+dfsg-1.2+deb12u1"}},
        {"vulnerability": {"id": "GHSA-xxxx", "severity": "Critical"}, "artifact": {"name": "Flask", "version": "0.1"}},
    ],
    "source": {"type": "sbom"}, "distro": {"name": "debian", "version": "12"},
}


def test_parse_trivy():
    assert sbom.parse_trivy(TRIVY_REPORT) == [
        {"id": "CVE-2023-4911", "package": "libc6", "version": "2.36-9+deb12u1", "severity": "high"},
        {"id": "CVE-2011-3374", "package": "apt", "version": "2.6.1", "severity": "low"},
        {"id": "TEMP-0841856-B18BAF", "package": "bash", "version": "5.2.15-2+b2", "severity": "unknown"},
    ]
    assert sbom.parse_trivy({"SchemaVersion": 2, "Results": None}) == []
    with pytest.raises(sbom.ScanError):
        sbom.parse_trivy([])


def test_parse_grype():
    assert sbom.parse_grype(GRYPE_REPORT) == [
        {"id": "CVE-2024-6119", "package": "libssl3", "version": "3.0.11-1~deb12u2", "severity": "high"},
        {"id": "CVE-2005-2541", "package": "tar", "version": "1.34+dfsg-1.2+deb12u1", "severity": "negligible"},
        {"id": "GHSA-xxxx", "package": "Flask", "version": "0.1", "severity": "critical"},
    ]
    assert sbom.parse_grype({"matches": []}) == []


@pytest.mark.parametrize("value, expected", [
    ("CRITICAL", "critical"), ("High", "high"), (" medium ", "medium"), ("Negligible", "negligible"),
    ("UNKNOWN", "unknown"), ("severe", "unknown"), (None, "unknown"), ("", "unknown")])
def test_normalize_severity(value, expected):
    assert sbom.normalize_severity(value) == expected


FINDINGS = sbom.parse_trivy(TRIVY_REPORT) + sbom.parse_grype(GRYPE_REPORT)


@pytest.mark.parametrize("fail_on, blocking_ids", [
    ("none", []),
    ("critical", ["GHSA-xxxx"]),
    ("high", ["GHSA-xxxx", "CVE-2023-4911", "CVE-2024-6119"]),
    ("medium", ["GHSA-xxxx", "CVE-2023-4911", "CVE-2024-6119"]),
    ("low", ["GHSA-xxxx", "CVE-2023-4911", "CVE-2024-6119", "CVE-2011-3374"]),
    ("negligible", ["GHSA-xxxx", "CVE-2023-4911", "CVE-2024-6119", "CVE-2011-3374", "CVE-2005-2541"]),
])
def test_gate_thresholds(fail_on, blocking_ids):
    assert [f["id"] for f in sbom.gate(FINDINGS, fail_on)] == blocking_ids  # most severe first; unknown never


def test_gate_rejects_unknown_threshold():
    with pytest.raises(ValueError):
        sbom.gate(FINDINGS, "unknown")
    with pytest.raises(ValueError):
        sbom.gate(FINDINGS, "severe")


def test_severity_counts():
    assert sbom.severity_counts(FINDINGS) == {"unknown": 1, "negligible": 1, "low": 1, "medium": 0, "high": 2,
                                              "critical": 1}
    assert sbom.severity_counts([]) == dict.fromkeys(sbom.SEVERITIES, 0)


def test_blocking_message():
    blocking = sbom.gate(FINDINGS, "negligible")
    msg = sbom.blocking_message("container", "trivy", "negligible", blocking, limit=3)
    assert msg.startswith("Scan gate failed for target container: 5 vulnerabilities at or above negligible (trivy): ")
    assert "GHSA-xxxx (critical) in Flask 0.1, CVE-2023-4911 (high) in libc6 2.36-9+deb12u1" in msg
    assert msg.endswith(" and 2 more") and "CVE-2005-2541" not in msg
    assert "1 vulnerability at" in sbom.blocking_message("aws", "grype", "critical", blocking[:1])


# --- finding and running scanners (real processes: small scripts that stand in for trivy/grype) ---

def fake_scanner(directory, name, report=None, exit_code=0, output=None, sleep=0):
    """An executable named like the scanner that checks its arguments and prints a report."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent("""\
        #!{python}
        import json, sys, time
        time.sleep({sleep})
        args = sys.argv[1:]
        expected = {{"trivy": ["sbom", "--quiet", "--format", "json"], "grype": ["-o", "json"]}}[{name!r}]
        sbom_file = args[-1] if {name!r} == "trivy" else args[0][len("sbom:"):]
        if [a for a in args if a not in (args[-1] if {name!r} == "trivy" else args[0],)] != expected:
            sys.exit("unexpected arguments %r" % args)
        json.load(open(sbom_file))
        sys.stdout.write({output!r} if {output!r} is not None else json.dumps({report!r}))
        sys.exit({exit_code})
        """).format(python=sys.executable, name=name, report=report, output=output, exit_code=exit_code, sleep=sleep))
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def sbom_file(tmp_path):
    path = tmp_path / "sbom.cdx.json"
    sbom.write(sbom.serialize(document()), str(path))
    return str(path)


def test_find_scanner_prefers_trivy(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    grype = fake_scanner(first, "grype", {})
    trivy = fake_scanner(second, "trivy", {})
    path_env = os.pathsep.join([str(first), str(second)])
    assert sbom.find_scanner(path_env) == ("trivy", trivy)
    os.unlink(trivy)
    assert sbom.find_scanner(path_env) == ("grype", grype)
    os.chmod(grype, 0o644)  # not executable: not a scanner
    assert sbom.find_scanner(path_env) is None
    assert sbom.find_scanner(str(tmp_path / "empty")) is None


def test_scanner_from_path(tmp_path):
    trivy = fake_scanner(tmp_path, "trivy-0.50", {})
    assert sbom.scanner_from_path(trivy) == ("trivy", trivy)
    assert sbom.scanner_from_path("trivy-0.50", path_env=str(tmp_path)) == ("trivy", trivy)
    with pytest.raises(sbom.ScanError, match="not found"):
        sbom.scanner_from_path(str(tmp_path / "grype"))
    other = fake_scanner(tmp_path, "grype", {})
    os.rename(other, str(tmp_path / "scanner"))
    with pytest.raises(sbom.ScanError, match="must start with trivy or grype"):
        sbom.scanner_from_path(str(tmp_path / "scanner"))


def test_run_trivy_and_grype(tmp_path, sbom_file):
    trivy = fake_scanner(tmp_path, "trivy", TRIVY_REPORT)
    assert sbom.run_scanner("trivy", trivy, sbom_file) == sbom.parse_trivy(TRIVY_REPORT)
    grype = fake_scanner(tmp_path, "grype", GRYPE_REPORT)
    assert sbom.run_scanner("grype", grype, sbom_file) == sbom.parse_grype(GRYPE_REPORT)


@pytest.mark.parametrize("kwargs, message", [
    ({"exit_code": 1, "output": "FATAL: init error: DB error: failed to download vulnerability DB"}, "exited with 1"),
    ({"output": "this is a table, not JSON"}, "printed no JSON report"),
    ({"sleep": 5}, "did not finish within"),
])
def test_run_scanner_failures(tmp_path, sbom_file, kwargs, message):
    trivy = fake_scanner(tmp_path, "trivy", TRIVY_REPORT, **kwargs)
    with pytest.raises(sbom.ScanError, match=message):
        sbom.run_scanner("trivy", trivy, sbom_file, timeout=1)


def test_run_scanner_that_cannot_start(tmp_path, sbom_file):
    with pytest.raises(sbom.ScanError, match="could not be started"):
        sbom.run_scanner("grype", str(tmp_path / "gone"), sbom_file)
