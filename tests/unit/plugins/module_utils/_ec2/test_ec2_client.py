# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The clients' retries: the collection's default, or the AWS settings' own (counted at an endpoint that always
answers 503), and the waits' message when AWS is not done in time."""

from __future__ import annotations

import http.server
import threading

import pytest

from ansible_collections.immutable.images.plugins.module_utils._ec2 import client as aws_client

pytest.importorskip("boto3")


@pytest.fixture
def unavailable():
    """An HTTP endpoint on 127.0.0.1 that answers every request 503 (a retryable error); .requests counts them."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            server.requests += 1
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.requests = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def aws_settings(monkeypatch, tmp_path):
    """No AWS settings but test credentials; returns the path of an empty ~/.aws/config to write profiles to."""
    for name in ("AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    config.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return config


def test_default_retries_are_the_collections(aws_settings):
    ec2 = aws_client.make_client("ec2", "us-east-1")
    assert ec2.meta.config.retries == {"mode": "standard", "total_max_attempts": 11}


def test_the_environments_retry_settings_are_kept(aws_settings, monkeypatch, unavailable):
    """AWS_MAX_ATTEMPTS and AWS_RETRY_MODE are the user's, as for the AWS CLI (before, the collection's 11 attempts
    replaced them: 11 requests here, and minutes of backoff)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    ec2 = aws_client.make_client("ec2", "us-east-1", endpoint_url="http://127.0.0.1:%d" % unavailable.server_port)
    with pytest.raises(Exception):
        ec2.describe_regions()
    assert unavailable.requests == 2


def test_only_the_setting_given_is_the_users(aws_settings, monkeypatch):
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    assert aws_client.make_client("ec2", "us-east-1").meta.config.retries == {"mode": "adaptive",
                                                                              "total_max_attempts": 11}


def test_a_profiles_retry_settings_are_kept(aws_settings):
    aws_settings.write_text("[profile builds]\nretry_mode = adaptive\nmax_attempts = 4\n")
    assert aws_client.client_config("builds").retries == {}
    assert aws_client.client_config().retries == aws_client.RETRIES  # the default profile sets none
    import boto3
    ec2 = aws_client.make_client("ec2", "us-east-1", session=boto3.session.Session(profile_name="builds"))
    assert ec2.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 4}


def test_an_unknown_profile_is_left_to_the_client(aws_settings):
    assert aws_client.client_config("missing").retries == aws_client.RETRIES
