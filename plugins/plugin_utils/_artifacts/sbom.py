# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SBOM of an artifact (CycloneDX 1.5 JSON) and the vulnerability scan gate (trivy or grype).

Runs on the controller (the image_sbom action plugin). The inventory is what the package_inventory
module returns on the builder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._artifacts import package_inventory

SPEC_VERSION = "1.5"
PROPERTY_PREFIX = "immutable.images:"
# Trivy reads the source package of an OS package from these (registered CycloneDX property taxonomy).
TRIVY_SOURCE_PROPERTIES = (("source", "aquasecurity:trivy:SrcName"), ("source_version", "aquasecurity:trivy:SrcVersion"),
                           ("source_release", "aquasecurity:trivy:SrcRelease"), ("epoch", "aquasecurity:trivy:SrcEpoch"))
OS_PACKAGE_TYPES = ("deb", "rpm", "apk")
COMPONENT_TYPES = {"docker": "container", "ec2": "operating-system"}

SEVERITIES = ("unknown", "negligible", "low", "medium", "high", "critical")  # lowest first
FAIL_ON_CHOICES = ("none",) + SEVERITIES[1:]
SCANNERS = ("trivy", "grype")
SCAN_TIMEOUT = 900


class ScanError(Exception):
    """The scanner could not run or said something that is not a report."""


# --- CycloneDX ------------------------------------------------------------------------------


def collection_version():
    """This collection's version (installed: MANIFEST.json; a checkout: galaxy.yml), or None."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    try:
        with open(os.path.join(root, "MANIFEST.json")) as f:
            return json.load(f)["collection_info"]["version"]
    except (OSError, ValueError, KeyError):
        pass
    try:
        with open(os.path.join(root, "galaxy.yml")) as f:
            match = re.search(r"^version:\s*['\"]?([^'\"\s]+)", f.read(), re.M)
        return match.group(1) if match else None
    except OSError:
        return None


def _properties(pairs):
    return [{"name": k, "value": str(v)} for k, v in sorted(pairs) if v not in (None, "")]


def _package_component(pkg):
    component = {"type": "library", "bom-ref": pkg["purl"], "name": pkg["name"], "version": pkg["version"],
                 "purl": pkg["purl"]}
    props = [(PROPERTY_PREFIX + "package-type", pkg["type"])]
    if pkg["type"] in OS_PACKAGE_TYPES:
        props += [(prop, pkg.get(key)) for key, prop in TRIVY_SOURCE_PROPERTIES]
    component["properties"] = _properties(props)
    return component


def _os_component(os_info):
    if not (os_info or {}).get("id"):
        return None
    component = {"type": "operating-system", "bom-ref": "os:%s-%s" % (os_info["id"], os_info.get("version_id") or ""),
                 "name": os_info["id"]}
    if os_info.get("version_id"):
        component["version"] = os_info["version_id"]
    if os_info.get("pretty_name"):
        component["description"] = os_info["pretty_name"]
    return component


def _root_component(metadata):
    target = metadata.get("target") or "artifact"
    component = {"type": COMPONENT_TYPES.get(metadata.get("target_type"), "container"),
                 "bom-ref": "artifact:%s:%s" % (metadata.get("image_name") or "image", target),
                 "name": metadata.get("image_name") or "image"}
    if metadata.get("image_version"):
        component["version"] = str(metadata["image_version"])
    component["properties"] = _properties([
        (PROPERTY_PREFIX + "build-id", metadata.get("build_id")),
        (PROPERTY_PREFIX + "target", metadata.get("target")),
        (PROPERTY_PREFIX + "target-type", metadata.get("target_type")),
        (PROPERTY_PREFIX + "artifact", metadata.get("artifact")),
    ])
    return component


def cyclonedx_document(inventory, metadata, serial_number=None, timestamp=None):
    """CycloneDX 1.5 JSON (a dict) of an artifact: the inventory's packages as components, its OS as an
    operating-system component that the OS packages depend on, the artifact as metadata.component.

    Deterministic for the same input, except serialNumber and metadata.timestamp (pass them to pin them).
    inventory: {packages, os} as package_inventory returns them. metadata: image_name, image_version,
    build_id, target, target_type (docker|ec2), artifact.
    """
    metadata = metadata or {}
    root = _root_component(metadata)
    os_component = _os_component(inventory.get("os"))
    components, os_refs, other_refs, seen = [], [], [], set()
    for pkg in sorted(inventory.get("packages") or [], key=lambda p: package_inventory.sort_key(p) + (p["purl"],)):
        if pkg["purl"] in seen:
            continue  # the same package seen twice (a distribution in two directories)
        seen.add(pkg["purl"])
        components.append(_package_component(pkg))
        (os_refs if pkg["type"] in OS_PACKAGE_TYPES and os_component else other_refs).append(pkg["purl"])
    dependencies = []
    if os_component:
        components.append(os_component)
        dependencies.append({"ref": os_component["bom-ref"], "dependsOn": os_refs})
    top = ([os_component["bom-ref"]] if os_component else []) + other_refs
    dependencies.insert(0, {"ref": root["bom-ref"], "dependsOn": top})
    tool = {"type": "application", "group": "immutable", "name": "immutable.images"}
    version = collection_version()
    if version:
        tool["version"] = version
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial_number or "urn:uuid:%s" % uuid.uuid4(),
        "version": 1,
        "metadata": {
            "timestamp": timestamp or naming.iso_utc(),
            "tools": {"components": [tool]},
            "component": root,
        },
        "components": components,
        "dependencies": dependencies,
    }


def check_packages(packages):
    """Errors for package entries that lack what a component needs (as package_inventory returns them)."""
    errors = []
    for i, pkg in enumerate(packages or []):
        missing = [k for k in ("name", "version", "type", "purl") if not isinstance(pkg, dict) or not pkg.get(k)]
        if missing:
            errors.append("packages[%d]: missing %s" % (i, ", ".join(missing)))
    return errors[:5] + (["and %d more" % (len(errors) - 5)] if len(errors) > 5 else [])


def sha256(content):
    return hashlib.sha256(content).hexdigest()


def serialize(document):
    """The file content: indented JSON with a final newline, as bytes."""
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def write(content, path):
    """Write bytes atomically (parent directories created, mode 0644); returns their sha256."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".sbom-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return sha256(content)


