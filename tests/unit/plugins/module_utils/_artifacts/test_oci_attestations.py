# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""oci_attestations.docker_config_credentials: the credentials `docker login` stored, which signing and verifying use
where no registry_auth (verify_username) is given, as the engine's push does; RegistryTrust: what they trust of a
registry over HTTPS. The registry side: tests/integration/test_private_base_image.py, test_registry_tls.py and
test_provenance.py."""

from __future__ import annotations

import base64
import json
import os
import tempfile

import pytest

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


HOST = "registry.example.com:5443"


def test_without_anything_to_add_requests_trusts_as_it_would(tmp_path):
    trust = oci.RegistryTrust(HOST, certs_d=[str(tmp_path)])
    assert trust.verify is True and trust.cert is None
    trust.close()


def test_the_engines_certs_d_adds_its_cas_to_requests_own_and_gives_the_client_pair(tmp_path, monkeypatch):
    (tmp_path / "system.pem").write_text("SYSTEM CAS\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "system.pem"))
    directory = tmp_path / "certs.d" / HOST
    directory.mkdir(parents=True)
    for name, text in (("ca.crt", "COMPANY CA"), ("other.crt", "OTHER CA"), ("client.cert", "CLIENT"), ("client.key", "KEY"),
                       ("lonely.cert", "NO KEY")):
        (directory / name).write_text(text)
    (tmp_path / "given.pem").write_text("GIVEN CA")
    trust = oci.RegistryTrust(HOST, ca_cert=str(tmp_path / "given.pem"), certs_d=[str(tmp_path / "certs.d")])
    with open(trust.verify) as f:
        assert f.read() == "SYSTEM CAS\nCOMPANY CA\nOTHER CA\nGIVEN CA\n"
    assert trust.cert == (str(directory / "client.cert"), str(directory / "client.key"))
    bundle = trust.verify
    trust.close()
    assert not os.path.exists(bundle)
    # another host's directory is not this one's
    assert oci.RegistryTrust("registry.example.com", certs_d=[str(tmp_path / "certs.d")]).verify is True


def test_a_rootless_engines_certs_d_of_this_user_counts_too(tmp_path, monkeypatch):
    # a rootless engine reads $XDG_CONFIG_HOME/docker/certs.d (else ~/.config/...) instead of /etc/docker/certs.d
    (tmp_path / "system.pem").write_text("SYSTEM CAS\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "system.pem"))
    monkeypatch.setattr(oci, "DOCKER_CERTS_D", str(tmp_path / "etc-certs.d"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert oci.user_certs_d() == str(tmp_path / "config" / "docker" / "certs.d")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert oci.user_certs_d() == str(tmp_path / "home" / ".config" / "docker" / "certs.d")
    for directory, prefix in ((tmp_path / "home" / ".config" / "docker" / "certs.d" / HOST, "USER"),
                              (tmp_path / "etc-certs.d" / HOST, "ETC")):
        directory.mkdir(parents=True)
        for name in ("ca.crt", "client.cert", "client.key"):
            (directory / name).write_text("%s %s" % (prefix, name))
    trust = oci.RegistryTrust(HOST)
    with open(trust.verify) as f:
        assert f.read() == "SYSTEM CAS\nUSER ca.crt\nETC ca.crt\n"
    assert trust.cert[0].endswith(".config/docker/certs.d/%s/client.cert" % HOST)
    trust.close()


def test_a_ca_cert_that_cannot_be_read_is_said_and_leaves_no_bundle(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(OSError) as raised:
        oci.RegistryTrust(HOST, ca_cert=str(tmp_path / "missing.pem"), certs_d=[str(tmp_path)])
    assert raised.value.filename == str(tmp_path / "missing.pem")
    assert os.listdir(tmp_path) == []


@pytest.fixture
def basic_registry():
    """A registry's API base that asks for Basic authentication (as distribution's htpasswd does); its host."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            authorized = self.headers.get("Authorization") == "Basic " + base64.b64encode(b"ci:secret").decode()
            self.send_response(200 if authorized else 401)
            if not authorized:
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "127.0.0.1:%d" % server.server_address[1]
    server.shutdown()


def test_a_basic_registry_without_credentials_is_said_to_ask_for_a_login(basic_registry, tmp_path, monkeypatch):
    # before: oras' token client took the realm for a token service's address ("Invalid URL 'test'")
    pytest.importorskip("oras")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # no docker login
    with pytest.raises(oci.RegistryError, match="the registry %s asks for a login" % basic_registry):
        oci.Registry(basic_registry)
    with oci.Registry(basic_registry, "ci", "secret") as registry:
        assert registry.client.session.auth == ("ci", "secret")
