# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which TLS settings an engine gets, that the environment's CA bundle never replaces the engine's CA, and how long calls wait."""

from __future__ import annotations

import types

import pytest
import requests

from ansible_collections.immutable.images.plugins.module_utils._docker import client as docker_client, engine as docker_engine

HOST = "tcp://build-1:2376"
NO_CLI_CONFIG = {"DOCKER_CONFIG": "/nonexistent/docker-config"}  # the machine's own ~/.docker stays out of the tests


def test_a_targets_tls_wins_over_the_environment():
    env = dict(NO_CLI_CONFIG, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH="/env")
    settings = docker_engine.tls_settings(HOST, {"ca_cert": "/t/ca.pem", "hostname": None}, env)
    assert settings == {"ca_cert": "/t/ca.pem", "client_cert": None, "client_key": None, "verify": True, "hostname": None}


@pytest.mark.parametrize("env, verify", [({"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"}, True),
                                         ({"DOCKER_CERT_PATH": "/certs"}, False)])
def test_docker_cli_variables_as_the_cli_reads_them(env, verify):
    settings = docker_engine.tls_settings(None, None, dict(env, DOCKER_HOST=HOST, **NO_CLI_CONFIG))
    assert settings == {"ca_cert": "/certs/ca.pem", "client_cert": "/certs/cert.pem", "client_key": "/certs/key.pem",
                        "verify": verify, "hostname": None}


@pytest.mark.parametrize("host", ["unix:///var/run/docker.sock", "ssh://builder@build-1", None])
def test_no_tls_but_for_tcp(host):
    assert docker_engine.tls_settings(host, None, dict(NO_CLI_CONFIG, DOCKER_TLS_VERIFY="1")) is None


def test_remote_engines():
    assert docker_engine.is_remote(HOST, NO_CLI_CONFIG) and docker_engine.is_remote("ssh://b@h", NO_CLI_CONFIG)
    assert not docker_engine.is_remote(None, NO_CLI_CONFIG) and not docker_engine.is_remote("unix:///x.sock", NO_CLI_CONFIG)
    assert docker_engine.is_remote(None, dict(NO_CLI_CONFIG, DOCKER_HOST=HOST))


def _context_store(config_dir, name, host, current=True, skip_tls_verify=False, tls_files=()):
    """A context as `docker context create` stores it (contexts/meta/<sha256 of its name>/meta.json, its TLS files in
    contexts/tls/<same>/docker/), made current as `docker context use` makes it (currentContext in config.json)."""
    import hashlib
    import json

    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": {
        "docker": {"Host": host, "SkipTLSVerify": skip_tls_verify}}}))
    for file_name in tls_files:
        tls = config_dir / "contexts" / "tls" / digest / "docker"
        tls.mkdir(parents=True, exist_ok=True)
        (tls / file_name).write_text("PEM\n")
    if current:
        (config_dir / "config.json").write_text(json.dumps({"auths": {}, "currentContext": name}))
    return config_dir / "contexts" / "tls" / digest / "docker"


def test_the_clis_current_context_is_the_engine_when_no_host_is_given(tmp_path):
    _context_store(tmp_path, "colima", "unix:///home/me/.colima/default/docker.sock")
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert docker_engine.engine_url(None, env) == "unix:///home/me/.colima/default/docker.sock"
    assert docker_engine.tls_settings(None, None, env) is None
    # as the CLI: a target's docker_host, then DOCKER_HOST, win over the context; DOCKER_CONTEXT over config.json
    assert docker_engine.engine_url("unix:///x.sock", env) == "unix:///x.sock"
    assert docker_engine.engine_url(None, dict(env, DOCKER_HOST=HOST)) == HOST
    _context_store(tmp_path, "build", "ssh://builder@build-1", current=False)
    assert docker_engine.engine_url(None, dict(env, DOCKER_CONTEXT="build")) == "ssh://builder@build-1"
    assert docker_engine.engine_url(None, dict(env, DOCKER_CONTEXT="default")) == "unix:///var/run/docker.sock"


def test_a_tcp_context_brings_its_own_tls_files(tmp_path):
    tls = _context_store(tmp_path, "remote", HOST, tls_files=("ca.pem", "cert.pem", "key.pem"))
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CERT_PATH": "/not/these"}
    assert docker_engine.tls_settings(None, None, env) == {
        "ca_cert": str(tls / "ca.pem"), "client_cert": str(tls / "cert.pem"), "client_key": str(tls / "key.pem"),
        "verify": True, "hostname": None}
    plain = tmp_path / "plain"
    _context_store(plain, "plain", "tcp://build-2:2375")
    assert docker_engine.tls_settings(None, None, {"DOCKER_CONFIG": str(plain)}) is None


