# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Builds on a remote engine: a second dockerd reachable only over TCP with mutual TLS (tests/integration/engines.py).

The example image is built there with REQUESTS_CA_BUNDLE set (it must not replace the engine's CA), through the
fast path (session + warm interpreter) and through the path without a warm interpreter (one exec per command on
the collection's own stream, not docker_api's, which loses output over TLS); a builder's engine stopped mid-build
fails the build naming the engine, leaves nothing on the local engine, and the janitor cleans the engine once it
is back. Every image is named remote-*.
"""

import json
import os
import shutil
import subprocess
import tarfile
import threading
import time
import urllib.request

from cryptography.hazmat.primitives.asymmetric import ed25519
import pytest
import yaml

from conftest import (BASE_IMAGE, ROOT, ansible_env, build_containers, engine_state, free_port, image_tags, new_resources,
                      run_build)
from test_provenance import _keys, verify

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
HEALTH = {"run": {"port": 8080, "http": {"path": "/health", "status": 200, "body_contains": "ok"}, "timeout": 30}}


def _tags(client, repository):
    return sorted(t for i in client.images.list(name=repository) for t in i.tags)


def _remove_images(client, repository):
    for tag in image_tags(client):
        if tag.rsplit(":", 1)[0] in (repository, "immutable-images-cache/" + repository):
            client.images.remove(tag, force=True)


@pytest.fixture
def example(tmp_path):
    dest = tmp_path / "webapp"
    shutil.copytree(os.path.join(ROOT, "examples", "webapp"), dest, ignore=shutil.ignore_patterns("build-manifest.json"))
    return dest


def _example_target(engine, tls=True):
    target = {"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never", "docker_host": engine.url,
              "config": {"user": "appuser", "workdir": "/app", "cmd": ["python3", "/app/server.py"], "expose": ["8080/tcp"]}}
    if tls:
        target["tls"] = engine.tls
    return target


def _build(example, name, target, extra=None, env=None):
    definition = (example / "webapp.yml").read_text()
    variables = dict({"image_name": name, "image_version": "1.0.0", "image_targets": [target]}, **(extra or {}))
    return run_build(example, definition, "-e", json.dumps(variables),
                     env=dict({"REQUESTS_CA_BUNDLE": SYSTEM_BUNDLE, "CURL_CA_BUNDLE": SYSTEM_BUNDLE}, **(env or {})))


def _check_built_there(docker_client, remote, name, before, output):
    tags = _tags(remote, name)
    assert "%s:1.0.0" % name in tags and "%s:latest" % name in tags, output
    assert _tags(docker_client, name) == [], "the image must exist only on the remote engine"
    assert new_resources(docker_client, before, name) == {"containers": [], "images": []}
    assert build_containers(remote) == [], "no builder left on the remote engine"
    # The image runs there: the example's server answers inside a container of it.
    out = remote.containers.run("%s:1.0.0" % name, ["python3", "-c", "import os; print(sorted(os.listdir('/app')))"],
                                remove=True)
    assert b"server.py" in out


def test_example_on_a_tls_engine_through_the_session(docker_client, tls_engine, registry, example):
    """Per-target tls, REQUESTS_CA_BUNDLE set: built, run-tested, tagged, pushed (by the remote engine) and saved
    (streamed to the controller) there; the fast path is used, and a large file goes in and out in pieces."""
    name, remote, before = "remote-webapp", tls_engine.client(), engine_state(docker_client)
    target = dict(_example_target(tls_engine), push=["%s/%s" % (registry, name)], save="remote-webapp.tar")
    # and a file larger than the session carries, in and out in pieces through an exec stream over TLS
    large = os.urandom((16 << 20) + 5)
    role = example / "roles" / "large"
    (role / "files").mkdir(parents=True)
    (role / "tasks").mkdir()
    (role / "files" / "large.bin").write_bytes(large)
    (role / "tasks" / "main.yml").write_text(
        "- {name: Copy a large file, ansible.builtin.copy: {src: large.bin, dest: /opt/large.bin, mode: '0644'}}\n"
        "- name: Fetch it back\n"
        "  ansible.builtin.fetch: {src: /opt/large.bin, dest: '{{ playbook_dir }}/fetched-large.bin', flat: true}\n")
    roles = [{"role": "webapp", "vars": {"webapp_greeting": "Hello from an immutable image"}}, "large"]
    try:
        result = _build(example, name, target, {"image_verify": [HEALTH], "image_roles": roles})
        assert result.returncode == 0, result.output
        assert (example / "fetched-large.bin").read_bytes() == large
        assert remote.containers.run("%s:1.0.0" % name, ["python3", "-c", "print(len(open('/opt/large.bin', 'rb')"
                                     ".read()))"], remove=True).strip() == str(len(large)).encode()
        assert "no session with the builder" not in result.output
        assert "python: could not look for" not in result.output  # the plan's look-ups use the target's tls too
        _check_built_there(docker_client, remote, name, before, result.output)
        with urllib.request.urlopen("http://%s/v2/%s/tags/list" % (registry, name)) as answer:
            assert "1.0.0" in json.loads(answer.read())["tags"]
        with tarfile.open(example / "remote-webapp.tar") as saved:
            assert "manifest.json" in saved.getnames()
    finally:
        _remove_images(remote, name)


def test_example_on_a_tls_engine_from_docker_env_without_warm_interpreter(docker_client, tls_engine, example):
    """DOCKER_HOST/DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, as a CI job's dind service gives them, with an address that is
    not loopback; image_warm_interpreter: false: one exec per command on the collection's own stream (docker_api's
    loses output over TLS: "No start of json char found"); the session is off, not failed: no warning. The run test's
    port is published on the engine's address and probed there (before: on 127.0.0.1, which is the engine's host
    only when the engine runs on this machine)."""
    name, remote, before = "remote-webapp-direct", tls_engine.client(), engine_state(docker_client)
    target = _example_target(tls_engine, tls=False)
    del target["docker_host"]
    address = tls_engine.network_url.split("://", 1)[1].rsplit(":", 1)[0]
    published, done = set(), threading.Event()

    def watch_the_run_test():  # the addresses its port is published on, while it runs
        watcher = tls_engine.client()
        while not done.is_set():
            for c in watcher.api.containers(filters={"label": "immutable.images.kind=verify"}):
                published.update(p.get("IP") for p in c.get("Ports") or [] if p.get("PublicPort"))
            time.sleep(0.05)
    watching = threading.Thread(target=watch_the_run_test, daemon=True)
    watching.start()
    try:
        result = _build(example, name, target, {"image_warm_interpreter": False, "image_verify": [HEALTH]},
                        env=dict(tls_engine.env, DOCKER_HOST=tls_engine.network_url))
        done.set()
        watching.join(timeout=10)
        assert result.returncode == 0, result.output
        assert "no session with the builder" not in result.output
        assert "deserialization failed" not in result.output
        assert published == {address}, published  # and the probe reached it there: the build passed its run test
        _check_built_there(docker_client, remote, name, before, result.output)
    finally:
        done.set()
        _remove_images(remote, name)


def test_signing_at_a_registry_the_engine_has_among_its_insecure_registries(tls_engine, example, tmp_path):
    """A plain-HTTP registry that is not on loopback, among the engine's insecure-registries (a CI job's registry
    service, with dind's --insecure-registry): the engine pushes there, and the signing attaches there too, over
    HTTP as the engine speaks to it (before: over HTTPS, which such a registry does not speak, after the push). The
    verifier, which has no engine to ask, is told (verify_plain_http)."""
    name, remote = "remote-insecure", tls_engine.client()
    address = tls_engine.network_url.split("://", 1)[1].rsplit(":", 1)[0]
    registry = "%s:%d" % (address, free_port())
    (tmp_path / "registry.yml").write_text(yaml.safe_dump({
        "version": 0.1, "log": {"level": "warn"}, "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
        "http": {"addr": registry}}))
    served = subprocess.Popen([shutil.which("docker-registry") or "/usr/bin/docker-registry", "serve",
                               str(tmp_path / "registry.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _keys(example, ed25519.Ed25519PrivateKey.generate())
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen("http://%s/v2/" % registry, timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the registry did not start"
                time.sleep(0.2)
        target = dict(_example_target(tls_engine), push=["%s/acme/%s" % (registry, name)])
        result = _build(example, name, target, {"image_sign": {"key": "signing-key.pem", "builder_id": "ci.example.test/insecure"}})
        assert result.returncode == 0, result.output[-4000:]
        with urllib.request.urlopen("http://%s/v2/acme/%s/tags/list" % (registry, name)) as answer:
            tags = json.loads(answer.read())["tags"]
        assert "1.0.0" in tags and [t for t in tags if t.startswith("sha256-")], tags  # the image and its attestations
        image = "%s/acme/%s:1.0.0" % (registry, name)
        told = verify(example, image=image, public_key="signing-key.pub", plain_http=True)
        assert told.returncode == 0, told.output[-3000:]
        untold = verify(example, image=image, public_key="signing-key.pub")
        assert untold.returncode != 0 and "cannot reach the registry %s" % registry in untold.output, untold.output[-3000:]
    finally:
        served.terminate()
        served.wait(timeout=10)
        _remove_images(remote, name)
        _remove_images(remote, "%s/acme/%s" % (registry, name))


def test_example_on_the_engine_of_the_docker_clis_current_context(docker_client, tls_engine, example, tmp_path):
    """No docker_host, no DOCKER_HOST: the engine and its TLS files are those of the docker CLI's current context
    (`docker context create` and `use`, as a workstation with Docker Desktop, colima or rootless Docker has one), as
    for the CLI. Before, such a build went to the default socket."""
    name, remote, before = "remote-webapp-context", tls_engine.client(), engine_state(docker_client)
    cli = ["docker", "--config", str(tmp_path / "cli")]
    subprocess.run(cli + ["context", "create", "builds", "--docker", "host=%s,ca=%s,cert=%s,key=%s" % (
        tls_engine.url, tls_engine.tls["ca_cert"], tls_engine.tls["client_cert"], tls_engine.tls["client_key"])],
        check=True, capture_output=True)
    subprocess.run(cli + ["context", "use", "builds"], check=True, capture_output=True)
    target = _example_target(tls_engine, tls=False)
    del target["docker_host"]
    try:
        result = _build(example, name, target, env={"DOCKER_CONFIG": str(tmp_path / "cli"), "DOCKER_HOST": "",
                                                    "DOCKER_TLS_VERIFY": "", "DOCKER_CERT_PATH": ""})
        assert result.returncode == 0, result.output
        assert "no session with the builder" not in result.output
        _check_built_there(docker_client, remote, name, before, result.output)
    finally:
        _remove_images(remote, name)


def test_missing_tls_file_is_a_clear_error_before_anything_starts(docker_client, tls_engine, example):
    name, remote = "remote-badtls", tls_engine.client()
    target = _example_target(tls_engine)
    target["tls"] = dict(tls_engine.tls, client_key="no-such-key.pem")
    result = _build(example, name, target)
    assert result.returncode != 0
    assert "image_targets[0].tls.client_key: no-such-key.pem is not a readable file" in result.output
    assert "BEGIN" not in result.output  # no certificate or key content is ever shown
    assert build_containers(remote) == [] and not any(name in c.name for c in docker_client.containers.list(all=True))


def test_example_on_an_ssh_engine_through_the_session(docker_client, tls_engine, ssh_engine, example):
    """ssh://root@127.0.0.1:<port> (the ssh binary, `docker system dial-stdio`), the session over it.
    Skipped where paramiko is not installed (the Docker SDK needs it for ssh:// at all)."""
    name, remote, before = "remote-webapp-ssh", tls_engine.client(), engine_state(docker_client)
    target = _example_target(tls_engine, tls=False)
    target["docker_host"] = ssh_engine.url
    try:
        result = _build(example, name, target, env=ssh_engine.env)
        assert result.returncode == 0, result.output
        assert "no session with the builder" not in result.output
        _check_built_there(docker_client, remote, name, before, result.output)
    finally:
        _remove_images(remote, name)


def test_engine_stopped_mid_build_fails_naming_it_and_janitor_cleans_it_once_back(docker_client, tls_engine, example):
    """Runs last in this file: it stops the engine (and starts it again)."""
    name, remote, before = "remote-dies", tls_engine.client(), engine_state(docker_client)
    (example / "roles" / "webapp" / "tasks" / "main.yml").write_text(
        "- name: Take a while\n  ansible.builtin.command: sleep 120\n  changed_when: false\n")
    stopped = threading.Event()

    def stop_when_the_builder_runs():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if any(c.status == "running" for c in build_containers(remote)):
                    time.sleep(8)  # into the long task
                    stopped.set()
                    tls_engine.stop()
                    return
            except Exception:  # noqa: BLE001 - the engine may be busy; try again
                pass
            time.sleep(0.5)

    stopper = threading.Thread(target=stop_when_the_builder_runs)
    stopper.start()
    started = time.monotonic()
    try:
        result = _build(example, name, _example_target(tls_engine))
        stopper.join()
        assert stopped.is_set(), result.output
        assert result.returncode != 0
        assert time.monotonic() - started < 100, "the build must fail, not wait for the task to end"
        assert "Docker engine at %s" % tls_engine.url in result.output, result.output
        assert new_resources(docker_client, before, name) == {"containers": [], "images": []}
    finally:
        stopper.join()
        tls_engine.start()
    remote = tls_engine.client()
    # Usually the engine kept the builder (its cleanup could not reach it); when the engine was still answering
    # while it shut down, the build's own cleanup got it first. Either way the janitor leaves none.
    cleanup = subprocess.run(
        ["ansible-playbook", "immutable.images.cleanup", "-e", json.dumps(
            {"cleanup_max_age": "1s", "cleanup_docker_hosts": [{"docker_host": tls_engine.url, "tls": tls_engine.tls}],
             "cleanup_image_names": [name]})],
        cwd=str(example), env=ansible_env({"REQUESTS_CA_BUNDLE": SYSTEM_BUNDLE}), capture_output=True, text=True, timeout=300, check=False)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert [c.name for c in build_containers(remote) if c.labels.get("immutable.images.image-name") == name] == []
    _remove_images(remote, name)
