# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the module_utils tests: an in-process moto server (tests/conftest.py sets the import path).

moto runs once per session on 127.0.0.1 (random port) and is reset before every test that uses
the `aws` fixture. Credentials are fake and every AWS config file is masked, so nothing can
reach real AWS.
"""

from __future__ import annotations

import os
import urllib.request

import pytest

MOTO_ACCOUNT = "123456789012"


def pytest_configure(config):
    # Registered here as well as in pytest.ini: `ansible-test units` runs pytest with its own ini
    # file and --strict-markers.
    config.addinivalue_line("markers", "aws: needs the moto server fixture")


def pytest_collection_modifyitems(items):
    # pytest.ini's `aws` marker: every test that uses the moto server gets it.
    for item in items:
        if "aws" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.aws)


@pytest.fixture(scope="session")
def moto_url():
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield "http://%s:%s" % (host, port)
    server.stop()


class AwsEnv:
    """Clients on the moto server; `waits` polls without sleeping (moto is consistent at once)."""

    def __init__(self, url):
        from ansible_collections.immutable.images.plugins.module_utils._ec2 import client as aws_client
        self.url = url
        self.factory = aws_client.client_factory("us-east-1", endpoint_url=url)
        self.waits = aws_client.Waits(delay=0, max_attempts=3)

    def client(self, service, region="us-east-1"):
        return self.factory(service, region)

    def moto_backend(self, region="us-east-1"):
        from moto.ec2.models import ec2_backends  # in-process server: same backend objects
        return ec2_backends[MOTO_ACCOUNT][region]


@pytest.fixture
def aws(moto_url, monkeypatch):
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    opener.open(urllib.request.Request(moto_url + "/moto-api/reset", method="POST"), timeout=30).close()
    return AwsEnv(moto_url)
