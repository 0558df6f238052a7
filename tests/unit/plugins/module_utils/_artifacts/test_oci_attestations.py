# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""oci_attestations.docker_config_credentials: the credentials `docker login` stored, which signing and verifying use
where no registry_auth (verify_username) is given, as the engine's push does. The registry side:
tests/integration/test_private_base_image.py and test_provenance.py."""

from __future__ import annotations

import base64
import json
import os

from ansible_collections.immutable.images.plugins.module_utils._artifacts import oci_attestations as oci


def docker_config(tmp_path, monkeypatch, config):
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))


def test_a_login_in_the_docker_config_is_used_for_its_registry_only(tmp_path, monkeypatch):
    docker_config(tmp_path, monkeypatch, {"auths": {
        "127.0.0.1:5000": {"auth": base64.b64encode(b"ci-bot:s3cret").decode()},
        "registry.example.com": {"identitytoken": "a-refresh-token"}}})  # the engine's token exchange, not a password
    assert oci.docker_config_credentials("127.0.0.1:5000") == ("ci-bot", "s3cret")
    assert oci.docker_config_credentials("127.0.0.1:5001") == (None, None)
    assert oci.docker_config_credentials("registry.example.com") == (None, None)


def test_a_credential_helper_is_asked(tmp_path, monkeypatch):
    helper = tmp_path / "bin" / "docker-credential-unit"
    helper.parent.mkdir()
    helper.write_text('#!/bin/sh\nread server\necho "{\\"ServerURL\\": \\"$server\\", \\"Username\\": \\"helper-user\\", '
                      '\\"Secret\\": \\"helper-secret\\"}"\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", "%s%s%s" % (helper.parent, os.pathsep, os.environ["PATH"]))
    docker_config(tmp_path, monkeypatch, {"credHelpers": {"registry.example.com": "unit"}})
    assert oci.docker_config_credentials("registry.example.com") == ("helper-user", "helper-secret")


def test_without_a_docker_config_there_are_none(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "none"))
    assert oci.docker_config_credentials("127.0.0.1:5000") == (None, None)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "bad"))
    assert oci.docker_config_credentials("127.0.0.1:5000") == (None, None)
