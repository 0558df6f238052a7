# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Temporary builder containers: start one from a base image, put files into it, remove it."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.module_utils._common import inputs as build_inputs
from ansible_collections.immutable.images.plugins.module_utils._docker import lease as builder_lease, engine_pool
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DockerFailure,
    RequestException,
    docker_errors,
    error_text,
    path_stat,
    removal_in_progress,
    wait_until_gone,
)
from ansible_collections.immutable.images.plugins.module_utils._docker.engine import engine_url
from ansible_collections.immutable.images.plugins.module_utils._docker.registry_auth import RegistryAuth

# The builder idles in a shell reading the stdin its controller's lease holds open (builder_lease.py).
KEEPALIVE_ENTRYPOINT = builder_lease.KEEPALIVE
# Why a builder is gone right after its start, in the messages of the steps that find it so (the launch's check below
# sees most such builders stop, but a builder can still be running then and stop a moment later).
STOPPED_AT_START = ("a builder that stops as soon as it starts has a base image (or layer) whose /bin/sh does not run "
                    "on the engine: one of another architecture than the engine's runs only where the engine emulates "
                    "it (see image_targets[].platform)")


# The build's runtime state (pid files, sockets, locks, temporary files of services a role started)
# lives in memory and never reaches a committed image or cache layer, as on a host where these are
# tmpfs or emptied at boot. /var/run is a link to /run on Debian and Ubuntu. What the base image has
# there is copied in (the engine's default tmpcopyup).
BUILD_TMPFS = {"/run": "rw,exec,nosuid,nodev,mode=755", "/run/lock": "rw,noexec,nosuid,nodev,mode=1777",
               "/tmp": "rw,exec,nosuid,nodev,mode=1777", "/var/tmp": "rw,exec,nosuid,nodev,mode=1777"}


