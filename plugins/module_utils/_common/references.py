# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Syntax of the things a definition names: versions, image references, tags, durations, CIDRs."""

from __future__ import annotations

import ipaddress
import re

# https://semver.org/#is-there-a-suggested-regular-expression-regex-to-check-a-semver-string
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z"
)
# Every pattern ends in \Z, not $: '$' also matches before a trailing newline.
# An image name is one Docker path component (no '..', no trailing '-'); is_image_name also bounds its length.
IMAGE_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
TARGET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*\Z")

# Docker's reference grammar (distribution/reference), without the tag and digest parts.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"(?:%s(?:\.%s)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?" % (_DOMAIN_COMPONENT, _DOMAIN_COMPONENT)
REPOSITORY_RE = re.compile(r"^(?:%s/)?%s(?:/%s)*\Z" % (_DOMAIN, _PATH_COMPONENT, _PATH_COMPONENT))
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")

AWS_REGION_RE = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+\Z")
AMI_ID_RE = re.compile(r"^ami-[0-9a-f]{8}(?:[0-9a-f]{9})?\Z")
# A Systems Manager parameter that holds an AMI id, as RunInstances and launch templates take it: the parameter's name
# (a path), and optionally `:version` or `:label`.
SSM_AMI_PREFIX = "resolve:ssm:"
SSM_AMI_RE = re.compile(r"^resolve:ssm:(/?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*(?::[A-Za-z0-9_.-]+)?)\Z")
ACCOUNT_ID_RE = re.compile(r"^\d{12}\Z")
DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?\Z")


def is_semver(value):
    return bool(SEMVER_RE.match(str(value)))


def is_repository(value):
    """A repository name without tag: [registry[:port]/]path."""
    value = str(value)
    return len(value) <= 255 and bool(REPOSITORY_RE.match(value))


def is_image_name(value):
    return len(str(value)) <= 128 and bool(IMAGE_NAME_RE.match(str(value)))


def is_tag(value):
    return bool(TAG_RE.match(str(value)))


def split_reference(ref):
    """'reg:5000/a/b:tag' -> ('reg:5000/a/b', 'tag', None); digests after '@'. Tag may be None."""
    ref = str(ref)
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    repo, tag = ref, None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        repo, tag = ref[:colon], ref[colon + 1:]
    return repo, tag, digest


def split_repository(repository):
    """(registry host, path) of a repository name; Docker Hub for names without a host."""
    first, _sep, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", repository if "/" in repository else "library/" + repository


def is_image_reference(value):
    """A reference that `docker pull` accepts: repository[:tag][@digest]."""
    repo, tag, digest = split_reference(value)
    return (is_repository(repo) and (tag is None or is_tag(tag))
            and (digest is None or bool(DIGEST_RE.match(digest))))


def parse_duration_ns(value):
    """'30s', '1m30s', '500ms', '2d' or a number of seconds -> nanoseconds (Docker's healthcheck unit)."""
    if isinstance(value, bool):
        raise ValueError("not a duration: %r" % (value,))
    if isinstance(value, (int, float)):
        return int(value * 1e9)
    if str(value).strip().isdigit():  # a bare number is seconds, as in YAML it may come as a string
        return int(str(value).strip()) * 1000000000
    match = DURATION_RE.match(str(value).strip())
    if not match or not any(match.groups()):
        raise ValueError("not a duration like 30s, 1m30s or 500ms: %r" % (value,))
    d, h, m, s, ms = (int(g or 0) for g in match.groups())
    return (((d * 24 + h) * 3600 + m * 60 + s) * 1000 + ms) * 1000000


def is_cidr(value):
    try:
        ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        return False
    return True


def normalize_port(value):
    """'8080', 8080, '8080/tcp', '53/udp' -> '8080/tcp' / '53/udp'; ValueError otherwise."""
    text = str(value).strip().lower()
    port, _sep, proto = text.partition("/")
    proto = proto or "tcp"
    if not port.isdigit() or not 0 < int(port) < 65536 or proto not in ("tcp", "udp", "sctp"):
        raise ValueError("not a port like 8080/tcp: %r" % (value,))
    return "%d/%s" % (int(port), proto)
