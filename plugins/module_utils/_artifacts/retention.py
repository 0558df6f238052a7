# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Retention of older versions (a definition's `image_keep`): which artifacts stay, which go.

The rule (docs/retention.md), the same as an AWS Image Builder lifecycle policy's age rule with
"retain at least", and Packer's `keep_releases` when only `count` is given:

- Artifacts are ranked newest first by semantic version (semver.org precedence: 1.10.0 > 1.9.0 >
  1.9.0-rc.2), then by creation time (a rebuild of the same version is newer), then by id.
- `count`: the first `count` artifacts of that ranking are kept. Every build counts, the one just
  built included: two builds of 1.4.2 are two artifacts.
- `days`: artifacts created less than `days` days ago are kept; an unknown creation time counts as
  new (what cannot be dated is never removed).
- Both given: an artifact is kept when *either* rule keeps it, so it goes only once it is beyond
  the newest `count` *and* older than `days`. Neither given: everything is kept.
- The artifact just built (`current`) is always kept, whatever the rules say.
- An artifact whose version label is not a semantic version cannot be ranked: it is skipped
  (reported, never removed).

Only artifacts this collection labelled (kind=artifact, with a build id, of the image name and
target asked for) are candidates; the finders check the labels again after the engine / EC2 filtered
them, so nothing without our labels is ever touched. Docker: the tags in the target's repositories
are removed, then the image if no tag is left; an image a container uses is skipped, never forced.
EC2: the AMIs of a build (in every region given) are deregistered and their snapshots deleted.
"""

from __future__ import annotations

import datetime
import os

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._ec2 import resources as res
from ansible_collections.immutable.images.plugins.module_utils._ec2.client import Waits, error_code
from ansible_collections.immutable.images.plugins.module_utils._docker.janitor import parse_time
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    RequestException,
    docker_errors,
    error_text,
)
from ansible_collections.immutable.images.plugins.module_utils._common.references import SEMVER_RE, split_reference

try:
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError
    AWS_ERRORS = (BotoCoreError, ClientError, WaiterError)
except ImportError:  # AnsibleAWSModule reports the missing SDK; docker retention needs no boto3
    ClientError = Exception
    AWS_ERRORS = ()

_NEVER = datetime.datetime.max.replace(tzinfo=datetime.timezone.utc)


def version_key(version):
    """Sort key with semver.org precedence (build metadata ignored); None if not a semantic version."""
    match = SEMVER_RE.match(str(version)) if version is not None else None
    if not match:
        return None
    major, minor, patch, pre, _build = match.groups()
    if pre is None:
        pre_key = (1,)  # a release ranks above every pre-release of the same version
    else:
        # numeric identifiers compare numerically and rank below alphanumeric ones; a shorter set of
        # identifiers ranks below a longer one it is a prefix of (tuple comparison does both)
        pre_key = (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")))
    return (int(major), int(minor), int(patch), pre_key)


def artifact_ids(artifact):
    return set(artifact.get("ids") or ()) | {artifact["id"]}


def check_rules(count=None, days=None):
    """ValueError for a negative count or days."""
    for name, value in (("count", count), ("days", days)):
        if value is not None and (isinstance(value, bool) or int(value) < 0):
            raise ValueError("keep.%s must be a number >= 0, got %r" % (name, value))


def describe_rules(count=None, days=None):
    rules = []
    if count is not None:
        rules.append("the newest %d" % count)
    if days is not None:
        rules.append("created in the last %d days" % days)
    return " or ".join(rules) or "no rule"


def select(artifacts, count=None, days=None, current=(), now=None):
    """Decide which artifacts to keep and which to remove; pure (no I/O).

    artifacts: dicts with `id` (and optionally `ids`, every id the artifact goes by, e.g. the AMI ids of
    a build in each region), `version` (str) and `created` (aware datetime or None); other keys are
    carried along. current: ids of the artifact just built (matched against `id` and `ids`).
    Returns {"keep": [...], "remove": [...], "skipped": [...]}: copies of the artifacts, newest first,
    each with a `reason`.
    """
    check_rules(count, days)
    now = now or naming.utc_now()
    cutoff = now - datetime.timedelta(days=days) if days is not None else None
    current = {str(c) for c in current or ()}
    result = {"keep": [], "remove": [], "skipped": []}

    ranked = []
    for artifact in artifacts:
        key = version_key(artifact.get("version"))
        is_current = bool(current & artifact_ids(artifact))
        if key is None:
            if is_current:
                result["keep"].append(dict(artifact, reason="current build"))
            else:
                reason = "version %r is not a semantic version, so it cannot be ranked" % (artifact.get("version"),)
                result["skipped"].append(dict(artifact, reason=reason))
            continue
        ranked.append((key, artifact.get("created") or _NEVER, str(artifact["id"]), is_current, artifact))
    ranked.sort(key=lambda r: r[:3], reverse=True)

    for position, (_key, _created, _rid, is_current, artifact) in enumerate(ranked):
        created = artifact.get("created")
        reasons = []
        if is_current:
            reasons.append("current build")
        if count is not None and position < count:
            reasons.append("one of the newest %d" % count)
        if cutoff is not None:
            if created is None:
                reasons.append("creation time unknown")
            elif created > cutoff:
                reasons.append("created in the last %d days" % days)
        if count is None and days is None:
            reasons.append("no retention rule")
        if reasons:
            result["keep"].append(dict(artifact, reason=", ".join(reasons)))
        else:
            result["remove"].append(dict(artifact, reason="not %s" % describe_rules(count, days)))
    return result


def _public(artifact, **extra):
    """An artifact as the module returns it: times as RFC 3339 strings, internal keys dropped."""
    out = {k: v for k, v in artifact.items() if k not in ("ids", "images", "all_tags")}
    if isinstance(out.get("created"), datetime.datetime):
        out["created"] = naming.iso_utc(out["created"])
    out.update(extra)
    return out


# --- Docker -----------------------------------------------------------------------------------

def normalize_repository(repo):
    """'docker.io/library/webapp' and 'webapp' are the same repository to the engine."""
    repo = str(repo)
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix):]
            if repo.startswith("library/") and repo.count("/") == 1:
                repo = repo[len("library/"):]
            break
    return repo


def repository_of(tag):
    return normalize_repository(split_reference(tag)[0])


def _epoch(value):
    """The engine's image list gives Created as seconds since the epoch."""
    try:
        return datetime.datetime.fromtimestamp(int(value), datetime.timezone.utc) if value else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _is_our_artifact(labels, image_name, target):
    labels = labels or {}
    return (labels.get(naming.LABEL_KIND) == naming.KIND_ARTIFACT and bool(labels.get(naming.LABEL_BUILD_ID))
            and labels.get(naming.LABEL_IMAGE_NAME) == image_name
            and (target is None or labels.get(naming.LABEL_TARGET) == target))


