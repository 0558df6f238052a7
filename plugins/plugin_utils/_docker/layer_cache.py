# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-role layer cache for docker builders.

After a role succeeds with no handler pending, the builder is committed to a cache image. The key of
role N chains the key of role N-1 (the base image id for the first role) with the files' digest, the
role's name, content digest and tags, its variables *as templated on the builder*, and the build's
facts setting and command-line tags - so a changed variable, file, role, setting or base image
invalidates that role and every one after it. A layer is stored only when no handler is pending (a
pending handler runs at the end of provisioning, as in a play); the roles that ran with handlers
pending are stored as one layer, under the last role's key, after the handlers ran.

A hit does not touch the builder: consecutive hits only move the "current layer". The builder is
re-created from the current layer once, before the first role that has to run (or at the end),
which keeps a fully cached build to one container swap.
"""

from __future__ import annotations

import hashlib
import json
import os

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.builder import DockerBuilder
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DockerFailure,
    RequestException,
    docker_errors,
    error_text,
)

# A layer is found by its tag. Its labels are the build labels (kind=cache), all of which the final
# commit overrides, so nothing cache-specific can leak into an artifact through the engine's merge.
CACHE_REPOSITORY = "immutable-images-cache/%s"


def state_path(workdir, container):
    """The builder's cache state (action/layer_cache.py says what it holds): a file of the build's work directory."""
    return os.path.join(workdir, "layers-%s.json" % container)


def read_state(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def builder_layer(workdir, container):
    """The cache layer the builder's filesystem is, after provisioning (sync stored the last role's layer or swapped
    the builder to the last cached one, and nothing since has written to it), or None: no cache, no roles, a role
    whose layer is not stored."""
    state = read_state(state_path(workdir, container))
    return state["layer"] if state.get("synced") and state.get("layer") and state["layer"] == state.get("at") else None


def cache_key(parent, files_digest, role_name, role_digest, role_vars, role_tags=None, play=None, environment=None):
    """The cache key of one role: parent is the previous role's key (the base image id for the first role),
    role_vars the templated values the role receives, role_tags its entry's tags, play what else decides
    what the role does (the facts setting, the tags selected on the command line) and environment the task
    environment it runs with (build_env: only its sha256 goes into the key, never its values)."""
    data = {"parent": parent, "files": files_digest, "role": role_name, "digest": role_digest, "vars": role_vars,
            "tags": role_tags or [], "play": play or {}}
    if environment:  # left out when empty
        data["env"] = environment
    data = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


class LayerCache:
    def __init__(self, client):
        self.client = client

    def pin(self, image_name, key, labels):
        """Look up the layer for key and hold it: (image id, pin container id), or None on a miss.

        The pin is a container created (never started) from the layer's tag: the engine resolves the tag and
        records the container's use of the image in one step, and from then on refuses to delete the image
        for the janitor's unforced removal by tag (cleanup.py). So a layer found is a layer that stays until the
        builder runs from it (then the running builder holds it) and the pin is removed (unpin)."""
        ref = "%s:%s" % (CACHE_REPOSITORY % image_name, key)
        pin_labels = dict(labels, **{naming.LABEL_KIND: naming.KIND_CACHE_PIN})
        try:
            pin = self.client.api.create_container(ref, entrypoint=["/bin/true"], command=[], labels=pin_labels,
                                                   network_disabled=True)["Id"]
            return self.client.api.inspect_container(pin)["Image"], pin
        except docker_errors.NotFound:
            return None  # no such layer (never stored, or pruned): a miss
        except (docker_errors.APIError, RequestException) as e:
            raise DockerFailure("cache", "cannot look up the layer %s: %s" % (ref, error_text(e)))

    def unpin(self, pin):
        """Remove a pin (pin()); gone already is fine. A pin left behind is removed with the build's builders."""
        if not pin:
            return
        try:
            self.client.api.remove_container(pin, force=True)
        except (docker_errors.APIError, RequestException):
            pass  # NotFound, or the engine busy: the end-of-build cleanup removes it by its labels

    def store(self, container_name, key, image_name, labels):
        """Commit the builder as the cache layer for key; return the new image id.

        The container's config goes in as it is: a cache layer is never an artifact, and the final
        commit sets the artifact's config explicitly from the base image's.
        """
        cache_labels = dict(labels, **{naming.LABEL_KIND: naming.KIND_CACHE})
        try:
            image_id = self.client.api.commit(container_name, conf={"Labels": cache_labels}, pause=True,
                                              message=naming.build_comment(labels.get(naming.LABEL_BUILD_ID)))["Id"]
            # Tagged: that is how it is found, and a tagged image is not a dangling one that cleanup removes.
            self.client.api.tag(image_id, CACHE_REPOSITORY % image_name, key)
        except (docker_errors.APIError, RequestException) as e:
            raise DockerFailure("cache", "cannot store the layer cache of %s: %s" % (container_name, error_text(e)))
        return image_id

    def swap(self, container_name, image_id, target, lease_pid=None):
        """Re-create the builder from a cached layer, with the same name, labels and settings (its connection is
        reset by the caller: it finds the new container by the same name)."""
        builder = DockerBuilder(self.client)
        builder.remove(container_name)
        builder.launch(container_name, image_id, target["labels"], pull="never", platform=target.get("platform"),
                       network_mode=target.get("network_mode"), volumes=target.get("build_volumes"),
                       privileged=target.get("privileged"), lease_pid=lease_pid, docker_host=target.get("docker_host"))