def test_the_proxies_docker_run_would_give_a_container_on_the_engine(tmp_path):
    import json

    (tmp_path / "config.json").write_text(json.dumps({"proxies": {
        "default": {"httpProxy": "http://proxy:3128", "noProxy": "localhost,.internal"},
        HOST: {"httpsProxy": "http://user:secret@edge:3128", "allProxy": "socks5://edge:1080"}}}))
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert docker_engine.client_proxy_env(None, env) == {
        "HTTP_PROXY": "http://proxy:3128", "http_proxy": "http://proxy:3128",
        "NO_PROXY": "localhost,.internal", "no_proxy": "localhost,.internal"}
    # an engine of its own in `proxies` takes those, and only those, as the CLI does; DOCKER_HOST names it too
    assert docker_engine.client_proxy_env(HOST, env) == docker_engine.client_proxy_env(None, dict(env, DOCKER_HOST=HOST))
    assert docker_engine.client_proxy_env(HOST, env) == {
        "HTTPS_PROXY": "http://user:secret@edge:3128", "https_proxy": "http://user:secret@edge:3128",
        "ALL_PROXY": "socks5://edge:1080", "all_proxy": "socks5://edge:1080"}
    (tmp_path / "config.json").write_text(json.dumps({"auths": {}}))
    assert docker_engine.client_proxy_env(None, env) == {}
    assert docker_engine.client_proxy_env(None, {"DOCKER_CONFIG": str(tmp_path / "none")}) == {}
    (tmp_path / "config.json").write_text(json.dumps({"proxies": {"default": {"httpProxy": "http://proxy:3128"}},
                                                      "currentContext": "gone"}))
    assert docker_engine.client_proxy_env(None, env) == {}  # the missing context is the plan's to refuse