class DockerRetention:
    """Older docker artifacts of one image name (and target) on one engine.

    repositories: the repositories whose tags retention removes (the target's `repository`, and the
    push repositories when those tags should go too). Tags in other repositories are left alone, and
    an image that keeps one is not deleted.
    """

    def __init__(self, client, image_name, target=None, repositories=None):
        self.client = client
        self.image_name, self.target = image_name, target
        self.repositories = {normalize_repository(r) for r in (repositories or [image_name])}

    def artifacts(self):
        """Our artifacts of image_name (and target), as dicts for select()."""
        wanted = ["%s=%s" % (naming.LABEL_KIND, naming.KIND_ARTIFACT), "%s=%s" % (naming.LABEL_IMAGE_NAME, self.image_name)]
        if self.target:
            wanted.append("%s=%s" % (naming.LABEL_TARGET, self.target))
        found = []
        # the low-level list: one call that gives labels and tags (images.list inspects image by image,
        # and fails when another user of the engine removes one in between)
        for image in self.client.api.images(filters={"label": wanted}):
            labels = image.get("Labels") or {}
            if not _is_our_artifact(labels, self.image_name, self.target):  # never trust the filter alone
                continue
            if not self._made_by_its_build(image["Id"]):
                continue  # built FROM one of ours: it has our labels, but it is not ours
            found.append({
                "id": image["Id"],
                "version": labels.get(naming.LABEL_IMAGE_VERSION),
                "build_id": labels.get(naming.LABEL_BUILD_ID),
                "target": labels.get(naming.LABEL_TARGET),
                "created": parse_time(labels.get(naming.LABEL_CREATED)) or _epoch(image.get("Created")),
                "all_tags": sorted(t for t in image.get("RepoTags") or [] if t != "<none>:<none>"),
            })
        return found

    def _made_by_its_build(self, image_id):
        try:
            return naming.is_our_docker_image(self.client.api.inspect_image(image_id))
        except docker_errors.NotFound:
            return False

    @staticmethod
    def current_ids(artifacts, current):
        """Full ids of the artifacts that `current` names: full or short ids (with or without sha256:) or tags."""
        ids = set()
        for value in current or ():
            value = str(value)
            bare = value.split(":", 1)[1] if value.startswith("sha256:") else value
            for a in artifacts:
                digest = a["id"].split(":", 1)[-1]
                if value == a["id"] or (len(bare) >= 12 and digest.startswith(bare)) or value in a["all_tags"]:
                    ids.add(a["id"])
        return ids

    def _users(self):
        """image id -> names of the containers (running or not) created from it."""
        users = {}
        for c in self.client.api.containers(all=True):
            names = [n.lstrip("/") for n in c.get("Names") or []] or [c.get("Id", "")[:12]]
            users.setdefault(c.get("ImageID"), []).extend(names)
        return users

    def plan(self, count=None, days=None, current=(), now=None):
        """What apply() would do: {"remove": [...], "kept": [...], "skipped": [...]}, nothing changed.

        Each entry to remove has `tags` (the tags in our repositories to remove) and `deleted`
        (whether the image itself goes: it keeps no tag in another repository).
        """
        artifacts = self.artifacts()
        chosen = select(artifacts, count, days, self.current_ids(artifacts, current), now)
        users = self._users() if chosen["remove"] else {}
        plan = {"remove": [], "kept": [_public(a, tags=a["all_tags"]) for a in chosen["keep"]],
                "skipped": [_public(a, tags=a["all_tags"]) for a in chosen["skipped"]]}
        for a in chosen["remove"]:
            ours = [t for t in a["all_tags"] if repository_of(t) in self.repositories]
            others = [t for t in a["all_tags"] if t not in ours]
            if users.get(a["id"]):
                plan["skipped"].append(_public(a, tags=a["all_tags"], reason="used by container(s) %s; never forced"
                                               % ", ".join(sorted(users[a["id"]]))))
            elif others and not ours:
                plan["skipped"].append(_public(a, tags=a["all_tags"], reason="tagged only outside the repositories "
                                               "%s" % ", ".join(sorted(self.repositories))))
            else:
                plan["remove"].append(_public(a, tags=ours, remaining_tags=others, deleted=not others))
        return plan

    def apply(self, plan):
        """Carry out a plan(): untag, then delete images left without a tag. Returns
        {"removed", "kept", "skipped", "errors"}; an image a container took in the meantime moves to skipped."""
        done = {"removed": [], "kept": list(plan["kept"]), "skipped": list(plan["skipped"]), "errors": []}
        for entry in plan["remove"]:
            untagged, problem = [], None
            for tag in entry["tags"]:
                try:
                    if self.client.api.inspect_image(tag)["Id"] != entry["id"]:
                        continue  # a build moved the tag to another image since plan(): it is not ours to remove
                    # by reference: untags; with the last tag (and no container or child) the engine deletes the image
                    self.client.api.remove_image(tag)
                    untagged.append(tag)
                except docker_errors.NotFound:
                    continue  # gone already
                except docker_errors.APIError as e:
                    problem = e
                    break
                except RequestException as e:
                    problem = e
                    break
            if problem is not None:
                self._failed(done, entry, untagged, problem)
                continue
            deleted, problem = self._delete_if_untagged(entry["id"])
            if problem is not None:
                self._failed(done, entry, untagged, problem)
                continue
            done["removed"].append(dict(entry, tags=untagged, deleted=deleted))
        return done

    def _delete_if_untagged(self, image_id):
        """(deleted, error): delete the image unless a tag is left on it; never forced."""
        try:
            tags = self.client.api.inspect_image(image_id).get("RepoTags") or []
        except docker_errors.NotFound:
            return True, None  # its last tag went, and the engine deleted it with that
        except (docker_errors.APIError, RequestException) as e:
            return False, e
        if tags:
            return False, None
        try:
            self.client.api.remove_image(image_id)
        except docker_errors.NotFound:
            pass
        except (docker_errors.APIError, RequestException) as e:
            return False, e
        return True, None

    @staticmethod
    def _failed(done, entry, untagged, error):
        if getattr(error, "status_code", None) == 409:
            # a container (or a child image) uses it: not ours to force; report, do not fail
            done["skipped"].append(dict(entry, tags_removed=untagged, reason="in use, not removed: %s" % error_text(error)))
        else:
            done["errors"].append("image %s (%s): %s" % (entry["id"], entry.get("version"), error_text(error)))
            if untagged:
                done["removed"].append(dict(entry, tags=untagged, deleted=False))


