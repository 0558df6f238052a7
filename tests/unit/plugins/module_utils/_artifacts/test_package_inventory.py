# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""package_inventory.py: the package database parsers and collect() on a fake root file system."""

from __future__ import annotations

import textwrap

import pytest

from ansible_collections.immutable.images.plugins.module_utils._artifacts import package_inventory as inv

DEBIAN = {"id": "debian", "version_id": "12", "pretty_name": "Debian GNU/Linux 12 (bookworm)",
          "version_codename": "bookworm"}

DPKG_STATUS = textwrap.dedent("""\
    Package: base-files
    Essential: yes
    Status: install ok installed
    Priority: required
    Section: admin
    Installed-Size: 340
    Maintainer: Santiago Vila <sanvila@debian.org>
    Architecture: amd64
    Multi-Arch: foreign
    Version: 12.4+deb12u5
    Replaces: base, dpkg (<= 1.15.0), miscutils
    Provides: base
    Conffiles:
     /etc/debian_version 1b0f9cdd4c7e9ba3ae1ae1d8b1ff2d4e
     /etc/host.conf 4eb63731c9f5e30903ac4fc07a7fe3d6
    Description: Debian base system miscellaneous files
     This package contains the basic filesystem hierarchy of a Debian system, and
     several important miscellaneous files, such as /etc/debian_version,
     .
     Package: not-a-package
     Version: 0

    Package: libc6
    Status: install ok installed
    Priority: optional
    Section: libs
    Installed-Size: 13001
    Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
    Architecture: amd64
    Multi-Arch: same
    Source: glibc
    Version: 2.36-9+deb12u4
    Depends: libgcc-s1
    Description: GNU C Library: Shared libraries
     Contains the standard libraries that are used by nearly all programs on
     the system.

    Package: python3
    Status: install ok installed
    Architecture: amd64
    Source: python3-defaults (3.11.2-1)
    Version: 3.11.2-1+b1
    Description: interactive high-level object-oriented language (default python3 version)

    Package: login
    Status: install ok installed
    Architecture: amd64
    Source: shadow
    Version: 1:4.13+dfsg1-1+b1
    Description: system login tools

    Package: vim-tiny
    Status: deinstall ok config-files
    Architecture: amd64
    Source: vim
    Version: 2:9.0.1378-2
    Config-Version: 2:9.0.1378-2
    Description: Vi IMproved - enhanced vi editor - compact version

    Package: half
    Status: install reinstreq half-installed
    Architecture: amd64
    Version: 1.0-1
    """)

RPM_OUTPUT = (
    "glibc\t(none)\t2.34\t60.el9\tx86_64\tglibc-2.34-60.el9.src.rpm\n"
    "openssl-libs\t1\t3.0.7\t24.el9\tx86_64\topenssl-3.0.7-24.el9.src.rpm\n"
    "tzdata\t(none)\t2023c\t1.el9\tnoarch\ttzdata-2023c-1.el9.src.rpm\n"
    "gpg-pubkey\t(none)\t350d275d\t6279464b\t(none)\t(none)\n"
    "garbage line without tabs\n"
)

APK_INSTALLED = textwrap.dedent("""\
    C:Q1/uhM1bMcRtpnnDAGfWVsrzbD2ac=
    P:musl
    V:1.2.4_git20230717-r4
    A:x86_64
    S:407733
    I:663552
    T:the musl c library (libc) implementation
    U:https://musl.libc.org/
    L:MIT
    o:musl
    m:Natanael Copa <ncopa@alpinelinux.org>
    t:1705507064
    c:0e22f1e5a35a7ae2dc5b52a72085f6f6c8b0a2d4
    F:lib
    R:ld-musl-x86_64.so.1

    C:Q1fl4ryvvWjhHMnGlgQk7MG6ZHHLk=
    P:libcrypto3
    V:3.1.4-r5
    A:x86_64
    o:openssl
    D:so:libc.musl-x86_64.so.1
    """)

RHEL_OS_RELEASE = textwrap.dedent("""\
    NAME="Rocky Linux"
    VERSION="9.3 (Blue Onyx)"
    ID="rocky"
    ID_LIKE="rhel centos fedora"
    VERSION_ID="9.3"
    # a comment
    PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
    """)