# --- scan gate ------------------------------------------------------------------------------


def find_scanner(path_env=None):
    """('trivy' | 'grype', absolute path) of the first scanner on PATH (trivy first), or None."""
    for name in SCANNERS:
        found = shutil.which(name, path=path_env)
        if found:
            return name, os.path.abspath(found)
    return None


def scanner_from_path(path, path_env=None):
    """An explicitly configured scanner: a path or a command name, whose name says trivy or grype."""
    found = shutil.which(path, path=path_env) if os.sep not in path else (path if os.access(path, os.X_OK) else None)
    if not found:
        raise ScanError("scanner %s: not found or not executable" % path)
    base = os.path.basename(path).lower()
    for name in SCANNERS:
        if base.startswith(name):
            return name, os.path.abspath(found)
    raise ScanError("scanner %s: the name must start with trivy or grype, to say which report format to expect" % path)


def scanner_command(name, path, sbom_file):
    if name == "trivy":
        return [path, "sbom", "--quiet", "--format", "json", sbom_file]
    if name == "grype":
        return [path, "sbom:" + sbom_file, "-o", "json"]
    raise ValueError("unknown scanner %r" % name)


def run_scanner(name, path, sbom_file, timeout=SCAN_TIMEOUT):
    """Scan the SBOM file; the findings, normalized (see parse_trivy / parse_grype)."""
    try:
        proc = subprocess.run(scanner_command(name, path, sbom_file), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ScanError("%s did not finish within %d s" % (name, timeout)) from None
    except OSError as e:
        raise ScanError("%s could not be started: %s" % (name, e)) from None
    if proc.returncode != 0:
        raise ScanError("%s exited with %d: %s" % (name, proc.returncode, _tail(proc.stderr or proc.stdout)))
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise ScanError("%s printed no JSON report: %s" % (name, _tail(proc.stdout or proc.stderr))) from None
    return parse_trivy(report) if name == "trivy" else parse_grype(report)


def _tail(text, limit=500):
    text = (text or "").strip()
    return text[-limit:] if text else "(no output)"


def normalize_severity(value):
    value = str(value or "").strip().lower()
    return value if value in SEVERITIES else "unknown"


def _finding(vuln_id, package, version, severity):
    return {"id": vuln_id or "?", "package": package or "?", "version": version or "",
            "severity": normalize_severity(severity)}


def _unique(findings):
    seen, out = set(), []
    for f in findings:
        key = (f["id"], f["package"], f["version"])
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def parse_trivy(report):
    """trivy --format json: Results[].Vulnerabilities[] {VulnerabilityID, PkgName, InstalledVersion, Severity}."""
    if not isinstance(report, dict):
        raise ScanError("trivy report is not a JSON object")
    findings = []
    for result in report.get("Results") or []:
        for v in result.get("Vulnerabilities") or []:
            findings.append(_finding(v.get("VulnerabilityID"), v.get("PkgName"), v.get("InstalledVersion"),
                                     v.get("Severity")))
    return _unique(findings)


def parse_grype(report):
    """grype -o json: matches[] {vulnerability.id, vulnerability.severity, artifact.name, artifact.version}."""
    if not isinstance(report, dict):
        raise ScanError("grype report is not a JSON object")
    findings = []
    for m in report.get("matches") or []:
        vuln, artifact = m.get("vulnerability") or {}, m.get("artifact") or {}
        findings.append(_finding(vuln.get("id"), artifact.get("name"), artifact.get("version"), vuln.get("severity")))
    return _unique(findings)


def severity_rank(severity):
    return SEVERITIES.index(normalize_severity(severity))


def gate(findings, fail_on):
    """The findings at or above fail_on, most severe first; fail_on `none` never blocks."""
    if fail_on == "none":
        return []
    if fail_on not in FAIL_ON_CHOICES:
        raise ValueError("fail_on must be one of %s" % ", ".join(FAIL_ON_CHOICES))
    threshold = SEVERITIES.index(fail_on)
    blocking = [f for f in findings if severity_rank(f["severity"]) >= threshold]
    return sorted(blocking, key=lambda f: (-severity_rank(f["severity"]), f["id"], f["package"]))


def severity_counts(findings):
    counts = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts[normalize_severity(f["severity"])] += 1
    return counts


def blocking_message(target, scanner, fail_on, blocking, limit=5):
    """Scan gate failed for target: N at or above X (scanner): ID in package version, ..."""
    shown = ", ".join("%s (%s) in %s %s" % (f["id"], f["severity"], f["package"], f["version"]) for f in blocking[:limit])
    more = " and %d more" % (len(blocking) - limit) if len(blocking) > limit else ""
    return "Scan gate failed for target %s: %d %s at or above %s (%s): %s%s" % (
        target, len(blocking), "vulnerability" if len(blocking) == 1 else "vulnerabilities", fail_on, scanner,
        shown, more)
