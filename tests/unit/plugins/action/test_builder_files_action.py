# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/builder_files.py: which way the archive goes, check mode, and an engine failure as the upload stage.
The upload on a real engine: tests/unit/plugins/module_utils/_docker/test_docker_builder.py."""

from __future__ import annotations

import types

import pytest

from ansible_collections.immutable.images.plugins.action import builder_files as action
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure


class Calls(list):
    connection = None


class BuilderConnection:
    """The builder's connection as builder_files sees it; its connects recorded."""

    transport = "immutable.images.docker_session"
    _shell = types.SimpleNamespace(tmpdir=None)
    connects = 0

    def _connect(self):
        self.connects += 1
        return self


TARGET = {"type": "docker", "docker_host": None, "builder": {"name": "arch-builder"}}


@pytest.fixture
def uploads(monkeypatch):
    calls = Calls()

    class Builder:
        def __init__(self, _client):
            pass

        def upload(self, name, src):
            if name == "gone":
                raise DockerFailure("upload", "builder gone does not exist")
            calls.append((name, src))

    monkeypatch.setattr(action, "DockerBuilder", Builder)
    calls.connection = BuilderConnection()
    monkeypatch.setattr(action, "get_client", lambda *a, **k: None)
    return calls


def test_docker_builders_get_one_archive_api_call(run_action, uploads):
    result = run_action("builder_files", {"src": "/w/files.tar"}, {"image_target": TARGET}, connection=uploads.connection)
    assert result == {"changed": True, "method": "docker archive API"} and uploads == [("arch-builder", "/w/files.tar")]
    # connected first, so that what the builder's connection starts on its first use overlaps the upload
    assert uploads.connection.connects == 1


def test_engine_failure_is_the_upload_stage(run_action, uploads):
    target = dict(TARGET, builder={"name": "gone"})
    result = run_action("builder_files", {"src": "/w/files.tar"}, {"image_target": target}, connection=uploads.connection)
    assert result == {"failed": True, "stage": "upload", "msg": "builder gone does not exist"}


def test_check_mode_and_bad_arguments(run_action, uploads):
    assert run_action("builder_files", {"src": "/w/f.tar"}, check_mode=True) == {"changed": True, "msg": "would upload /w/f.tar"}
    assert run_action("builder_files", {})["msg"] == "immutable.images.builder_files: missing required arguments: src"
    assert uploads == []
