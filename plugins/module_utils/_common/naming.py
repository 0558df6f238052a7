# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Names, labels and tags: the one place that decides how build resources are called and marked.

Every resource a build creates (builder container, cache image, EC2 instance, key pair, security
group, AMI, snapshot) carries LABEL_BUILD_ID and LABEL_KIND, so cleanup and the janitor can find
it by label/tag instead of trusting the build's own bookkeeping.
"""

from __future__ import annotations

import datetime
import re
import secrets

from ansible_collections.immutable.images.plugins.module_utils._common.references import parse_duration_ns

LABEL_PREFIX = "immutable.images"
LABEL_BUILD_ID = LABEL_PREFIX + ".build-id"
LABEL_BUILD_HASH = LABEL_PREFIX + ".build-hash"
LABEL_IMAGE_NAME = LABEL_PREFIX + ".image-name"
LABEL_IMAGE_VERSION = LABEL_PREFIX + ".image-version"
LABEL_TARGET = LABEL_PREFIX + ".target"
LABEL_KIND = LABEL_PREFIX + ".kind"
LABEL_CREATED = LABEL_PREFIX + ".created"
# On AMIs: the AMI's own id, tagged by the build that made it (or copied it). A copy made outside the
# build gets our tags (CopyImageTags) but not its own id in this tag: that tells it apart.
LABEL_AMI_ID = LABEL_PREFIX + ".ami-id"
# On the container of a run test: for how many seconds after its creation it is a live build's (its lease, janitor.py).
# A run test runs the image's own command, so no stdin lease can hold it as one holds a builder; its own timeout
# bounds it instead.
LABEL_LEASE_SECONDS = LABEL_PREFIX + ".lease-seconds"

# Values of LABEL_KIND. Only "builder", "verify", "cache", "cache-pin" and "claim" resources are temporary.
KIND_BUILDER = "builder"
KIND_CACHE = "cache"
KIND_ARTIFACT = "artifact"
KIND_VERIFY = "verify"  # the container of a run test of a candidate image (docker_run_test)
# A container created (never started) from a cache layer a build has looked up and will use: while it exists,
# the engine refuses to delete that layer (layer_cache.py, cleanup.py).
KIND_CACHE_PIN = "cache-pin"
# A container created (never started) under a name derived from an artifact's build hash: the build that
# creates it makes that artifact; identical builds wait for it and reuse the artifact (artifact_claim.py).
KIND_CLAIM = "claim"

OCI_PREFIX = "org.opencontainers.image."

BUILD_ID_RE = re.compile(r"^\d{8}T\d{4}Z-[0-9a-f]{4,}$")


def build_comment(build_id, message=None):
    """The comment (image config `comment`) of every image a build commits (artifacts, cache layers).

    Labels are inherited by every image built FROM one of ours; the comment is not (a child gets its
    own, or none), so an image is ours only when its comment's first line names the build of its labels.
    """
    return "made by immutable.images build %s" % build_id + ("\n" + message if message else "")


def is_our_docker_image(attrs):
    """True when a Docker image (inspect result or SDK attrs) was made by the build its labels name,
    not merely built FROM one of our images (see artifact_comment)."""
    labels = (attrs.get("Config") or {}).get("Labels") or attrs.get("Labels") or {}
    build_id = labels.get(LABEL_BUILD_ID)
    return bool(build_id) and str(attrs.get("Comment") or "").split("\n", maxsplit=1)[0] == build_comment(build_id)


def is_our_ami(image):
    """True when an AMI (describe_images entry) was created or copied by one of our builds: it carries
    its own id in LABEL_AMI_ID, which a copy made outside a build cannot have."""
    tags = {t["Key"]: t["Value"] for t in image.get("Tags") or []}
    return bool(tags.get(LABEL_BUILD_ID)) and tags.get(LABEL_AMI_ID) == image.get("ImageId")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def cutoff(max_age):
    """The moment before which a janitor removes leftovers: now minus max_age ('2h', '30m', seconds).

    Raises ValueError for a value that is not a duration.
    """
    return utc_now() - datetime.timedelta(microseconds=parse_duration_ns(max_age) / 1000)


def iso_utc(moment=None):
    """RFC 3339 UTC timestamp with second precision, as OCI labels and AWS tags want it."""
    return (moment or utc_now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_build_id(moment=None, suffix=None):
    """A build id that sorts by time and is unique per run: 20261123T2135Z-7f3a9c.

    Cleanup finds resources by build id, so two builds in the same minute must not share one:
    24 random bits make that a one in 16 million event.
    """
    stamp = (moment or utc_now()).strftime("%Y%m%dT%H%MZ")
    return "%s-%s" % (stamp, suffix or secrets.token_hex(3))


def builder_name(image_name, target_name, build_id):
    """Name of a temporary builder (container name, EC2 Name tag, key pair and SG name)."""
    return "immutable-%s-%s-%s" % (image_name, target_name, build_id)


def verify_name(build_id, image_name=None, target_name=None, suffix=None):
    """Name of the container of a run test: unique per run, since several targets of one build can
    test their candidates at the same time."""
    parts = ["immutable"] + [p for p in (image_name, target_name) if p] + [build_id, "verify", suffix or secrets.token_hex(2)]
    return "-".join(docker_tag_safe(p) for p in parts)


def builder_host(image_name, target_name):
    """Inventory host name of a target's builder in the `image_builders` group."""
    return "%s-%s" % (image_name, target_name)


