# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options shared by every Docker module of this collection (see module_utils/docker_client.py)."""

    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The Docker engine to talk to, for example V(unix:///var/run/docker.sock) or V(tcp://10.0.0.5:2376).
      - Defaults to E(DOCKER_HOST), then the local socket. TLS settings come from E(DOCKER_TLS_VERIFY) and E(DOCKER_CERT_PATH).
    type: str
  timeout:
    description: Seconds to wait for an answer from the engine.
    type: int
    default: 120
requirements:
  - docker (Docker SDK for Python) >= 7.0
"""