def test_a_current_context_that_is_not_there_is_refused_naming_it(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text('{"currentContext": "gone"}')
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    with pytest.raises(docker_client.RefusedEngine, match="current context 'gone' .* is not in .*: set DOCKER_HOST"):
        docker_client.get_client(None, timeout=5)


def test_requests_ca_bundle_does_not_replace_the_engines_ca(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    session = requests.Session()
    session.verify = "/engine/ca.pem"
    url = "https://build-1:2376/version"
    # What requests does by itself: the environment's bundle wins (the CERTIFICATE_VERIFY_FAILED of the issue).
    assert session.merge_environment_settings(url, {}, None, None, None)["verify"] == "/etc/ssl/certs/ca-certificates.crt"
    docker_client._pin_verify(session)
    settings = session.merge_environment_settings(url, {}, None, None, None)
    assert settings["verify"] == "/engine/ca.pem"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")  # the rest of the environment still applies
    assert session.merge_environment_settings(url, {}, None, None, None)["proxies"].get("https") == "http://proxy:3128"


def test_importing_the_client_imports_neither_paramiko_nor_invoke(tmp_path):
    """The SDK is imported without paramiko (and invoke, which it imports): a build on a local or TLS engine never loads
    them. An ssh:// client gets the SDK's ssh adapter, with paramiko, when it is made (tests/unit/test_private_apis.py;
    a real one: tests/integration/test_remote_engine.py)."""
    import os
    import subprocess
    import sys

    import ansible_collections

    script = (
        "import sys\n"
        "from ansible_collections.immutable.images.plugins.module_utils._docker import client\n"
        "print(client.HAS_DOCKER, 'paramiko' in sys.modules, 'invoke' in sys.modules)\n"
        "import paramiko\n"  # importable afterwards, by anyone
        "print(paramiko is not None)\n")
    path = os.pathsep.join([os.path.dirname(p) for p in ansible_collections.__path__] + sys.path)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=str(tmp_path),
                          env=dict(os.environ, PYTHONPATH=path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False", "False", "True"]


def _engine_answering(tmp_path, version):
    """An HTTP server on a unix socket that answers every GET with `version` as JSON, as an engine's /version does."""
    import http.server
    import json
    import socketserver
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            body = json.dumps(version).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def address_string(self):
            return "unix"

        def log_message(self, *args):
            pass

    path = str(tmp_path / "engine.sock")
    server = socketserver.ThreadingUnixStreamServer(path, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "unix://" + path


# What each answers on /version (abridged): a Docker engine, and a Podman 4.3 service's Docker-compatible API.
DOCKER_VERSION = {"Platform": {"Name": "Docker Engine - Community"}, "Version": "26.1.5", "ApiVersion": "1.45",
                  "Components": [{"Name": "Engine", "Version": "26.1.5"}, {"Name": "containerd", "Version": "1.7.20"}]}
PODMAN_VERSION = {"Platform": {"Name": "linux/amd64/debian-12"}, "Version": "4.3.1", "ApiVersion": "1.41",
                  "Components": [{"Name": "Podman Engine", "Version": "4.3.1"}, {"Name": "Conmon", "Version": "2.1.6"}]}


def test_a_docker_engine_gets_a_client_of_its_api_version(tmp_path):
    server, url = _engine_answering(tmp_path, DOCKER_VERSION)
    try:
        client = docker_client.get_client(url, timeout=5)
        assert client.api._version == "1.45" and client.api.immutable_engine == {"url": url, "tls": None}
    finally:
        server.shutdown()


def test_a_podman_service_is_refused_saying_why(tmp_path):
    """Its compatible API ignores a commit's config: nothing may be built there (the plan fails before anything
    starts: tests/integration/test_podman_engine.py)."""
    server, url = _engine_answering(tmp_path, PODMAN_VERSION)
    try:
        with pytest.raises(docker_client.RefusedEngine) as refused:
            docker_client.get_client(url, timeout=5)
        assert refused.value.stage == "client" and isinstance(refused.value, docker_client.DockerFailure)
        assert str(refused.value).startswith("the engine at %s is Podman 4.3.1 (its Docker-compatible API), not a "
                                             "Docker engine: docker targets are built on a Docker engine only." % url)
    finally:
        server.shutdown()


def test_an_answer_without_an_api_version_is_not_an_engine(tmp_path):
    server, url = _engine_answering(tmp_path, {"message": "page not found"})
    try:
        with pytest.raises(docker_client.DockerFailure, match='cannot reach the Docker engine at .*key "ApiVersion" is missing'):
            docker_client.get_client(url, timeout=5)
    finally:
        server.shutdown()


def test_what_the_docker_cli_stores_is_what_is_read(tmp_path):
    """The context store as the real docker CLI writes it (`docker context create` and `use`; no engine needed)."""
    import shutil
    import subprocess

    assert shutil.which("docker"), "the docker CLI is missing: run scripts/setup-env"
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(certs / "key.pem"),
                    "-out", str(certs / "cert.pem"), "-days", "1", "-subj", "/CN=test"], check=True, capture_output=True)
    shutil.copy(certs / "cert.pem", certs / "ca.pem")  # the CLI checks that each file is PEM it can read
    cli = ["docker", "--config", str(tmp_path / "cli")]
    subprocess.run(cli + ["context", "create", "builds", "--docker", "host=tcp://build-1:2376,ca=%s,cert=%s,key=%s"
                          % (certs / "ca.pem", certs / "cert.pem", certs / "key.pem")], check=True, capture_output=True)
    subprocess.run(cli + ["context", "use", "builds"], check=True, capture_output=True)
    env = {"DOCKER_CONFIG": str(tmp_path / "cli")}
    assert docker_engine.engine_url(None, env) == "tcp://build-1:2376"
    settings = docker_engine.tls_settings(None, None, env)
    assert settings["verify"] is True and all(settings[k] and settings[k].startswith(str(tmp_path / "cli" / "contexts"))
                                              for k in ("ca_cert", "client_cert", "client_key"))


@pytest.mark.parametrize("env, seconds", [({}, 120), ({"DOCKER_TIMEOUT": "300"}, 300), ({"DOCKER_TIMEOUT": ""}, 120),
                                          ({"DOCKER_TIMEOUT": "soon"}, 120)])
def test_the_api_timeout_is_docker_timeouts_else_120_s(monkeypatch, env, seconds):
    """As community.docker's modules read it; one that is no number is ignored."""
    monkeypatch.delenv("DOCKER_TIMEOUT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert docker_client.default_timeout() == seconds


def test_a_call_that_works_as_long_as_it_takes_has_no_read_timeout_and_the_client_gets_its_own_back():
    api = types.SimpleNamespace(timeout=120)
    client = types.SimpleNamespace(api=api)
    with docker_client.no_read_timeout(client):
        assert api.timeout is None
    assert api.timeout == 120
    with pytest.raises(KeyError), docker_client.no_read_timeout(api):  # an APIClient itself; and on an error
        assert api.timeout is None
        raise KeyError("commit failed")
    assert api.timeout == 120
