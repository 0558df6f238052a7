# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that makes Docker SDK clients, for modules and controller-side plugins alike."""

from __future__ import annotations

import os
import time
import traceback

from ansible.module_utils.basic import env_fallback

try:
    import docker
    from docker import errors as docker_errors  # noqa: F401 - re-exported for callers
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported by the module
    docker = docker_errors = None
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

try:
    from requests.exceptions import RequestException
except ImportError:  # pragma: no cover
    RequestException = OSError

# Options every Docker module takes; documented by the immutable.images.docker doc fragment.
DOCKER_COMMON_ARGS = dict(
    docker_host=dict(type="str", fallback=(env_fallback, ["DOCKER_HOST"])),
    timeout=dict(type="int", default=120),
)


class DockerFailure(Exception):
    """A Docker operation failed; `stage` says which step of the build it was."""

    def __init__(self, stage, message):
        self.stage = stage
        super().__init__(message)


def get_client(docker_host=None, timeout=120):
    """A DockerClient for docker_host, else DOCKER_HOST/DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, else the local socket."""
    if not HAS_DOCKER:
        raise DockerFailure("client", "the Docker SDK for Python (pip package 'docker') is required on the controller")
    environment = dict(os.environ)
    if docker_host:
        environment["DOCKER_HOST"] = docker_host
    try:
        return docker.from_env(environment=environment, timeout=timeout, version="auto")
    except (docker_errors.DockerException, RequestException) as e:
        raise DockerFailure("client", "cannot reach the Docker engine at %s: %s"
                            % (docker_host or environment.get("DOCKER_HOST") or "the local socket", e))


def client_from_module(module):
    """get_client() with a module's docker_host/timeout; fails the module cleanly when it cannot."""
    if not HAS_DOCKER:
        module.fail_json(msg="the Docker SDK for Python (pip package 'docker') is required", exception=DOCKER_IMPORT_ERROR)
    try:
        return get_client(module.params.get("docker_host"), module.params.get("timeout") or 120)
    except DockerFailure as e:
        module.fail_json(msg=str(e), stage=e.stage)


def error_text(exc):
    """Short human text of a Docker SDK / requests error."""
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


def removal_in_progress(error):
    """A leased builder whose lease ended is being removed by its engine (AutoRemove) already."""
    return error.status_code == 409 and "in progress" in error_text(error)


def wait_until_gone(client, container_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.api.inspect_container(container_id)
        except docker_errors.NotFound:
            return True
        time.sleep(0.1)
    return False
