# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Commit a builder container into an image with an exact config, then tag it everywhere.

The engine merges the *container's* config into a commit (daemon/commit.go `merge`): any field we
leave empty is filled from the builder. So the full config is always given explicitly, starting
from the base image's, and the builder is started with nothing that could leak (see docker_builder).

A squashed commit makes a single-layer image instead: the container's whole filesystem
(`docker export`) becomes the one layer of a docker-archive that is loaded into the engine, with
the config the engine would have given a commit (commit_config(), the same merge).
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import shutil
import tarfile
import tempfile

from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DockerFailure,
    RequestException,
    docker_errors,
    error_text,
    no_read_timeout,
)
from ansible_collections.immutable.images.plugins.module_utils._common.references import split_reference

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


def _env_key(item):
    return item.partition("=")[0]


def commit_config(conf, container_config):
    """The config a commit of a container with `conf` gets: what the engine does (moby daemon/commit.go
    `merge`) - every field `conf` leaves empty is filled from the container's config.

    Field for field as the engine does it, with Go's nil and empty told apart as null and [] / {}:
    an empty Entrypoint keeps the container's Cmd out only when Cmd is set; Labels are never null.
    """
    result = copy.deepcopy(conf)
    cont = copy.deepcopy(container_config or {})
    if not result.get("User"):
        result["User"] = cont.get("User", "")
    ports = result.get("ExposedPorts")
    if not ports:
        result["ExposedPorts"] = cont.get("ExposedPorts")
    else:
        for port in cont.get("ExposedPorts") or {}:
            ports.setdefault(port, {})
    env = result.get("Env")
    if not env:
        result["Env"] = cont.get("Env")
    else:
        keys = {_env_key(item) for item in env}
        env.extend(item for item in cont.get("Env") or [] if _env_key(item) not in keys)
    labels = result.get("Labels")
    if labels is None:
        labels = result["Labels"] = {}
    for key, value in (cont.get("Labels") or {}).items():
        labels.setdefault(key, value)
    if not result.get("Entrypoint"):
        if not result.get("Cmd"):
            result["Cmd"] = cont.get("Cmd")
        if result.get("Entrypoint") is None:
            result["Entrypoint"] = cont.get("Entrypoint")
    if cont.get("Healthcheck") is not None:
        if result.get("Healthcheck") is None:
            result["Healthcheck"] = cont["Healthcheck"]
        else:
            for key in ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
                if not result["Healthcheck"].get(key) and cont["Healthcheck"].get(key):
                    result["Healthcheck"][key] = cont["Healthcheck"][key]
    if not result.get("WorkingDir"):
        result["WorkingDir"] = cont.get("WorkingDir", "")
    volumes = result.get("Volumes")
    if not volumes:
        result["Volumes"] = cont.get("Volumes")
    else:
        volumes.update(cont.get("Volumes") or {})
    if not result.get("StopSignal"):
        result["StopSignal"] = cont.get("StopSignal", "")
    return result


def image_config(config, diff_id, platform, created, comment=None, author=None, created_by=None):
    """The image config JSON (bytes) of a single-layer image; its sha256 is the image id."""
    history = {"created": created, "created_by": created_by or "immutable.images squash"}
    if comment:
        history["comment"] = comment
    if author:
        history["author"] = author
    document = {
        "architecture": platform.get("architecture") or "amd64",
        "os": platform.get("os") or "linux",
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [history],
    }
    if platform.get("variant"):
        document["variant"] = platform["variant"]
    if author:
        document["author"] = author
    if comment:
        document["comment"] = comment  # the image's own comment, as a commit sets it (naming.build_comment)
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def archive_chunks(members, chunk_size=1 << 20):
    """A tar stream, piece by piece, of members (name, bytes) or (name, path of a file): a
    docker-archive that is never held in memory nor written to disk a second time."""
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    for name, content in members:
        info = tarfile.TarInfo(name)
        info.mtime, info.mode = now, 0o644
        if isinstance(content, bytes):
            info.size = len(content)
            yield info.tobuf(format=tarfile.PAX_FORMAT)
            yield content
        else:
            info.size = os.path.getsize(content)
            yield info.tobuf(format=tarfile.PAX_FORMAT)
            with open(content, "rb") as data:
                yield from iter(lambda: data.read(chunk_size), b"")
        if info.size % tarfile.BLOCKSIZE:
            yield tarfile.NUL * (tarfile.BLOCKSIZE - info.size % tarfile.BLOCKSIZE)
    yield tarfile.NUL * (2 * tarfile.BLOCKSIZE)


