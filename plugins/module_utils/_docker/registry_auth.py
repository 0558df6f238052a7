# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The credentials sent to a registry: a target's `{username, password}`, Amazon ECR's for `{ecr: true}` (asked for
when a registry first needs them, once per registry), or none (then the engine and the signing use what the Docker
client configuration holds, as `docker login` stored it)."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.module_utils._common.references import split_reference, split_repository
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure
from ansible_collections.immutable.images.plugins.module_utils._ec2 import ecr


class RegistryAuth:
    """auth: None, {username, password} or {ecr: true}; stage: the stage a failure to get ECR's credentials fails."""

    def __init__(self, auth, stage, make_client=None):
        self.auth, self.stage, self.make_client = auth or {}, stage, make_client
        self._ecr = {}

    @classmethod
    def of(cls, auth, stage):
        """auth as it is when it is a RegistryAuth already (its ECR credentials kept), else a new one."""
        return auth if isinstance(auth, cls) else cls(auth, stage)

    def for_host(self, host):
        """The Docker SDK's auth_config for the registry `host`, or None."""
        if not self.auth.get("ecr"):
            if not self.auth.get("username"):
                return None
            return {"username": self.auth["username"], "password": self.auth["password"]}
        if host not in self._ecr:
            try:
                self._ecr[host] = ecr.credentials(host, self.make_client)
            except ecr.EcrError as e:
                raise DockerFailure(self.stage, str(e)) from e
        return self._ecr[host]

    def for_image(self, reference):
        return self.for_host(split_repository(split_reference(reference)[0])[0])