# --- EC2 --------------------------------------------------------------------------------------

def ami_filters(image_name, target=None):
    filters = [{"Name": "tag:" + naming.LABEL_KIND, "Values": [naming.KIND_ARTIFACT]},
               {"Name": "tag:" + naming.LABEL_IMAGE_NAME, "Values": [image_name]},
               {"Name": "tag-key", "Values": [naming.LABEL_BUILD_ID]}]
    if target:
        filters.append({"Name": "tag:" + naming.LABEL_TARGET, "Values": [target]})
    return filters


class AmiRetention:
    """Older AMIs of one image name (and target), owned by this account, in every region given.

    A build's AMIs (the original and its copies) are one artifact: kept or removed together, in
    every region. client_for(service, region) -> boto3 client.
    """

    def __init__(self, client_for, image_name, regions, target=None, waits=None, page_size=None):
        self.client_for = client_for
        self.image_name, self.target = image_name, target
        self.regions = list(dict.fromkeys(regions))
        self.waits = waits or Waits()
        self.page_size = page_size
        self._clients = {}

    def ec2(self, region):
        if region not in self._clients:
            self._clients[region] = self.client_for("ec2", region)
        return self._clients[region]

    def find(self, region):
        """Our artifact AMIs in one region (every page), checked tag by tag after EC2's filter."""
        paging = {"PageSize": self.page_size} if self.page_size else {}
        pages = self.ec2(region).get_paginator("describe_images").paginate(
            Owners=["self"], Filters=ami_filters(self.image_name, self.target), PaginationConfig=paging)
        found = []
        for page in pages:
            for image in page["Images"]:
                tags = res.tag_dict(image)
                if _is_our_artifact(tags, self.image_name, self.target) and naming.is_our_ami(image):
                    found.append(image)
        return found

    def artifacts(self):
        """One dict per build: id = build id, ids = its AMI ids, images = [{region, id, name, snapshots}]."""
        builds = {}
        for region in self.regions:
            for image in self.find(region):
                tags = res.tag_dict(image)
                build = builds.setdefault(tags[naming.LABEL_BUILD_ID], {
                    "id": tags[naming.LABEL_BUILD_ID], "ids": [], "images": [], "created": None,
                    "version": tags.get(naming.LABEL_IMAGE_VERSION), "build_id": tags[naming.LABEL_BUILD_ID],
                    "target": tags.get(naming.LABEL_TARGET)})
                build["ids"].append(image["ImageId"])
                build["images"].append({"region": region, "id": image["ImageId"], "name": image.get("Name"),
                                        "state": image.get("State"), "snapshots": res.image_snapshot_ids(image)})
                created = res.created_at(image)
                if created is not None and (build["created"] is None or created < build["created"]):
                    build["created"] = created  # a copy is made later than the build: the earliest counts
        return list(builds.values())

    def plan(self, count=None, days=None, current=(), now=None):
        """{"remove", "kept", "skipped"}: one entry per AMI (id, region, name, snapshots, version, ...)."""
        chosen = select(self.artifacts(), count, days, current, now)

        def per_ami(builds):
            return [_public(b, **image) for b in builds for image in b["images"]]
        remove = per_ami(chosen["remove"])
        # an AMI still being made or copied belongs to a build in progress: leave it to a later run
        pending = [dict(e, reason="AMI is %s, not available yet" % e["state"]) for e in remove if e["state"] == "pending"]
        return {"remove": [e for e in remove if e["state"] != "pending"], "kept": per_ami(chosen["keep"]),
                "skipped": per_ami(chosen["skipped"]) + pending}

    def apply(self, plan):
        """Deregister the AMIs of a plan() and delete their snapshots; goes on after an error.

        A snapshot that an AMI which stays (kept or skipped) also uses is not deleted.
        """
        done = {"removed": [], "kept": list(plan["kept"]), "skipped": list(plan["skipped"]), "errors": []}
        protected = {s for e in plan["kept"] + plan["skipped"] for s in e.get("snapshots") or []}
        for entry in plan["remove"]:
            try:
                deleted = self._deregister(entry["region"], entry["id"], protected)
            except AWS_ERRORS as e:
                done["errors"].append("AMI %s in %s (%s): %s" % (entry["id"], entry["region"], entry.get("version"), e))
                continue
            done["removed"].append(dict(entry, snapshots=deleted))
        return done

    def _deregister(self, region, image_id, protected):
        """Deregister one AMI, then delete its snapshots (those not protected). Returns the snapshots deleted."""
        ec2 = self.ec2(region)
        try:
            images = ec2.describe_images(ImageIds=[image_id])["Images"]
        except ClientError as e:
            if error_code(e) in res.NOT_FOUND["image"]:
                return []  # gone already
            raise
        if not images:
            return []
        snapshots = res.image_snapshot_ids(images[0])
        try:
            ec2.deregister_image(ImageId=image_id)
        except ClientError as e:
            if error_code(e) not in res.NOT_FOUND["image"]:
                raise
        return [s for s in snapshots if s not in protected and res.delete_snapshot(ec2, s, self.waits)]


ATTESTATION_KINDS = ("provenance", "sbom")


def attestation_files(directory, image_name, removed, kept, target=None):
    """The signed statements (docs/provenance.md) of the removed artifacts, written beside the manifest as
    <image>-<version>-<target>.<kind>.dsse.json. A version that a kept artifact of the same target also has
    shares those files (a rebuild overwrote them), so its files stay."""
    kept_keys = {(a.get("target") or target, str(a.get("version"))) for a in kept}
    paths = []
    for a in removed:
        key = (a.get("target") or target, str(a.get("version")))
        if key in kept_keys or not key[0] or key[1] == "None":
            continue
        for kind in ATTESTATION_KINDS:
            path = os.path.join(directory, "%s-%s-%s.%s.dsse.json" % (image_name, key[1], key[0], kind))
            if path not in paths:
                paths.append(path)
    return paths
