# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""references.py: versions, repositories, image references, durations, CIDRs, ports."""

from __future__ import annotations

import pytest

from ansible_collections.immutable.images.plugins.module_utils._common import references as ref

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("version", [
    "0.0.0", "1.4.2", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7", "1.0.0-x.7.z.92",
    "1.0.0-alpha+001", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85", "1.0.0+21AF26D3---117B344092BD",
    "1.0.0-rc.1+build.1", "1.0.0--", "1.0.0-0a",
])
def test_semver_accepts(version):
    assert ref.is_semver(version)


@pytest.mark.parametrize("version", [
    "", "1", "1.4", "1.4.2.3", "v1.4.2", "01.4.2", "1.04.2", "1.4.02", "1.4.2-", "1.4.2+", "1.4.2-01",
    "1.4.2-alpha..1", "1.4.2+build..1", "1.4.2-alpha_1", "1.4.2+build_1", " 1.4.2", "1.4.2 ", "latest",
    "-1.4.2", "1.4.2-Ω",
])
def test_semver_rejects(version):
    assert not ref.is_semver(version)


def test_semver_takes_non_strings():
    # YAML may hand over numbers; they are never semver, and must not raise
    assert not ref.is_semver(1.4)
    assert not ref.is_semver(None)


def test_semver_rejects_trailing_newline():
    assert not ref.is_semver("1.4.2\n")


@pytest.mark.parametrize("name", [
    "webapp", "acme/webapp", "library/debian", "a/b/c/d", "web-app", "web--app", "web_app", "web__app", "web.app",
    "registry.example.com/acme/webapp", "registry.example.com:5000/acme/webapp", "localhost:5000/a/b",
    "localhost/a", "127.0.0.1:5000/a", "[::1]:5000/a", "my-registry.io/x", "a" * 255,
])
def test_is_repository_accepts(name):
    assert ref.is_repository(name)


@pytest.mark.parametrize("name", [
    "", "WebApp", "acme/WebApp", "acme/webapp:1.0", "acme/webapp@" + DIGEST, "acme//webapp", "acme/webapp/",
    "/acme/webapp", "-webapp", "webapp-", "web___app", "web..app", "web app", "web$app", "registry:port/a",
    "a" * 256, "localhost:5000", "_webapp",
])
def test_is_repository_rejects(name):
    assert not ref.is_repository(name)


@pytest.mark.parametrize("value", [
    "debian", "debian:bookworm-slim", "debian:12", "library/debian:latest", "debian@" + DIGEST,
    "debian:12@" + DIGEST, "localhost:5000/a/b", "localhost:5000/a/b:1.0", "localhost:5000/a/b@" + DIGEST,
    "registry.example.com:443/acme/webapp:1.4.2_build.5", "debian:" + "t" * 128,
])
def test_is_image_reference_accepts(value):
    assert ref.is_image_reference(value)


@pytest.mark.parametrize("value", [
    "", "Debian", "debian:", "debian:-slim", "debian:.x", "debian:bad tag", "debian:a/b", "debian:" + "t" * 129,
    "debian@", "debian@sha256:xyz", "debian@sha256:abcd", "debian@" + DIGEST + "x", "debian:12@",
    "localhost:5000/A/b", "debian bookworm", "debian;rm", "debian:1$",
])
def test_is_image_reference_rejects(value):
    assert not ref.is_image_reference(value)


def test_tag_is_ascii_only():
    assert not ref.is_tag("vé")


@pytest.mark.parametrize("value, expected", [
    ("debian", ("debian", None, None)),
    ("debian:12", ("debian", "12", None)),
    ("reg:5000/a/b:tag", ("reg:5000/a/b", "tag", None)),
    ("reg:5000/a/b", ("reg:5000/a/b", None, None)),
    ("localhost:5000/a/b", ("localhost:5000/a/b", None, None)),
    ("debian@" + DIGEST, ("debian", None, DIGEST)),
    ("debian:12@" + DIGEST, ("debian", "12", DIGEST)),
    ("reg:5000/a/b:1.0@" + DIGEST, ("reg:5000/a/b", "1.0", DIGEST)),
])
def test_split_reference(value, expected):
    assert ref.split_reference(value) == expected


@pytest.mark.parametrize("value, ns", [
    ("30s", 30 * 10 ** 9),
    ("1m30s", 90 * 10 ** 9),
    ("1m", 60 * 10 ** 9),
    ("500ms", 500 * 10 ** 6),
    ("1s500ms", 1500 * 10 ** 6),
    ("2h", 2 * 3600 * 10 ** 9),
    ("2d", 2 * 86400 * 10 ** 9),
    ("1d2h3m4s5ms", ((((24 + 2) * 60 + 3) * 60 + 4) * 1000 + 5) * 10 ** 6),
    ("0s", 0),
    (" 30s ", 30 * 10 ** 9),
    (30, 30 * 10 ** 9),
    (0, 0),
    (1.5, 1500 * 10 ** 6),
    ("30", 30 * 10 ** 9),  # a bare number is seconds, also as a string (YAML/argument spec type str)
])
def test_parse_duration_ns(value, ns):
    result = ref.parse_duration_ns(value)
    assert result == ns
    assert isinstance(result, int)


@pytest.mark.parametrize("value", [
    "", "s", "ms", "30x", "30 s", "1.5s", "-5s", "30s1m", "1m1m", "30S", "abc", "1h 30m", None, [], "30sec",
])
def test_parse_duration_ns_rejects(value):
    with pytest.raises(ValueError):
        ref.parse_duration_ns(value)


@pytest.mark.parametrize("value", [True, False])
def test_parse_duration_ns_rejects_bool(value):
    # bool is an int subclass: True must not silently mean one second
    with pytest.raises(ValueError):
        ref.parse_duration_ns(value)


@pytest.mark.parametrize("value, expected", [
    ("10.0.0.0/8", True),
    ("203.0.113.7/32", True),
    ("0.0.0.0/0", True),
    ("192.168.1.0/24", True),
    ("2001:db8::/32", True),
    ("::/0", True),
    ("10.0.0.1/8", False),        # host bits set
    ("192.168.1.1/24", False),    # host bits set
    ("2001:db8::1/32", False),    # host bits set
    ("10.0.0.0/33", False),
    ("300.0.0.0/8", False),
    ("10.0.0/8", False),
    ("example.com/32", False),
    ("", False),
    (None, False),
])
def test_is_cidr(value, expected):
    assert ref.is_cidr(value) is expected


@pytest.mark.parametrize("value, expected", [
    ("8080", "8080/tcp"),
    (8080, "8080/tcp"),
    ("8080/tcp", "8080/tcp"),
    ("8080/TCP", "8080/tcp"),
    ("53/udp", "53/udp"),
    ("9/sctp", "9/sctp"),
    (" 443 ", "443/tcp"),
    ("1", "1/tcp"),
    ("65535", "65535/tcp"),
    ("08080", "8080/tcp"),
])
def test_normalize_port(value, expected):
    assert ref.normalize_port(value) == expected


@pytest.mark.parametrize("value", [
    "0", 0, "65536", "-1", "http", "8080/icmp", "8080/tcp/udp", "", "80-90", "/tcp", "8080:80", None,
])
def test_normalize_port_rejects(value):
    with pytest.raises(ValueError):
        ref.normalize_port(value)
