# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What is installed on a builder: OS packages (dpkg, rpm, apk) and Python distributions.

Runs on the builder, inside the package_inventory module, with the builder's Python 3: standard
library only. The parsers are pure functions of the database texts; collect() reads the files
(under `root`, for tests) and asks rpm through a callable, so all of it is testable off-builder.
"""

from __future__ import annotations

import glob
import os

from urllib.parse import quote

DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d"  # distroless images: one stanza file per package
APK_INSTALLED = "lib/apk/db/installed"
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
RPM_QUERYFORMAT = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n"
RPM_COMMAND = ["rpm", "-qa", "--queryformat", RPM_QUERYFORMAT]
PYTHON_DIRS = (
    "usr/lib/python3/dist-packages",
    "usr/lib/python3*/site-packages",
    "usr/lib64/python3*/site-packages",
    "usr/local/lib/python3*/site-packages",
    "usr/local/lib/python3*/dist-packages",
)


def purl(ptype, name, version, namespace=None, qualifiers=None):
    """A package URL (https://github.com/package-url/purl-spec): pkg:type/namespace/name@version?k=v."""
    out = "pkg:%s/" % ptype
    if namespace:
        out += quote(namespace, safe="") + "/"
    out += quote(name, safe="")
    if version:
        out += "@" + quote(version, safe=":")
    quals = sorted((k, v) for k, v in (qualifiers or {}).items() if v)
    if quals:
        out += "?" + "&".join("%s=%s" % (k, quote(v, safe=":")) for k, v in quals)
    return out


def _stanzas(text):
    """Blank-line separated blocks of `Key: value` lines (dpkg status, RFC 822 style)."""
    block = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if block:
                yield block
            block, key = {}, None
        elif line[0] in " \t":
            if key:  # continuation line
                block[key] += "\n" + line.strip()
        elif ":" in line:
            key, _sep, value = line.partition(":")
            key = key.strip()
            block[key] = value.strip()
    if block:
        yield block


def parse_os_release(text):
    """/etc/os-release -> {id, version_id, pretty_name, version_codename} (missing keys: None)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _sep, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            for esc in ("\\\"", "\\\\", "\\$", "\\`"):
                value = value.replace(esc, esc[1])
        values[key.strip()] = value
    return {"id": values.get("ID"), "version_id": values.get("VERSION_ID"),
            "pretty_name": values.get("PRETTY_NAME"), "version_codename": values.get("VERSION_CODENAME")}


def _distro(os_info):
    os_info = os_info or {}
    if os_info.get("id") and os_info.get("version_id"):
        return "%s-%s" % (os_info["id"], os_info["version_id"])
    return None


def _package(fields):
    """A package entry without the fields that have no value (arch of a noarch apk, epoch, ...)."""
    return {k: v for k, v in fields.items() if v not in (None, "")}


def _upstream(name, source, source_version, version):
    if not source or (source == name and source_version in (None, version)):
        return None
    if source_version and source_version != version:
        return "%s@%s" % (source, source_version)
    return source


def parse_dpkg_status(text, os_info=None, require_status=True):
    """Installed packages of a dpkg status file: {name, version, arch, source, source_version, type, purl}.

    Only stanzas whose Status ends in `installed` count (not config-files, half-installed, ...);
    `require_status=False` is for status.d files, which have no Status line.
    """
    namespace = (os_info or {}).get("id") or "debian"
    packages = []
    for s in _stanzas(text):
        status = s.get("Status")
        if status is None and require_status:
            continue
        if status is not None and status.split()[-1:] != ["installed"]:
            continue
        name, version = s.get("Package"), s.get("Version")
        if not name or not version:
            continue
        source, _sep, src_version = (s.get("Source") or name).partition(" ")
        src_version = src_version.strip("() ") or version
        arch = s.get("Architecture")
        packages.append(_package({
            "name": name, "version": version, "type": "deb", "arch": arch,
            "source": source, "source_version": src_version,
            "purl": purl("deb", name, version, namespace, {
                "arch": arch, "distro": _distro(os_info),
                "upstream": _upstream(name, source, src_version, version)}),
        }))
    return packages


def _source_rpm_name(sourcerpm):
    """glibc-2.34-60.el9.src.rpm -> ('glibc', '2.34', '60.el9')."""
    if not sourcerpm or sourcerpm == "(none)":
        return None, None, None
    base = sourcerpm[:-len(".src.rpm")] if sourcerpm.endswith(".src.rpm") else sourcerpm
    parts = base.rsplit("-", 2)
    if len(parts) != 3:
        return None, None, None
    return parts[0], parts[1], parts[2]


def parse_rpm_output(text, os_info=None):
    """Output of RPM_COMMAND (tab separated NAME EPOCH VERSION RELEASE ARCH SOURCERPM per line)."""
    namespace = (os_info or {}).get("id")
    packages = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 6:
            continue
        name, epoch, version, release, arch, sourcerpm = fields
        if name == "gpg-pubkey" or arch == "(none)":  # imported signing keys, not software
            continue
        epoch = None if epoch in ("(none)", "", "0") else epoch
        full = "%s-%s" % (version, release)
        src_name, src_version, src_release = _source_rpm_name(sourcerpm)
        packages.append(_package({
            "name": name, "version": ("%s:%s" % (epoch, full)) if epoch else full, "type": "rpm", "arch": arch,
            "epoch": epoch, "source": src_name or name, "source_version": src_version or version,
            "source_release": src_release or release,
            "purl": purl("rpm", name, full, namespace, {
                "arch": arch, "epoch": epoch, "distro": _distro(os_info),
                "upstream": sourcerpm if sourcerpm and sourcerpm != "(none)" else None}),
        }))
    return packages


def parse_apk_installed(text, os_info=None):
    """/lib/apk/db/installed: blocks of one-letter fields (P name, V version, A arch, o origin)."""
    namespace = (os_info or {}).get("id") or "alpine"
    packages = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if len(line) > 2 and line[1] == ":" and line[0] not in fields:
                fields[line[0]] = line[2:]
        name, version = fields.get("P"), fields.get("V")
        if not name or not version:
            continue
        origin = fields.get("o") or name
        packages.append(_package({
            "name": name, "version": version, "type": "apk", "arch": fields.get("A"),
            "source": origin, "source_version": version,
            "purl": purl("apk", name, version, namespace, {
                "arch": fields.get("A"), "distro": _distro(os_info),
                "upstream": origin if origin != name else None}),
        }))
    return packages


def parse_python_metadata(text):
    """(Name, Version) from the headers of a METADATA / PKG-INFO file, or (None, None)."""
    name = version = None
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first blank line; the description follows
        key, _sep, value = line.partition(":")
        key = key.strip().lower()
        if key == "name" and name is None:
            name = value.strip()
        elif key == "version" and version is None:
            version = value.strip()
    return (name, version) if name and version else (None, None)


def pypi_package(name, version):
    normalized = name.lower().replace("_", "-")
    return {"name": name, "version": version, "type": "pypi", "purl": purl("pypi", normalized, version)}


def python_dirs(root="/", python_paths=()):
    """Existing site/dist-packages directories: the system ones, and those of each of python_paths
    (a virtualenv or prefix: its lib*/python3*/site-packages; else the directory itself)."""
    found = []
    for pattern in PYTHON_DIRS:
        found += sorted(glob.glob(os.path.join(root, pattern)))
    for path in python_paths or ():
        base = os.path.join(root, path.lstrip("/"))
        for prefix in sorted(glob.glob(base)):
            inner = sorted(glob.glob(os.path.join(prefix, "lib*", "python3*", "site-packages")))
            inner += sorted(glob.glob(os.path.join(prefix, "lib*", "python3*", "dist-packages")))
            found += inner or [prefix]
    seen, out = set(), []
    for d in found:
        real = os.path.realpath(d)
        if os.path.isdir(d) and real not in seen:
            seen.add(real)
            out.append(d)
    return out


def _metadata_files(directory):
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if entry.endswith(".dist-info"):
            yield os.path.join(path, "METADATA")
        elif entry.endswith(".egg-info"):
            yield os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path


def python_packages(directories):
    """Distributions found in these directories, one per (normalized name, version)."""
    packages = {}
    for directory in directories:
        for path in _metadata_files(directory):
            text = _read(path)
            name, version = parse_python_metadata(text) if text else (None, None)
            if name:
                pkg = pypi_package(name, version)
                packages.setdefault(pkg["purl"], pkg)
    return list(packages.values())


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def sort_key(pkg):
    return (pkg["type"], pkg["name"].lower(), pkg["name"], pkg["version"], pkg.get("arch") or "")


def collect(root="/", python_paths=(), rpm_query=None):
    """The inventory of the system under `root`: {packages, os, sources}.

    rpm_query: a callable returning the output of RPM_COMMAND, or None when rpm is not installed.
    """
    text = None
    for candidate in OS_RELEASE:
        text = _read(os.path.join(root, candidate))
        if text is not None:
            break
    os_info = parse_os_release(text) if text else {}
    packages, sources = [], []

    status = _read(os.path.join(root, DPKG_STATUS))
    status_d = os.path.join(root, DPKG_STATUS_D)
    deb = parse_dpkg_status(status, os_info) if status else []
    if os.path.isdir(status_d):
        for entry in sorted(os.listdir(status_d)):
            deb += parse_dpkg_status(_read(os.path.join(status_d, entry)) or "", os_info, require_status=False)
    if status is not None or os.path.isdir(status_d):
        sources.append("dpkg")
    packages += deb

    if rpm_query is not None:
        output = rpm_query()
        if output is not None:
            rpms = parse_rpm_output(output, os_info)
            if rpms:
                sources.append("rpm")
                packages += rpms

    apk = _read(os.path.join(root, APK_INSTALLED))
    if apk is not None:
        sources.append("apk")
        packages += parse_apk_installed(apk, os_info)

    dirs = python_dirs(root, python_paths)
    pypi = python_packages(dirs)
    if pypi:
        sources.append("python")
        packages += pypi
    return {"packages": sorted(packages, key=sort_key), "os": os_info, "sources": sources}
