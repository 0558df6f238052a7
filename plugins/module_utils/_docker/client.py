# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place that makes Docker SDK clients, for modules and controller-side plugins alike."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import posixpath
import sys
import time
import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.immutable.images.plugins.module_utils._docker.engine import ContextError, engine_url, tls_settings

# The SDK imports paramiko, when it is installed, for its ssh:// adapter, and paramiko imports invoke: 0.1 s of every
# process that talks to an engine (ansible-playbook's own before its first task), for ssh:// engines only. It is
# imported as if paramiko were missing, and the adapter with paramiko when an ssh:// engine is used (_ssh_support).
_PARAMIKO_BLOCKED = "paramiko" not in sys.modules
if _PARAMIKO_BLOCKED:
    sys.modules["paramiko"] = None  # an ImportError for `import paramiko`, which the SDK's transport package expects
try:
    import docker
    from docker import errors as docker_errors  # noqa: F401 - re-exported for callers
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported by the module
    docker = docker_errors = None
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()
finally:
    if _PARAMIKO_BLOCKED and sys.modules.get("paramiko", 0) is None:
        del sys.modules["paramiko"]

try:
    from requests.exceptions import RequestException
except ImportError:  # pragma: no cover
    RequestException = OSError

# A target's `tls` (SPEC.md): files relative to the current directory, made absolute by the plan.
TLS_OPTIONS = dict(
    ca_cert=dict(type="path"),
    client_cert=dict(type="path"),
    client_key=dict(type="path", no_log=False),  # a path, never the key itself
    verify=dict(type="bool", default=True),
    hostname=dict(type="str"),
)

# Options every Docker module takes; documented by the immutable.images.docker doc fragment.
DOCKER_COMMON_ARGS = dict(
    docker_host=dict(type="str", fallback=(env_fallback, ["DOCKER_HOST"])),
    tls=dict(type="dict", options=TLS_OPTIONS),
    timeout=dict(type="int", fallback=(env_fallback, ["DOCKER_TIMEOUT"])),  # else API_TIMEOUT
)
# How long a call waits for the engine's answer, unless the task's timeout or DOCKER_TIMEOUT (community.docker's
# variable) says otherwise. Calls that take as long as their work are not bounded by it: no_read_timeout().
API_TIMEOUT = 120


class DockerFailure(Exception):
    """A Docker operation failed; `stage` says which step of the build it was."""

    def __init__(self, stage, message):
        self.stage = stage
        super().__init__(message)


class RefusedEngine(DockerFailure):
    """Nothing may be built on the engine named (bad input, not an engine that is down): it answers the Docker API but
    is not a Docker engine, or it is the docker CLI's current context, which is not there."""


# The component a Podman service's /version names. Its Docker-compatible API ignores the config a commit is given
# (podman's compat CommitContainer reads only the query's `changes`): the image would keep the builder's entrypoint and
# its labels, and lack the target's user, command, environment and health check, with nothing failing.
PODMAN_COMPONENT = "Podman Engine"
UNSUPPORTED_PODMAN = ("the engine at %s is Podman %s (its Docker-compatible API), not a Docker engine: docker targets "
                      "are built on a Docker engine only. Podman's commit ignores the image configuration a build gives "
                      "it, so the image would keep the builder's entrypoint and lack the target's user, command, "
                      "environment and health check")


def _pin_verify(api):
    """Keep the session's CA whatever the environment says.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's `verify` on every request when
    trust_env is on (merge_environment_settings), so the engine's CA would be ignored behind corporate
    proxies. trust_env=False would also drop proxies and .netrc, which the docker CLI does honour for
    tcp:// engines; so only `verify` is pinned, the rest of the environment still applies.
    """
    merge = api.merge_environment_settings

    def merge_keeping_verify(url, proxies, stream, verify, cert):
        settings = merge(url, proxies, stream, verify, cert)
        settings["verify"] = api.verify if verify is None else verify
        return settings

    api.merge_environment_settings = merge_keeping_verify


def _tls_config(settings):
    cert = None
    if settings.get("client_cert") or settings.get("client_key"):
        cert = (settings.get("client_cert"), settings.get("client_key"))
    return docker.tls.TLSConfig(client_cert=cert, ca_cert=settings.get("ca_cert"), verify=bool(settings.get("verify")))


def _check_hostname_as(api, hostname):
    """Verify the engine's certificate for `hostname` instead of the host of the URL (tls.hostname)."""
    import requests.adapters

    class NamedHostAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs.update(assert_hostname=hostname, server_hostname=hostname)
            return super().init_poolmanager(*args, **kwargs)

    api.mount("https://", NamedHostAdapter())


