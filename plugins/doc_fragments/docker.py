# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Options shared by every Docker module of this collection (see module_utils/_docker/client.py)."""

    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The Docker engine to talk to, for example V(unix:///var/run/docker.sock) or V(tcp://10.0.0.5:2376).
      - V(ssh://user@host) engines are reached with the C(ssh) binary as the docker CLI does (the Docker SDK needs C(paramiko) installed for them).
      - Defaults to E(DOCKER_HOST), then the docker CLI's current context (C(docker context use), E(DOCKER_CONTEXT)), then
        the local socket.
    type: str
  tls:
    description:
      - Mutual TLS with a V(tcp://) engine. Without it, E(DOCKER_TLS_VERIFY) and E(DOCKER_CERT_PATH) apply as the docker
        CLI reads them, and to the engine of the CLI's current context, that context's own TLS files.
        E(REQUESTS_CA_BUNDLE) and E(CURL_CA_BUNDLE) never replace the engine's CA.
    type: dict
    suboptions:
      ca_cert:
        description: The CA that signed the engine's certificate.
        type: path
      client_cert:
        description: The client certificate.
        type: path
      client_key:
        description: The client certificate's private key.
        type: path
      verify:
        description: Verify the engine's certificate.
        type: bool
        default: true
      hostname:
        description: The name to verify the engine's certificate for, when not the host of O(docker_host).
        type: str
  timeout:
    description:
      - Seconds to wait for an answer from the engine. If not set, the environment variable E(DOCKER_TIMEOUT) (as for
        community.docker's modules), else 120.
      - A commit, and the load of an image, wait as long as the engine works on them, as C(docker commit) and
        C(docker load) do.
    type: int
requirements:
  - docker (Docker SDK for Python) >= 7.0
"""
