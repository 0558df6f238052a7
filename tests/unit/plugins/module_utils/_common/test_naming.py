# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""naming.py: build ids, tags, builder names, labels."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._common import references as ref

UTC = datetime.timezone.utc
MOMENT = datetime.datetime(2026, 11, 23, 21, 35, 59, tzinfo=UTC)
BUILD = "20261123T2135Z-7f3a"


def test_build_id_format_and_time_prefix():
    build_id = naming.new_build_id(MOMENT)
    assert naming.BUILD_ID_RE.match(build_id)
    assert build_id.startswith("20261123T2135Z-")


def test_build_id_of_now_is_utc():
    before = naming.utc_now().strftime("%Y%m%dT%H%MZ")
    build_id = naming.new_build_id()
    after = naming.utc_now().strftime("%Y%m%dT%H%MZ")
    assert naming.BUILD_ID_RE.match(build_id)
    assert before <= build_id.split("-")[0] <= after


def test_build_id_with_suffix():
    assert naming.new_build_id(MOMENT, "beef") == "20261123T2135Z-beef"


@pytest.mark.parametrize("value", [
    "20261123T2135Z", "20261123T2135Z-", "20261123T2135Z-7f3", "20261123T2135Z-7F3A", "2026-11-23T2135Z-7f3a",
    "20261123T213500Z-7f3a", "20261123T2135-7f3a", "x20261123T2135Z-7f3a", "20261123T2135Z-7f3g",
])
def test_build_id_re_rejects(value):
    assert not naming.BUILD_ID_RE.match(value)


def test_build_ids_are_unique_within_one_minute():
    # Same moment for every call: only the random suffix can tell them apart. With a 16-bit
    # suffix ~8 collisions are expected among 1000; a constant or weak suffix gives far more.
    ids = [naming.new_build_id(MOMENT) for _ in range(1000)]
    assert all(naming.BUILD_ID_RE.match(i) for i in ids)
    assert len(set(ids)) >= 960


def test_build_ids_sort_by_time():
    earlier = naming.new_build_id(MOMENT)
    later = naming.new_build_id(MOMENT + datetime.timedelta(minutes=1))
    assert sorted([later, earlier]) == [earlier, later]


def test_iso_utc():
    assert naming.iso_utc(MOMENT) == "2026-11-23T21:35:59Z"
    assert naming.iso_utc().endswith("Z")


def test_cutoff_is_now_minus_max_age():
    before = naming.utc_now()
    cut = naming.cutoff("2h")
    after = naming.utc_now()
    assert before - datetime.timedelta(hours=2) <= cut <= after - datetime.timedelta(hours=2)
    cut = naming.cutoff(90)
    assert naming.utc_now() - cut >= datetime.timedelta(seconds=90)


@pytest.mark.parametrize("value", ["soon", "", True, "-5m"])
def test_cutoff_rejects_what_is_not_a_duration(value):
    with pytest.raises(ValueError):
        naming.cutoff(value)


def test_default_tags():
    assert naming.default_tags("1.4.2", "abc123def456") == ["1.4.2", "1.4.2-abc123def456", "latest"]


def test_default_tags_semver_build_metadata_made_tag_safe():
    tags = naming.default_tags("1.4.2-rc.1+build.5", "abc123def456")
    assert tags == ["1.4.2-rc.1_build.5", "1.4.2-rc.1_build.5-abc123def456", "latest"]
    assert all(ref.is_tag(t) for t in tags)
    assert not any("+" in t for t in tags)


@pytest.mark.parametrize("value, expected", [
    ("1.4.2", "1.4.2"),
    ("1.4.2+b", "1.4.2_b"),
    ("a b/c:d", "a_b_c_d"),
    ("A-z_0.9", "A-z_0.9"),
])
def test_docker_tag_safe(value, expected):
    assert naming.docker_tag_safe(value) == expected


def test_builder_name_and_host():
    assert naming.builder_name("webapp", "container", BUILD) == "immutable-webapp-container-" + BUILD
    assert naming.builder_host("webapp", "container") == "webapp-container"


def test_builder_names_differ_per_target_and_build():
    names = {naming.builder_name("webapp", t, b) for t in ("a", "b") for b in (BUILD, BUILD[:-1] + "b")}
    assert len(names) == 4


def test_build_labels():
    labels = naming.build_labels(BUILD, "webapp", "container", naming.KIND_BUILDER, build_hash="abc123",
                                 version="1.4.2", created="2026-11-23T21:35:59Z")
    assert labels == {
        "immutable.images.build-id": BUILD,
        "immutable.images.image-name": "webapp",
        "immutable.images.target": "container",
        "immutable.images.kind": "builder",
        "immutable.images.created": "2026-11-23T21:35:59Z",
        "immutable.images.build-hash": "abc123",
        "immutable.images.image-version": "1.4.2",
    }
    assert labels[naming.LABEL_BUILD_ID] == BUILD
    assert labels[naming.LABEL_KIND] == naming.KIND_BUILDER


def test_build_labels_minimal():
    labels = naming.build_labels(BUILD, "webapp", "aws", naming.KIND_ARTIFACT)
    assert labels[naming.LABEL_BUILD_ID] == BUILD
    assert labels[naming.LABEL_KIND] == "artifact"
    assert naming.LABEL_BUILD_HASH not in labels
    assert naming.LABEL_IMAGE_VERSION not in labels
    assert labels[naming.LABEL_CREATED].endswith("Z")
    assert all(k.startswith(naming.LABEL_PREFIX + ".") for k in labels)


def test_kinds_are_distinct():
    assert len({naming.KIND_BUILDER, naming.KIND_CACHE, naming.KIND_ARTIFACT}) == 3


def test_oci_labels_without_revision():
    labels = naming.oci_labels("webapp", "1.4.2", created="2026-11-23T21:35:59Z")
    assert labels == {
        "org.opencontainers.image.title": "webapp",
        "org.opencontainers.image.version": "1.4.2",
        "org.opencontainers.image.created": "2026-11-23T21:35:59Z",
    }


def test_oci_labels_with_revision():
    labels = naming.oci_labels("webapp", "1.4.2", created="2026-11-23T21:35:59Z", revision="deadbeef")
    assert labels["org.opencontainers.image.revision"] == "deadbeef"
    assert len(labels) == 4


def test_aws_tag_list_is_sorted_and_stringified():
    tags = {"team": "web", "Name": "webapp", "count": 3, "a": True}
    assert naming.aws_tag_list(tags) == [
        {"Key": "Name", "Value": "webapp"},
        {"Key": "a", "Value": "True"},
        {"Key": "count", "Value": "3"},
        {"Key": "team", "Value": "web"},
    ]
    assert naming.aws_tag_list({}) == []
