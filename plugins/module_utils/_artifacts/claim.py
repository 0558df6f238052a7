# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One artifact per build hash and engine, when identical builds run at once (a double CI trigger).

Two builds of the same definition tag the same references, `<version>-<build hash>` included. Without an
agreement, the second to tag takes every tag, the first's image is left untagged and is deleted as superseded,
and the first's manifest says it succeeded with it. So before it commits, a build claims the artifact on the
engine: it creates a container (never started) whose name is derived from image name, target and build hash.
The engine gives a name to one container only, in one step, so one build holds the claim; the others wait
until it is released and then reuse what the holder made (or make it themselves, when the holder failed).

The claim is released with the holder's temporary resources at the end of its build (cleanup.py removes it by
build id, as do the build guard and the janitor), after its push, save and rollback: a waiting build never reuses
an artifact that a failed push is about to delete. A claim whose holder is no longer running (no running, leased
builder of its build id: it was killed) is stale and removed by the next build that wants it.
"""

from __future__ import annotations

import hashlib
import time

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._artifacts.reuse import LABEL_BASE_ID, find_docker_artifact
from ansible_collections.immutable.images.plugins.module_utils._docker.janitor import build_alive
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DockerFailure,
    RequestException,
    docker_errors,
    error_text,
)
from ansible_collections.immutable.images.plugins.module_utils._common.references import split_reference

WAIT = 3600  # seconds a build waits for another build of the same hash before it fails
POLL = 1.0


def claim_name(image_name, target, build_hash):
    key = "\0".join((image_name, target, build_hash)).encode("utf-8")
    return "immutable-images-claim-" + hashlib.sha256(key).hexdigest()[:32]


class ArtifactClaim:
    def __init__(self, client, wait=WAIT, poll=POLL, sleep=time.sleep, clock=time.monotonic):
        self.client = client
        self.wait, self.poll, self.sleep, self.clock = wait, poll, sleep, clock

    def acquire(self, labels, image, force=False):
        """Hold the claim of the artifact `labels` describe; return the artifact to reuse instead of committing
        ({image_id, tags, created, build_id}, from built_artifacts.find_docker_artifact), or None: commit.

        image: an image on the engine to create the claim's container from (the builder's base).
        force: image_force - reuse only what a build made while this one waited for it, never an older artifact.
        """
        build_id = labels[naming.LABEL_BUILD_ID]
        name = claim_name(labels[naming.LABEL_IMAGE_NAME], labels[naming.LABEL_TARGET], labels[naming.LABEL_BUILD_HASH])
        claim_labels = {k: v for k, v in labels.items() if k.startswith(naming.LABEL_PREFIX + ".")}
        claim_labels[naming.LABEL_KIND] = naming.KIND_CLAIM
        deadline, waited_for = self.clock() + self.wait, set()
        while True:
            holder = self._create(name, image, claim_labels)
            if holder is None or holder[1] == build_id:
                break  # ours
            holder_id, holder_build = holder
            if not holder_id:
                continue  # released between our create and our look
            if not self._alive(holder_build):
                self._remove(holder_id)  # its build was killed: the claim is stale
                continue
            waited_for.add(holder_build)
            if self.clock() > deadline:
                raise DockerFailure("commit", "build %s still makes the same artifact (claim %s) after %d s"
                                    % (holder_build, name, self.wait))
            self.sleep(self.poll)
        found = find_docker_artifact(self.client, labels[naming.LABEL_IMAGE_NAME], labels[naming.LABEL_TARGET],
                                     labels[naming.LABEL_BUILD_HASH], labels.get(LABEL_BASE_ID))
        if found and (not force or found["build_id"] in waited_for):
            return found
        return None

    def tag(self, image_id, refs):
        """Point every ref at the reused image. Never rolled back by deleting it: the image is another build's."""
        for ref in refs:
            repo, tag, _digest = split_reference(ref)
            try:
                self.client.api.tag(image_id, repo, tag or "latest", force=True)
            except (docker_errors.APIError, RequestException) as e:
                raise DockerFailure("tag", "cannot tag %s as %s: %s" % (image_id, ref, error_text(e)))

    def _create(self, name, image, labels):
        """None when this call created the claim; else (container id, build id) of its holder."""
        try:
            self.client.api.create_container(image, name=name, entrypoint=["/bin/true"], command=[], labels=labels,
                                             network_disabled=True, use_config_proxy=False)
            return None
        except docker_errors.APIError as e:
            if e.status_code != 409:
                raise DockerFailure("commit", "cannot claim the artifact (%s): %s" % (name, error_text(e)))
        except RequestException as e:
            raise DockerFailure("commit", "cannot claim the artifact (%s): %s" % (name, error_text(e)))
        try:
            holder = self.client.api.inspect_container(name)
        except docker_errors.NotFound:
            return ("", "")  # released in the meantime: try again
        except (docker_errors.APIError, RequestException) as e:
            raise DockerFailure("commit", "cannot look at the claim %s: %s" % (name, error_text(e)))
        return holder["Id"], ((holder.get("Config") or {}).get("Labels") or {}).get(naming.LABEL_BUILD_ID) or ""

    def _alive(self, build_id):
        if not build_id:
            return True  # not ours to judge: wait for it like for any holder
        filters = {"label": ["%s=%s" % (naming.LABEL_BUILD_ID, build_id), "%s=%s" % (naming.LABEL_KIND, naming.KIND_BUILDER)]}
        try:
            return any(build_alive(c) for c in self.client.containers.list(all=True, ignore_removed=True, filters=filters))
        except (docker_errors.APIError, RequestException) as e:
            raise DockerFailure("commit", "cannot look at the builders of build %s: %s" % (build_id, error_text(e)))

    def _remove(self, container_id):
        try:
            self.client.api.remove_container(container_id, force=True, v=True)  # with the volumes of an image's VOLUME
        except (docker_errors.APIError, RequestException):
            pass  # gone already, or another build removes it: the next create decides
