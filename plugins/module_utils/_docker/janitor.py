# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Find and remove temporary build resources by their labels, never by the build's own records.

Used at the end of every build (by build id) and by the janitor (by age, after a crash). Only
builder and run-test containers and *untagged* images carrying our build-id label are ever touched:
a tagged image is an artifact (or someone's) and is left alone.
"""

from __future__ import annotations

import datetime
import re

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.immutable.images.plugins.module_utils._docker import lease as builder_lease
from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DockerFailure,
    RequestException,
    docker_errors,
    error_text,
    listed_images,
    removal_in_progress,
    wait_until_gone,
)


def parse_time(text):
    """Docker/RFC 3339 timestamps (with nanoseconds or not) -> aware datetime, None if unparsable."""
    if not text:
        return None
    text = str(text).replace("Z", "+00:00")
    date, sep, rest = text.partition(".")
    if sep:  # trim fractional seconds to microseconds; keep the offset
        frac = re.match(r"\d*", rest).group()
        rest = rest[len(frac):]
        text = "%s.%s%s" % (date, frac[:6].ljust(6, "0"), rest)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


# Containers that only live during a build: builders, and the containers of run tests
# (docker_run_test), which a killed module can leave behind.
# The pins of cache layers (layer_cache.py) and the claims of artifacts (artifact_claim.py) are temporary too.
TEMPORARY_CONTAINER_KINDS = (naming.KIND_BUILDER, naming.KIND_VERIFY, naming.KIND_CACHE_PIN, naming.KIND_CLAIM)


def build_alive(container, now=None):
    """True when the build of a builder or of a run-test container still runs.

    A builder: it runs and holds a lease, so the engine removes it when its controller goes away (created with
    AutoRemove, builder_lease.py). Works wherever the controller runs (another machine, a container): nothing of
    the controller's host name or pid is needed, and nothing of it reaches an artifact (a commit takes a
    container's labels along, never its host config).
    A run-test container (run_test.py): until its lease, its run test's timeout from its creation on the engine's
    clock, has passed - a run test runs the image's own command, which no stdin lease can end. `now`: an aware
    datetime (default: now)."""
    attrs = getattr(container, "attrs", None) or {}
    labels = getattr(container, "labels", None) or {}
    if labels.get(naming.LABEL_KIND) == naming.KIND_VERIFY:
        created = parse_time(attrs.get("Created"))
        try:
            lease = datetime.timedelta(seconds=float(labels.get(naming.LABEL_LEASE_SECONDS)))
        except (TypeError, ValueError):
            return False  # made before run tests had a lease, or not by us
        return created is not None and created + lease > (now or naming.utc_now())
    host_config = attrs.get("HostConfig") or {}
    # Paused too: the engine pauses a builder while it commits it.
    return bool(host_config.get("AutoRemove")) and getattr(container, "status", None) in ("running", "paused")


def is_ours(image):
    """A build image (candidate, untagged artifact) made by the build its labels name; an image built FROM
    one of ours inherits the labels and is never ours (naming.build_comment)."""
    return naming.is_our_docker_image(image.attrs)


class DockerJanitor:
    def __init__(self, client):
        self.client = client

    def keep(self, names):
        """Let the kept builders among `names` outlive their lease (builder_lease.py); return those that cannot."""
        failed = []
        for name in names:
            try:
                container = self.client.containers.get(name)
            except docker_errors.NotFound:
                continue  # not a container of this engine
            except (docker_errors.APIError, RequestException):
                failed.append(name)
                continue
            if container.status == "running" and not builder_lease.mark_kept(container):
                failed.append(name)
        return failed

    def find(self, build_id=None, older_than=None, keep=(), superseded_of=None, image_names=None):
        """Builder containers and untagged build images, as dicts; `older_than` is an aware datetime.

        superseded_of: an image name whose earlier artifacts lost their last tag to a rebuild
        (untagged, labelled as our artifacts of that name) are included too.
        image_names: only the resources of builds of these image names (the janitor's scope; None: all).
        Without build_id (the janitor), nothing of a build that is still running is found: not its builders,
        not its cache pins or run-test containers, not the image it is committing or about to tag. A build runs
        while a builder of it does, or a run test of it (build_alive).
        """
        label = naming.LABEL_BUILD_ID + ("=%s" % build_id if build_id else "")
        found = []
        containers, seen_containers = [], set()
        # Label filters are ANDed by the engine: one query per temporary kind (builders, run tests).
        for kind in TEMPORARY_CONTAINER_KINDS:
            kind_filter = {"label": [label, "%s=%s" % (naming.LABEL_KIND, kind)]}
            for c in self.client.containers.list(all=True, ignore_removed=True, filters=kind_filter):
                if c.id not in seen_containers:
                    seen_containers.add(c.id)
                    containers.append(c)
        # The janitor never takes anything from a build that is still running (a running, leased builder, or a run
        # test within its timeout).
        now = naming.utc_now()
        live = set() if build_id else {c.labels.get(naming.LABEL_BUILD_ID) for c in containers if build_alive(c, now)}

        def in_scope(labels):
            labels = labels or {}
            return labels.get(naming.LABEL_BUILD_ID) not in live and (
                image_names is None or labels.get(naming.LABEL_IMAGE_NAME) in image_names)
        for c in containers:
            created = parse_time(c.attrs.get("Created"))
            if c.name in keep or c.id in keep or not _old_enough(created, older_than) or not in_scope(c.labels):
                continue
            found.append(_describe("container", c.id, c.name, c.labels, created))
        # The engine's untagged images of builds in one listing (each listing scans every image on the engine), each
        # inspected (its own comment: is_ours) only where its labels are this build's (any build's, for the janitor) or
        # those of an artifact of superseded_of that lost its last tag to a rebuild.
        superseded = {naming.LABEL_IMAGE_NAME: superseded_of, naming.LABEL_KIND: naming.KIND_ARTIFACT}
        for entry in self.client.api.images(filters={"dangling": True, "label": naming.LABEL_BUILD_ID}):
            labels = entry.get("Labels") or {}
            this_build = build_id is None or labels.get(naming.LABEL_BUILD_ID) == build_id
            replaced = bool(superseded_of) and all(labels.get(k) == v for k, v in superseded.items())
            if not (this_build or replaced) or entry["Id"] in keep:
                continue
            try:
                image = self.client.images.get(entry["Id"])
            except docker_errors.ImageNotFound:
                continue  # removed since the listing
            if not is_ours(image):
                continue
            created = parse_time(image.attrs.get("Created"))
            if replaced or (_old_enough(created, older_than) and in_scope(image.labels)):
                found.append(_describe("image", image.id, image.short_id, image.labels, created))
        return found

    def unfinished_artifacts(self, build_id):
        """Tagged artifacts of build `build_id` (an interrupted one: its commit and tags went through, its push
        did not), found by what the image itself says: its own comment names the build (naming.build_comment).
        Labels alone would match an image built FROM one (it inherits them); its comment is its own (empty, or
        its builder's). A commit the engine finishes after its client is gone is untagged: find() takes it, by
        the same comment, on the guard's late passes (build_guard.LATE_PASSES). One that an image was built FROM
        meanwhile cannot be deleted (the engine refuses): it loses its tags, and stays as the child's parent."""
        filters = {"label": ["%s=%s" % (naming.LABEL_BUILD_ID, build_id), "%s=%s" % (naming.LABEL_KIND, naming.KIND_ARTIFACT)]}
        return [dict(_describe("image", i.id, i.short_id, i.labels, parse_time(i.attrs.get("Created"))), tagged=True,
                     untag=list(i.tags)) for i in listed_images(self.client, filters) if i.tags and is_ours(i)]

    def stale_cache(self, keep_last, image_names=None):
        """Cache layers beyond the newest `keep_last` of each image name (the janitor prunes them); only of
        `image_names` when given.

        They are removed by their cache tags, unforced (remove()): the engine then refuses to delete a layer that
        a container uses - the pin of a build that has just looked it up (layer_cache.py), or the builder running
        from it - in the same step as the delete, so no look-up can slip in between a check and the delete."""
        by_name = {}
        for image in listed_images(self.client, {"label": "%s=%s" % (naming.LABEL_KIND, naming.KIND_CACHE)}):
            name = image.labels.get(naming.LABEL_IMAGE_NAME)
            if image_names is None or name in image_names:
                by_name.setdefault(name, []).append(image)
        stale = []
        for images in by_name.values():
            images.sort(key=lambda i: parse_time(i.attrs.get("Created")) or naming.utc_now(), reverse=True)
            stale += [dict(_describe("image", i.id, i.short_id, i.labels, parse_time(i.attrs.get("Created"))),
                           refs=[t for t in i.tags if t.startswith(CACHE_PREFIX)]) for i in images[keep_last:]]
        return stale

    def remove(self, resources):
        """Remove what find() returned; containers first (they hold their images), at once (a build with several
        targets has a builder each: removing one takes the engine 0.1-0.5 s). Returns removed ids."""
        containers = [r for r in resources if r["kind"] == "container"]
        images = [r for r in resources if r["kind"] != "container"]
        if len(containers) > 1:
            with ThreadPoolExecutor(max_workers=min(len(containers), PARALLEL_REMOVALS)) as pool:
                outcomes = list(pool.map(self._remove_one, containers))
        else:
            outcomes = [self._remove_one(res) for res in containers]
        outcomes += [self._remove_one(res) for res in images]
        errors = [error for _removed, error in outcomes if error]
        if errors:
            raise DockerFailure("cleanup", "could not remove: " + "; ".join(errors))
        return [removed for removed, _error in outcomes if removed]

    def _remove_one(self, res):
        """(its id when it is gone, an error message when it could not be removed); a 409 is neither."""
        try:
            if res["kind"] == "container":
                try:
                    self.client.api.remove_container(res["id"], force=True, v=True)
                except docker_errors.APIError as e:
                    if not removal_in_progress(e):
                        raise
                    wait_until_gone(self.client, res["id"])  # its lease ended: the engine removes it
            elif res.get("refs"):
                # a cache layer: by its tags, unforced - a layer a container uses (a pin, a builder) stays (409)
                for ref in res["refs"]:
                    self.client.api.remove_image(ref)
            else:
                # force only untags: an unfinished artifact goes, an image a running container uses stays (409)
                try:
                    self.client.api.remove_image(res["id"], force=res.get("tagged", False))
                except docker_errors.APIError as e:
                    if e.status_code != 409 or not res.get("untag"):
                        raise
                    for ref in res["untag"]:  # a child image holds it: it can only lose its tags
                        self.client.api.remove_image(ref)
            return res["id"], None
        except docker_errors.NotFound:
            return res["id"], None
        except docker_errors.APIError as e:
            if e.status_code != 409:
                return None, "%s %s: %s" % (res["kind"], res["name"], error_text(e))
            return None, None  # 409: a container still uses the image; it is not ours to stop
        except RequestException as e:
            return None, "%s %s: %s" % (res["kind"], res["name"], error_text(e))


PARALLEL_REMOVALS = 8  # containers removed at once by one remove()


CACHE_PREFIX = "immutable-images-cache/"


def _old_enough(created, older_than):
    return older_than is None or (created is not None and created < older_than)


def _describe(kind, rid, name, labels, created):
    labels = labels or {}
    return {
        "kind": kind,
        "id": rid,
        "name": name,
        "build_id": labels.get(naming.LABEL_BUILD_ID),
        "image_name": labels.get(naming.LABEL_IMAGE_NAME),
        "target": labels.get(naming.LABEL_TARGET),
        "created": naming.iso_utc(created) if created else None,
    }