def _created():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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

    def commit(self, container_name, config, labels, refs, message=None, author=None, base_image=None,
               squash=False, tmpdir=None, before_tagging=None, from_layer=None, layer_only=False):
        """Commit and tag; on any failure leave no new image and restore tags that were moved.

        squash: make a single-layer image with the same config (see squash()); tmpdir: where its
        temporary files go (a directory made and removed inside it; default: the system's).
        from_layer: an image committed from this container that it has not changed since (the last layer the build
        stored); without squash, the image is committed from a never-started container of that layer (see
        _commit_layer): its layers are reused, and the container's changes are not written into a layer again.
        layer_only: the container does not hold from_layer's filesystem (the layer cache left the builder at an earlier
        layer): when from_layer is gone, fail instead of committing the container.
        before_tagging: fn(image_id) run on the untagged candidate (the run tests); if it raises,
        the candidate is deleted and nothing is tagged.
        """
        if squash and layer_only:  # a squash is of the container's filesystem
            raise DockerFailure("commit", "squash cannot be combined with layer_only")
        container, base_id, conf = self.plan(container_name, config, labels, base_image)
        image_id = None
        if squash:
            image_id = self.squash(container, conf, message, author, tmpdir)
        elif from_layer:
            image_id = self._commit_layer(container, from_layer, conf, message, author)
            if image_id is None and layer_only:
                raise DockerFailure("commit", "the layer %s that %s was to be committed from no longer exists"
                                    % (from_layer, container_name))
        if image_id is None:
            try:
                with no_read_timeout(self.client):  # a large layer takes as long as it takes
                    result = self.client.api.commit(container.id, message=message, author=author, conf=conf, pause=True)
            except (docker_errors.APIError, RequestException) as e:
                raise DockerFailure("commit", "cannot commit %s: %s" % (container_name, error_text(e)))
            image_id = result["Id"]
        if before_tagging is not None:
            try:
                before_tagging(image_id)
            except BaseException:
                self.rollback(image_id, {})
                raise
        previous = self.tag(image_id, refs)
        return {"image_id": image_id, "base_image_id": base_id, "tags": list(refs), "config": conf,
                "previous": previous, "squashed": bool(squash)}

    def _commit_layer(self, container, layer, conf, message, author):
        """Commit a created, never-started container of `layer` with the artifact's config: an unchanged container
        adds no layer, so the image is `layer`'s layers and the config (the engine merges the stand-in's config
        where `conf` sets nothing, as it merges the builder's, which `layer` was committed from). The stand-in carries
        the builder's labels (its build id, kind builder): were this process killed, cleanup would find it.
        None when the layer is gone (a janitor pruned it since it was stored): the container itself is committed."""
        try:
            # Not the SDK's default, which adds the docker CLI config's proxies to the stand-in's environment: the
            # commit would keep them in the image's. The engine creates it once the layer's data is on disk.
            with no_read_timeout(self.client):
                stand_in = self.client.api.create_container(layer, labels=container.labels, use_config_proxy=False)["Id"]
        except docker_errors.ImageNotFound:
            return None
        except (docker_errors.APIError, RequestException) as e:
            raise DockerFailure("commit", "cannot create a container of layer %s to commit: %s" % (layer, error_text(e)))
        try:
            return self.client.api.commit(stand_in, message=message, author=author, conf=conf, pause=False)["Id"]
        except (docker_errors.APIError, RequestException) as e:
            raise DockerFailure("commit", "cannot commit %s (layer %s): %s" % (container.name, layer, error_text(e)))
        finally:
            try:
                # v: a container of an image with a VOLUME has volumes of its own, which would stay
                self.client.api.remove_container(stand_in, force=True, v=True)
            except (docker_errors.APIError, RequestException):
                pass  # the end-of-build cleanup removes it by its labels

    def squash(self, container, conf, message=None, author=None, tmpdir=None):
        """A single-layer image of the container's filesystem with the config a commit would get; its id.

        The export goes to a temporary file (hashed on the way: the layer's diff id), then a
        docker-archive of config, manifest and that file is streamed to the engine's image load.
        The image is untagged until tag(); if anything fails, no image and no file is left.
        """
        name = container.name
        config = commit_config(conf, container.attrs.get("Config"))
        platform = self._platform(container.attrs.get("Image"))
        workdir = tempfile.mkdtemp(prefix="immutable-images-squash-", dir=tmpdir)
        try:
            layer = os.path.join(workdir, "layer.tar")
            diff_id = self._export(container, layer)
            created_by = "immutable.images squash of %s" % name
            config_json = image_config(config, diff_id, platform, _created(), comment=message, author=author,
                                       created_by=created_by)
            digest = hashlib.sha256(config_json).hexdigest()
            manifest = json.dumps([{"Config": digest + ".json", "RepoTags": None, "Layers": ["layer/layer.tar"]}])
            members = [(digest + ".json", config_json), ("manifest.json", manifest.encode()), ("layer/layer.tar", layer)]
            return self._load(archive_chunks(members), "sha256:" + digest, name, (diff_id, created_by))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _platform(self, image_id):
        try:
            attrs = self.client.images.get(image_id).attrs
            return {"architecture": attrs.get("Architecture"), "os": attrs.get("Os"), "variant": attrs.get("Variant")}
        except (docker_errors.APIError, RequestException):
            return {}

    def _export(self, container, path):
        """Write the container's filesystem as one tar to path; return its diff id (sha256 of the tar).

        The container is paused meanwhile, as for a commit, so the snapshot is consistent."""
        paused = False
        try:
            container.reload()
            if container.status == "running":
                try:
                    container.pause()
                    paused = True
                except (docker_errors.APIError, RequestException):
                    pass  # an idle builder is consistent enough; the commit would have paused too
            digest = hashlib.sha256()
            with open(path, "wb") as out:
                for chunk in container.export():
                    digest.update(chunk)
                    out.write(chunk)
        except (docker_errors.APIError, RequestException, OSError) as e:
            raise DockerFailure("commit", "cannot export the filesystem of %s for squashing: %s" % (container.name, error_text(e)))
        finally:
            if paused:
                try:
                    container.unpause()
                except (docker_errors.APIError, RequestException):
                    pass
        return "sha256:" + digest.hexdigest()

    def _load(self, chunks, image_id, name, made_of):
        """Load the docker-archive; the id of the image it made, which must be ours: image_id (the sha256 of the config
        we wrote), or, on an engine that stores images in containerd (Docker's containerd image store, the default of
        new installs since Docker 29), where an image's id is the digest of a manifest the engine writes on load, the
        one image loaded whose only layer and only history entry are ours (made_of: (diff id, created_by))."""
        try:
            with no_read_timeout(self.client):  # the engine answers once the whole layer is in
                loaded = [image.id for image in self.client.images.load(chunks)]
        except (docker_errors.DockerException, RequestException, OSError) as e:
            self._remove_quietly(image_id)  # the engine may have stored it before failing
            raise DockerFailure("commit", "cannot load the squashed image of %s: %s" % (name, error_text(e)))
        if loaded == [image_id] or (len(loaded) == 1 and self._made_of(loaded[0]) == made_of):
            return loaded[0]
        for other in loaded:
            self._remove_quietly(other)
        raise DockerFailure("commit", "loading the squashed image of %s gave %s, expected %s"
                            % (name, ", ".join(loaded) or "no image", image_id))

    def _made_of(self, image_id):
        """(diff id, created_by) of a single-layer image with one history entry, else None."""
        try:
            layers = (self.client.api.inspect_image(image_id).get("RootFS") or {}).get("Layers") or []
            history = self.client.api.history(image_id)
        except (docker_errors.APIError, RequestException):
            return None
        if len(layers) != 1 or len(history) != 1:
            return None
        return layers[0], history[0].get("CreatedBy")

    def _remove_quietly(self, image_id):
        try:
            self.client.api.remove_image(image_id, force=True)
        except (docker_errors.APIError, RequestException):
            pass

    def tag(self, image_id, refs):
        """Tag image_id as every ref; return {ref: image id it pointed at before, or None} for rollback()."""
        previous = {}
        try:
            # looked up inside the try: the engine refuses a malformed reference here already (400),
            # and the new image must not be left behind for that either
            for ref in refs:
                previous[ref] = self._image_id(ref)
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
