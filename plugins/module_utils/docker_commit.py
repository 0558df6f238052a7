# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Commit a builder container into an image with an exact config, then tag it everywhere.

The engine merges the *container's* config into a commit (daemon/commit.go `merge`): any field we
leave empty is filled from the builder. So the full config is always given explicitly, starting
from the base image's, and the builder is started with nothing that could leak (see docker_builder).
"""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.module_utils.docker_client import (
    DockerFailure,
    RequestException,
    docker_errors,
    error_text,
)
from ansible_collections.immutable.images.plugins.module_utils.references import split_reference

_HEALTHCHECK_KEYS = {"test": "Test", "interval": "Interval", "timeout": "Timeout",
                     "start_period": "StartPeriod", "retries": "Retries"}


def _env_list_to_dict(env):
    result = {}
    for item in env or []:
        key, _sep, value = item.partition("=")
        result[key] = value
    return result


def final_config(base, config, labels):
    """The image config of the artifact, in Docker API field names.

    base: the base image's Config; config: the target's normalized `config`; labels: labels the
    build adds (build id, OCI). User labels win over ours, ours over the base image's.
    """
    base = base or {}
    result = {
        "User": config.get("user", base.get("User") or ""),
        "WorkingDir": config.get("workdir", base.get("WorkingDir") or ""),
        "StopSignal": config.get("stop_signal", base.get("StopSignal") or ""),
    }
    # ENTRYPOINT resets CMD, as in a Dockerfile. Entrypoint is never None: None would let the
    # builder's keep-alive entrypoint leak into the image.
    if "entrypoint" in config:
        result["Entrypoint"] = list(config["entrypoint"])
        result["Cmd"] = list(config["cmd"]) if "cmd" in config else None
    else:
        result["Entrypoint"] = list(base.get("Entrypoint") or [])
        result["Cmd"] = list(config["cmd"]) if "cmd" in config else base.get("Cmd")
    env = _env_list_to_dict(base.get("Env"))
    env.update(config.get("env") or {})
    result["Env"] = ["%s=%s" % kv for kv in env.items()]
    ports = dict(base.get("ExposedPorts") or {})
    ports.update({p: {} for p in config.get("expose") or []})
    result["ExposedPorts"] = ports
    volumes = dict(base.get("Volumes") or {})
    volumes.update({v: {} for v in config.get("volumes") or []})
    result["Volumes"] = volumes
    all_labels = dict(base.get("Labels") or {})
    all_labels.update(labels or {})
    all_labels.update(config.get("labels") or {})
    result["Labels"] = all_labels
    if config.get("healthcheck"):
        result["Healthcheck"] = {_HEALTHCHECK_KEYS[k]: v for k, v in config["healthcheck"].items()}
    elif base.get("Healthcheck"):
        result["Healthcheck"] = base["Healthcheck"]
    return result


class ImageCommitter:
    def __init__(self, client):
        self.client = client

    def _image_id(self, ref):
        try:
            return self.client.images.get(ref).id
        except docker_errors.ImageNotFound:
            return None

    def plan(self, container_name, config, labels, base_image=None):
        """(container, base image id, final config) without changing anything.

        base_image: the image the build started from; by default the one the builder runs, which is
        a cache layer when the layer cache was used - its config must not be the artifact's.
        """
        try:
            container = self.client.containers.get(container_name)
        except docker_errors.NotFound:
            raise DockerFailure("commit", "builder %s does not exist" % container_name)
        base_id = base_image or container.attrs.get("Image")
        try:
            base_config = self.client.images.get(base_id).attrs.get("Config") or {}
        except docker_errors.ImageNotFound:
            base_config = {}
        return container, base_id, final_config(base_config, config, labels)

    def commit(self, container_name, config, labels, refs, message=None, author=None, base_image=None):
        """Commit and tag; on any failure leave no new image and restore tags that were moved."""
        container, base_id, conf = self.plan(container_name, config, labels, base_image)
        try:
            result = self.client.api.commit(container.id, message=message, author=author, conf=conf, pause=True)
        except (docker_errors.APIError, RequestException) as e:
            raise DockerFailure("commit", "cannot commit %s: %s" % (container_name, error_text(e)))
        image_id = result["Id"]
        previous = self.tag(image_id, refs)
        return {"image_id": image_id, "base_image_id": base_id, "tags": list(refs), "config": conf,
                "previous": previous}

    def tag(self, image_id, refs):
        """Tag image_id as every ref; return {ref: image id it pointed at before, or None} for rollback()."""
        previous = {ref: self._image_id(ref) for ref in refs}
        try:
            for ref in refs:
                repo, tag, _digest = split_reference(ref)
                self.client.api.tag(image_id, repo, tag or "latest", force=True)
        except (docker_errors.APIError, RequestException) as e:
            self.rollback(image_id, previous)
            raise DockerFailure("tag", "cannot tag %s as %s: %s" % (image_id, ref, error_text(e)))
        return previous

    def rollback(self, image_id, previous):
        """Point moved tags back at their old images, then delete the new image (a later stage, such
        as push or save, failed: the build must not leave a half-published image)."""
        for ref, old in previous.items():
            repo, tag, _digest = split_reference(ref)
            try:
                if old and old != image_id:
                    self.client.api.tag(old, repo, tag or "latest", force=True)
            except (docker_errors.APIError, RequestException):
                pass  # best effort: the new image is removed below either way
        try:
            self.client.api.remove_image(image_id, force=True)
        except (docker_errors.APIError, RequestException):
            pass
