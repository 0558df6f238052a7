# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Push an image under several references and collect the registry digests."""

from __future__ import annotations

import re

from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DockerFailure,
    RequestException,
    docker_errors,
    error_text,
)
from ansible_collections.immutable.images.plugins.module_utils._common.references import split_reference

# The last status line of a push, "<tag>: digest: sha256:... size: <n>": the one place an engine with the containerd
# image store says the digest (Docker 26 sends no `aux` record with it; a graph-driver engine sends both).
_PUSHED_STATUS = re.compile(r"^(?P<tag>\S+): digest: (?P<digest>sha256:[0-9a-f]{64}) size: \d+$")


class ImagePusher:
    def __init__(self, client):
        self.client = client

    def push(self, image, refs, auth_config=None):
        """Tag `image` as each ref and push it; return [{'ref', 'digest'}]. Raises on the first failure."""
        pushed = []
        for ref in refs:
            repo, tag, _digest = split_reference(ref)
            tag = tag or "latest"
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
            pushed.append({"ref": "%s:%s" % (repo, tag), "digest": digest})
        return pushed


def _status_digest(line, tag):
    match = _PUSHED_STATUS.match(line.get("status") or "")
    return match.group("digest") if match and match.group("tag") == tag else None