METADATA = textwrap.dedent("""\
    Metadata-Version: 2.1
    Name: Jinja2
    Version: 3.1.2
    Summary: A very fast and expressive template engine.
    Requires-Dist: MarkupSafe (>=2.0)

    Name: in-the-description
    Version: 0.0
    """)


def test_os_release_debian():
    text = ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
            'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL="https://www.debian.org/"\n')
    assert inv.parse_os_release(text) == DEBIAN


def test_os_release_quotes_escapes_and_missing_keys():
    info = inv.parse_os_release(RHEL_OS_RELEASE + "BUILD_ID='x'\nVARIANT=\"Say \\\"hi\\\"\"\n")
    assert info == {"id": "rocky", "version_id": "9.3", "pretty_name": "Rocky Linux 9.3 (Blue Onyx)",
                    "version_codename": None}
    assert inv.parse_os_release("") == {"id": None, "version_id": None, "pretty_name": None, "version_codename": None}


def test_dpkg_only_installed_packages():
    pkgs = {p["name"]: p for p in inv.parse_dpkg_status(DPKG_STATUS, DEBIAN)}
    assert sorted(pkgs) == ["base-files", "libc6", "login", "python3"]  # not config-files, half-installed, description
    assert pkgs["libc6"] == {
        "name": "libc6", "version": "2.36-9+deb12u4", "type": "deb", "arch": "amd64",
        "source": "glibc", "source_version": "2.36-9+deb12u4",
        "purl": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"}
    assert pkgs["base-files"]["source"] == "base-files"
    assert pkgs["base-files"]["purl"] == "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12"


def test_dpkg_source_version_and_epoch():
    pkgs = {p["name"]: p for p in inv.parse_dpkg_status(DPKG_STATUS, DEBIAN)}
    assert pkgs["python3"]["source"] == "python3-defaults"
    assert pkgs["python3"]["source_version"] == "3.11.2-1"
    assert pkgs["python3"]["purl"].endswith("upstream=python3-defaults%403.11.2-1")
    assert pkgs["login"]["version"] == "1:4.13+dfsg1-1+b1"
    assert pkgs["login"]["purl"].startswith("pkg:deb/debian/login@1:4.13%2Bdfsg1-1%2Bb1?")


def test_dpkg_status_d_has_no_status_lines():
    stanza = "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n"
    assert inv.parse_dpkg_status(stanza, DEBIAN) == []
    assert [p["name"] for p in inv.parse_dpkg_status(stanza, DEBIAN, require_status=False)] == ["tzdata"]


def test_rpm():
    os_info = inv.parse_os_release(RHEL_OS_RELEASE)
    pkgs = {p["name"]: p for p in inv.parse_rpm_output(RPM_OUTPUT, os_info)}
    assert sorted(pkgs) == ["glibc", "openssl-libs", "tzdata"]  # no gpg-pubkey, no garbage
    assert pkgs["glibc"] == {
        "name": "glibc", "version": "2.34-60.el9", "type": "rpm", "arch": "x86_64",
        "source": "glibc", "source_version": "2.34", "source_release": "60.el9",
        "purl": "pkg:rpm/rocky/glibc@2.34-60.el9?arch=x86_64&distro=rocky-9.3&upstream=glibc-2.34-60.el9.src.rpm"}
    ssl = pkgs["openssl-libs"]
    assert (ssl["version"], ssl["epoch"], ssl["source"]) == ("1:3.0.7-24.el9", "1", "openssl")
    assert "epoch=1" in ssl["purl"] and "@3.0.7-24.el9?" in ssl["purl"]


def test_apk():
    pkgs = inv.parse_apk_installed(APK_INSTALLED, {"id": "alpine", "version_id": "3.19.1"})
    assert [(p["name"], p["version"], p["arch"], p["source"]) for p in pkgs] == [
        ("musl", "1.2.4_git20230717-r4", "x86_64", "musl"), ("libcrypto3", "3.1.4-r5", "x86_64", "openssl")]
    assert pkgs[1]["purl"] == "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl"


def test_python_metadata_headers_only():
    assert inv.parse_python_metadata(METADATA) == ("Jinja2", "3.1.2")
    assert inv.parse_python_metadata("Metadata-Version: 2.1\nName: broken\n") == (None, None)
    assert inv.pypi_package("Zope_Interface", "6.1")["purl"] == "pkg:pypi/zope-interface@6.1"


def test_purls_are_canonical():
    packageurl = pytest.importorskip("packageurl")
    pkgs = (inv.parse_dpkg_status(DPKG_STATUS, DEBIAN) + inv.parse_rpm_output(RPM_OUTPUT, {"id": "rocky"})
            + inv.parse_apk_installed(APK_INSTALLED) + [inv.pypi_package("Jinja2", "3.1.2")])
    for p in pkgs:
        parsed = packageurl.PackageURL.from_string(p["purl"])
        assert parsed.to_string() == p["purl"]
        assert parsed.version == (p["version"].split(":", 1)[1] if p["type"] == "rpm" and ":" in p["version"]
                                  else p["version"])


def write(root, relpath, text):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_collect_on_a_fake_root(tmp_path):
    write(tmp_path, "etc/os-release", "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")
    write(tmp_path, "var/lib/dpkg/status", DPKG_STATUS)
    write(tmp_path, "var/lib/dpkg/status.d/tzdata", "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n")
    write(tmp_path, "usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA", METADATA)
    write(tmp_path, "usr/lib/python3/dist-packages/six-1.16.0.egg-info", "Metadata-Version: 1.2\nName: six\nVersion: 1.16.0\n")
    write(tmp_path, "usr/local/lib/python3.11/dist-packages/requests-2.31.0.egg-info/PKG-INFO",
          "Name: requests\nVersion: 2.31.0\n")
    write(tmp_path, "opt/app/venv/lib/python3.11/site-packages/flask-3.0.0.dist-info/METADATA", "Name: Flask\nVersion: 3.0.0\n")
    write(tmp_path, "opt/app/venv/lib/python3.11/site-packages/jinja2-3.1.2.dist-info/METADATA", METADATA)  # again
    write(tmp_path, "opt/plain/attrs-23.1.0.dist-info/METADATA", "Name: attrs\nVersion: 23.1.0\n")

    result = inv.collect(str(tmp_path), ["/opt/app/venv", "/opt/plain", "/opt/missing"], rpm_query=None)

    assert result["os"]["id"] == "debian" and result["os"]["version_id"] == "12"
    assert result["sources"] == ["dpkg", "python"]
    got = [(p["type"], p["name"], p["version"]) for p in result["packages"]]
    assert got == sorted(got, key=lambda g: (g[0], g[1].lower()))
    assert ("deb", "tzdata", "2024a-0+deb12u1") in got and ("deb", "libc6", "2.36-9+deb12u4") in got
    assert [g for g in got if g[0] == "pypi"] == [
        ("pypi", "attrs", "23.1.0"), ("pypi", "Flask", "3.0.0"), ("pypi", "Jinja2", "3.1.2"),
        ("pypi", "requests", "2.31.0"), ("pypi", "six", "1.16.0")]


def test_collect_rpm_and_apk(tmp_path):
    write(tmp_path, "usr/lib/os-release", RHEL_OS_RELEASE)
    result = inv.collect(str(tmp_path), rpm_query=lambda: RPM_OUTPUT)
    assert result["sources"] == ["rpm"]
    assert {p["purl"].split("?")[0] for p in result["packages"]} >= {"pkg:rpm/rocky/glibc@2.34-60.el9"}

    alpine = tmp_path / "alpine"
    write(alpine, "etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n")
    write(alpine, "lib/apk/db/installed", APK_INSTALLED)
    result = inv.collect(str(alpine), rpm_query=lambda: "")  # rpm installed, but its database is empty
    assert result["sources"] == ["apk"]
    assert [p["name"] for p in result["packages"]] == ["libcrypto3", "musl"]


def test_collect_nothing(tmp_path):
    assert inv.collect(str(tmp_path)) == {"packages": [], "os": {}, "sources": []}