def get_client(docker_host=None, timeout=None, tls=None):
    """A DockerClient for docker_host (else DOCKER_HOST, else the docker CLI's current context, else the local socket:
    engine.engine_url), TLS from `tls` (a target's `tls`), DOCKER_TLS_VERIFY/DOCKER_CERT_PATH or the context's own
    files. client.api.immutable_engine = {url, tls} for exec streams.
    Raises RefusedEngine for an engine that answers the Docker API but is Podman's, and for a current context that
    is not there."""
    if not HAS_DOCKER:
        raise DockerFailure("client", "the Docker SDK for Python (pip package 'docker') is required on the controller")
    try:
        url = engine_url(docker_host)
        settings = tls_settings(docker_host, tls)
    except ContextError as e:
        raise RefusedEngine("client", str(e))
    try:
        # An explicit version: "auto" would ask the engine before the TLS set-up below is complete.
        kwargs = dict(base_url=url, timeout=timeout or default_timeout(), version=docker.constants.DEFAULT_DOCKER_API_VERSION)
        if settings:
            kwargs["base_url"] = "https://" + url.split("://", 1)[1]
            kwargs["tls"] = _tls_config(settings)
        elif url.startswith("ssh://"):
            # The ssh binary, as the docker CLI does: the user's ssh config, agent and known hosts apply.
            # (The SDK still needs paramiko importable for ssh:// at all.)
            _ssh_support()
            kwargs["use_ssh_client"] = True
        client = docker.DockerClient(**kwargs)
        _pin_verify(client.api)
        if settings and settings.get("hostname"):
            _check_hostname_as(client.api, settings["hostname"])
        version = _engine_version(client.api)
    except (docker_errors.DockerException, RequestException) as e:
        raise DockerFailure("client", "cannot reach the Docker engine at %s: %s" % (url, e))
    client.api._version = version["ApiVersion"]  # what version="auto" sets
    podman = next((c for c in version.get("Components") or () if c.get("Name") == PODMAN_COMPONENT), None)
    if podman is not None:
        client.close()
        raise RefusedEngine("client", UNSUPPORTED_PODMAN % (url, podman.get("Version") or version.get("Version")))
    client.api.immutable_engine = {"url": url, "tls": settings}
    return client


def default_timeout():
    """DOCKER_TIMEOUT (seconds), else API_TIMEOUT."""
    try:
        return int(os.environ.get("DOCKER_TIMEOUT") or API_TIMEOUT)
    except ValueError:
        return API_TIMEOUT


@contextlib.contextmanager
def no_read_timeout(client):
    """Within it, the client's calls wait as long as the engine works on them, as `docker commit` and `docker load`
    do: a commit of a large layer or the load of a large image can take minutes, and the engine goes on with it when
    the client gives up. The client's timeout is for answers, not for work. (Each client belongs to one thread.)"""
    api = getattr(client, "api", client)
    saved, api.timeout = api.timeout, None
    try:
        yield
    finally:
        api.timeout = saved


def _engine_version(api):
    """The engine's /version, asked as version="auto" asks it (once the TLS set-up is complete) and failing as it does;
    the whole answer, which also says what the engine is."""
    try:
        version = api.version(api_version=False)
    except Exception as e:  # noqa: BLE001 - as the SDK's own lookup of the version: any failure is the engine's
        raise docker_errors.DockerException("Error while fetching server API version: %s" % e) from e
    if not isinstance(version, dict) or "ApiVersion" not in version:
        raise docker_errors.DockerException('Invalid response from docker daemon: key "ApiVersion" is missing.')
    return version


def _ssh_support():
    """The SDK's ssh:// adapter, which the import above left out: imported now, with paramiko, and put where the SDK's
    APIClient looks for it (the module global its own import sets)."""
    from docker.api import client as api_client

    if getattr(api_client, "SSHHTTPAdapter", None) is None:
        try:
            from docker.transport.sshconn import SSHHTTPAdapter
        except ImportError as e:
            raise DockerFailure("client", "ssh:// engines need the Python package paramiko on the controller: %s" % e)
        api_client.SSHHTTPAdapter = SSHHTTPAdapter


def client_from_module(module):
    """get_client() with a module's docker_host/timeout; fails the module cleanly when it cannot."""
    if not HAS_DOCKER:
        module.fail_json(msg="the Docker SDK for Python (pip package 'docker') is required", exception=DOCKER_IMPORT_ERROR)
    try:
        return get_client(module.params.get("docker_host"), module.params.get("timeout"), module.params.get("tls"))
    except DockerFailure as e:
        module.fail_json(msg=str(e), stage=e.stage)


def error_text(exc):
    """Short human text of a Docker SDK / requests error."""
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


def removal_in_progress(error):
    """A leased builder whose lease ended is being removed by its engine (AutoRemove) already."""
    return error.status_code == 409 and "in progress" in error_text(error)


def listed_images(client, filters):
    """The engine's images that match `filters`, each inspected; one removed between the listing and its inspection
    (by another build or janitor on the engine) is left out, where the SDK's images.list() fails on it (its
    containers.list() has ignore_removed for the same race)."""
    images = []
    for entry in client.api.images(filters=filters):
        try:
            images.append(client.images.get(entry["Id"]))
        except docker_errors.ImageNotFound:
            continue
    return images


def wait_until_gone(client, container_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.api.inspect_container(container_id)
        except docker_errors.NotFound:
            return True
        time.sleep(0.1)
    return False


def path_stat(api, container_id, path, hops=8):
    """The engine's stat of `path` in a container, links followed ({name, size, mode, mtime, linkTarget}; mode as Go's
    os.FileMode: 1 << 31 a directory), or None when nothing is there: a HEAD of the archive API, which answers from the
    container's filesystem without running anything in it (the SDK has GET only, which sends the content too)."""
    url = api._url("/containers/{0}/archive", container_id)
    for _hop in range(hops):  # /usr/bin/python3 -> python3.11, /lib -> /usr/lib
        response = api.head(url, params={"path": path})
        if response.status_code == 404:
            return None
        api._raise_for_status(response)
        stat = json.loads(base64.b64decode(response.headers["X-Docker-Container-Path-Stat"]))
        target = stat.get("linkTarget")
        if not target or target == path:
            return stat
        path = posixpath.join(posixpath.dirname(path), target)
    return None  # a loop of links