def docker_tag_safe(value):
    """Docker tags allow [A-Za-z0-9_.-]; semver build metadata uses '+'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(value))


def default_tags(version, build_hash):
    return [docker_tag_safe(version), docker_tag_safe("%s-%s" % (version, build_hash)), "latest"]


def build_labels(build_id, image_name, target_name, kind, build_hash=None, version=None, created=None):
    """Labels (Docker) / tags (AWS) that mark a resource as ours and say which build made it."""
    labels = {
        LABEL_BUILD_ID: build_id,
        LABEL_IMAGE_NAME: image_name,
        LABEL_TARGET: target_name,
        LABEL_KIND: kind,
        LABEL_CREATED: created or iso_utc(),
    }
    if build_hash:
        labels[LABEL_BUILD_HASH] = build_hash
    if version:
        labels[LABEL_IMAGE_VERSION] = str(version)
    return labels


def oci_labels(image_name, version, created=None, revision=None):
    """The OCI annotations every docker artifact carries (title, version, created, revision)."""
    labels = {
        OCI_PREFIX + "title": image_name,
        OCI_PREFIX + "version": str(version),
        OCI_PREFIX + "created": created or iso_utc(),
    }
    if revision:
        labels[OCI_PREFIX + "revision"] = revision
    return labels


def aws_tag_list(tags):
    """{k: v} -> [{'Key': k, 'Value': v}] in a stable order, as the EC2 API wants."""
    return [{"Key": k, "Value": str(v)} for k, v in sorted(tags.items())]


# AMI names and deprecation times: checked when a definition is validated, before any AWS SDK is imported.
# EC2's rule for AMI names (moto does not check it, AWS does).
AMI_NAME_RE = re.compile(r"^[A-Za-z0-9()\[\] ./'@_-]{3,128}\Z")  # \Z: '$' would let a trailing newline through
DURATION_RE = re.compile(r"^\s*(\d+)\s*([hdw]?)\s*$")
DURATION_UNITS = {"h": "hours", "d": "days", "w": "weeks", "": "days"}


def parse_deprecate_after(value, now=None):
    """'90d' / '12h' / '2w' / a bare number of days, or an ISO date/datetime -> aware UTC datetime."""
    now = now or utc_now()
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        match = DURATION_RE.match(text)
        if match:
            if not int(match.group(1)):
                raise ValueError("deprecate_after: %r is zero; give a time in the future" % (value,))
            return now + datetime.timedelta(**{DURATION_UNITS[match.group(2)]: int(match.group(1))})
        try:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("deprecate_after: %r is neither a duration like 90d/12h/2w nor an ISO date" % (value,))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)
    if moment <= now:
        raise ValueError("deprecate_after: %s is not in the future" % iso_utc(moment))
    return moment
