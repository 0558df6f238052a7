# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Push an image under several references and collect the registry digests."""

from __future__ import annotations

import ipaddress
import re
import socket

from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DockerFailure,
    RequestException,
    docker_errors,
    error_text,
)
from ansible_collections.immutable.images.plugins.module_utils._common.references import split_reference, split_repository
from ansible_collections.immutable.images.plugins.module_utils._docker.registry_auth import RegistryAuth

# The last status line of a push, "<tag>: digest: sha256:... size: <n>": the one place an engine with the containerd
# image store says the digest (Docker 26 sends no `aux` record with it; a graph-driver engine sends both).
_PUSHED_STATUS = re.compile(r"^(?P<tag>\S+): digest: (?P<digest>sha256:[0-9a-f]{64}) size: \d+$")


class ImagePusher:
    def __init__(self, client):
        self.client = client

    def push(self, image, refs, auth=None):
        """Tag `image` as each ref and push it; return [{'ref', 'digest', 'plain_http'}] (plain_http: the engine treats
        the registry as insecure, plain_http_hosts). auth: what RegistryAuth takes, or one. Raises on the first
        failure."""
        pushed, insecure = [], None
        auth = RegistryAuth.of(auth, "push")
        for ref in refs:
            repo, tag, _digest = split_reference(ref)
            tag = tag or "latest"
            auth_config = auth.for_image(repo)
            try:
                self.client.api.tag(image, repo, tag, force=True)
                digest = None
                # The engine reports failures inside the stream with HTTP 200, so read every line.
                for line in self.client.api.push(repo, tag, stream=True, decode=True, auth_config=auth_config):
                    if line.get("error"):
                        raise DockerFailure("push", "cannot push %s: %s" % (ref, line["error"]))
                    digest = (line.get("aux") or {}).get("Digest") or _status_digest(line, tag) or digest
            except (docker_errors.APIError, RequestException) as e:
                raise DockerFailure("push", "cannot push %s: %s" % (ref, error_text(e)))
            host = split_repository(repo)[0]
            if insecure is None:  # asked once, after the first push: the engine's answer then is the one it pushed by
                insecure = plain_http_hosts(self._registry_config(), {split_repository(split_reference(r)[0])[0] for r in refs})
            pushed.append({"ref": "%s:%s" % (repo, tag), "digest": digest, "plain_http": host in insecure})
        return pushed

    def _registry_config(self):
        try:
            return self.client.api.info().get("RegistryConfig") or {}
        except (docker_errors.APIError, RequestException):
            return {}  # the push went through: the registries count as secure, as for an engine that does not say


def plain_http_hosts(registry_config, hosts):
    """Of the registry hosts (host[:port]), those the engine treats as insecure, by the engine's /info RegistryConfig:
    named in its `insecure-registries`, or with an address in one of its networks there (127.0.0.0/8 by default;
    the name resolved here, as the engine resolves it). The engine pushes to them over plain HTTP where they do not
    speak HTTPS; signing and verifying speak plain HTTP to them (oci_attestations.Registry)."""
    indexes = registry_config.get("IndexConfigs") or {}
    networks = []
    for cidr in registry_config.get("InsecureRegistryCIDRs") or []:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    found = set()
    for host in hosts:
        if host in indexes:  # the engine says which by name (docker.io among them)
            if (indexes[host] or {}).get("Secure") is False:
                found.add(host)
            continue
        if not networks:
            continue
        if host.startswith("["):  # [v6 address]:port
            name = host[1:host.find("]")]
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)}
        except (socket.gaierror, UnicodeError):
            continue  # the push reached it by that name: the engine resolves what this machine may not
        if any(ipaddress.ip_address(a.split("%", 1)[0]) in n for a in addresses for n in networks):
            found.add(host)
    return found


def _status_digest(line, tag):
    match = _PUSHED_STATUS.match(line.get("status") or "")
    return match.group("digest") if match and match.group("tag") == tag else None