class DockerBuilder:
    def __init__(self, client):
        self.client = client

    def find(self, name):
        try:
            return self.client.containers.get(name)
        except docker_errors.NotFound:
            return None

    def ensure_image(self, image, pull="missing", platform=None, auth=None):
        """Return (Image, pulled) honouring the pull policy: missing | always | never. auth: credentials for the
        image's registry (what RegistryAuth takes, or one); without, the Docker client configuration's (docker login)."""
        if pull != "always":
            try:
                return self.client.images.get(image), False
            except docker_errors.ImageNotFound:
                if pull == "never":
                    raise DockerFailure("launch", "base image %s is not present on the engine and pull is 'never'" % image)
        try:
            auth_config = RegistryAuth.of(auth, "launch").for_image(image)  # ECR's asked for only when it pulls
            return self.client.images.pull(image, platform=platform, auth_config=auth_config), True
        except (docker_errors.APIError, RequestException) as e:
            raise DockerFailure("launch", "cannot pull base image %s: %s" % (image, error_text(e)))

    def launch(self, name, image, labels, pull="missing", platform=None, network_mode=None,
               volumes=None, privileged=False, check_mode=False, lease_pid=None, docker_host=None, admit=None,
               from_layer=None, start=True, pull_auth=None):
        """Start the builder `name` unless it already runs; return (changed, facts).

        from_layer: an image of the layer cache to create it from instead of `image`, its base (facts: base_image_id),
        while that layer is on the engine.
        start: false creates the builder of from_layer and never starts it (nothing is to run on it: the artifact is
        committed from that layer, which the container holds on the engine meanwhile). Such a builder has no lease (a
        lease ends a running builder): the build's cleanup, its guard or the janitor removes it by its labels. When
        that layer is gone, the builder is started from `image` as without from_layer (facts: status running).

        With lease_pid (ansible-playbook's pid), the builder removes itself once that process and its
        lease are gone (builder_lease.py); without it, it idles until removed. admit(container id), for a
        builder placed by an engine pool: called once it is created; when it says no, the builder is removed
        again and engine_pool.NotAdmitted raised."""
        existing = self.find(name)
        if existing is not None:
            if existing.status != ("running" if start else "created"):
                raise DockerFailure("launch", "container %s exists but is %s; remove it or use a new build id"
                                    % (name, existing.status))
            return False, self.facts(existing)
        if check_mode:
            return True, {"name": name, "image": image}
        if not (start or from_layer):
            raise DockerFailure("launch", "a builder that is not started is created from a layer (from_layer)")
        base, pulled = self.ensure_image(image, pull, platform, pull_auth)
        try:
            container = None
            if from_layer:
                try:
                    container = self._create(name, from_layer, labels, platform, network_mode, volumes, privileged,
                                             lease_pid if start else None)
                except docker_errors.ImageNotFound:
                    # gone since the plan looked: the layer lookups send the builder where it has to be
                    start = True
            if container is None:
                container = self._create(name, base.id, labels, platform, network_mode, volumes, privileged, lease_pid)
            if admit is not None and not admit(container.id):
                self.remove(name)
                raise engine_pool.NotAdmitted(name)
            if lease_pid and start:
                # attached before it starts, as `docker run -i`; over the same engine URL and TLS as this client
                engine = getattr(self.client.api, "immutable_engine", None) or {"url": engine_url(docker_host)}
                builder_lease.hold(container.id, lease_pid, engine)
            if start:
                container.start()
        except builder_lease.LeaseError as e:
            self.remove(name)
            raise DockerFailure("launch", "cannot hold the lease of builder %s: %s" % (name, e))
        except (docker_errors.APIError, RequestException) as e:
            self.remove(name)  # a container can exist even though starting it failed
            raise DockerFailure("launch", "cannot start builder %s from %s: %s" % (name, image, error_text(e)))
        facts = self._started_facts(container) if start else self.facts(container)
        facts.update(pulled=pulled, base_image=image, base_image_id=base.id)
        return True, facts

    def _started_facts(self, container):
        """The facts of a builder just started, which must be running: one whose keep-alive shell ended at once (the
        engine is already removing a leased one) would otherwise only show as gone at the first step that uses it."""
        try:
            facts = self.facts(container)
        except docker_errors.NotFound:
            facts = {"status": "removed"}
        if facts["status"] == "running":
            return facts
        state = (container.attrs.get("State") or {}) if facts["status"] != "removed" else {}
        try:
            said = container.logs(tail=3).decode("utf-8", "replace").strip() if state else ""
        except (docker_errors.APIError, RequestException):
            said = ""
        self.remove(container.name)
        raise DockerFailure("launch", "builder %s stopped as soon as it started (%s)%s: %s" % (
            container.name, "exit code %s" % state["ExitCode"] if "ExitCode" in state else facts["status"],
            ": %s" % said.replace("\n", " | ") if said else "", STOPPED_AT_START))

    def _create(self, name, image_id, labels, platform, network_mode, volumes, privileged, leased):
        """Create (not start) the builder. Leased: its stdin closes when the lease's connection does
        (StdinOnce, which the SDK's create() does not offer) and the engine then removes it (AutoRemove)."""
        # The SDK's own translation of run()/create() arguments (volumes to binds and mount points, ...).
        from docker.models.containers import _create_container_args

        kwargs = _create_container_args(dict(
            image=image_id, entrypoint=KEEPALIVE_ENTRYPOINT, detach=True, stdin_open=True, tty=False, labels=labels,
            network_mode=network_mode or None, volumes=list(volumes or []), privileged=bool(privileged),
            tmpfs=dict(BUILD_TMPFS), auto_remove=bool(leased), version=self.client.api._version))
        config = self.client.api.create_container_config(**dict(kwargs, command=None))
        config["StdinOnce"] = bool(leased)
        created = self.client.api.create_container_from_config(config, name=name, platform=platform)
        return self.client.containers.get(created["Id"])

    @staticmethod
    def facts(container):
        container.reload()
        return {
            "id": container.id,
            "name": container.name,
            "image_id": container.attrs.get("Image"),
            "status": container.status,
            "labels": container.labels,
        }

    def remove(self, name):
        """Remove the container with its anonymous volumes; True if there was one."""
        container = self.find(name)
        if container is None:
            return False
        try:
            container.remove(force=True, v=True)
        except docker_errors.NotFound:
            return False
        except docker_errors.APIError as e:
            if not removal_in_progress(e):
                raise DockerFailure("cleanup", "cannot remove builder %s: %s" % (name, error_text(e)))
            wait_until_gone(self.client, container.id)
        except RequestException as e:
            raise DockerFailure("cleanup", "cannot remove builder %s: %s" % (name, error_text(e)))
        return True

    def _is_directory(self, container, path):
        """Whether `path` is a directory in the container, through links as `test -d` says (about 1 ms: no process in
        the container)."""
        stat = path_stat(self.client.api, container.id, path)
        return bool(stat and stat["mode"] & (1 << 31))  # Go's os.ModeDir

    def upload(self, name, archive_path):
        """Put a tar (names relative to /) into the builder with one archive API call."""
        container = self.find(name)
        if container is None:
            raise DockerFailure("upload", "builder %s does not exist (%s)" % (name, STOPPED_AT_START))
        try:
            # The engine applies a directory entry's mode and owner to a directory that exists (`/etc`), and puts a
            # directory in place of a link to one (`/lib` on a merged-/usr system, which breaks every program): leave
            # those entries out, as `tar --no-overwrite-dir --keep-directory-symlink` does on ssh builders.
            existing = build_inputs.existing_directories(archive_path, lambda path: self._is_directory(container, path))
            with open(archive_path, "rb") as data:
                ok = container.put_archive("/", build_inputs.archive_without(data, existing) if existing else data)
        except (docker_errors.APIError, RequestException) as e:
            raise DockerFailure("upload", "cannot upload files into %s: %s" % (name, error_text(e)))
        if not ok:
            raise DockerFailure("upload", "the engine refused the files archive for %s" % name)
