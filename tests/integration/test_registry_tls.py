# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A company's registry: HTTPS with a private CA, and a client certificate asked for. The engine trusts it through
Docker's certs.d (/etc/docker/certs.d/<host:port>/; a rootless engine: the user's $XDG_CONFIG_HOME/docker/certs.d);
the controller's signing and verifying of the image's provenance trust what the engine there trusts, and a verifier
on a machine without it is given the CA (verify_ca_cert)."""

import glob
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

from cryptography.hazmat.primitives.asymmetric import ed25519
import pytest
import requests
import yaml

from conftest import BASE_IMAGE, free_port, run_build
from engines import add_bridge, bridge_address, make_certificates
from test_provenance import _keys, verify

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CERTS_D = "/etc/docker/certs.d"


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory):
    """Debian's docker-registry on the address of a bridge of its own (not loopback: the engine and the collection
    speak plain HTTP to a loopback registry), with TLS by a CA of its own and client certificates required; the
    engine's certs.d has the CA and a client certificate for it. Yields (host:port, the certificates' directory)."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("a bridge and the engine's certs.d need root")
    bridge = add_bridge()
    proc, trusted, made_certs_d = None, None, False
    try:
        address = bridge_address(bridge)
        host = "%s:%d" % (address, free_port())
        base = tmp_path_factory.mktemp("tls-registry")
        certs = base / "certs"
        make_certificates(str(certs), "IP:" + address)
        (base / "config.yml").write_text(yaml.safe_dump({
            "version": 0.1, "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(base / "data")}, "delete": {"enabled": True}},
            "http": {"addr": host, "tls": {"certificate": str(certs / "server-cert.pem"),
                                           "key": str(certs / "server-key.pem"), "clientcas": [str(certs / "ca.pem")]}}}))
        made_certs_d = not os.path.isdir(CERTS_D)  # removed after, if the test made it: the machine as it was
        trusted = pathlib.Path(CERTS_D, host)
        trusted.mkdir(parents=True)
        for source, name in (("ca.pem", "ca.crt"), ("cert.pem", "client.cert"), ("key.pem", "client.key")):
            shutil.copy(certs / source, trusted / name)
        proc = subprocess.Popen([shutil.which("docker-registry") or "/usr/bin/docker-registry", "serve", str(base / "config.yml")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get("https://%s/v2/" % host, verify=str(certs / "ca.pem"),
                             cert=(str(certs / "cert.pem"), str(certs / "key.pem")), timeout=5).raise_for_status()
                break
            except requests.exceptions.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield host, certs
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=10)
        if trusted:
            shutil.rmtree(trusted, ignore_errors=True)
        if made_certs_d:
            shutil.rmtree(CERTS_D, ignore_errors=True)
        subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)


def test_signing_and_verifying_trust_what_the_engine_trusts(docker_client, project, tls_registry, remove_images):
    host, certs = tls_registry
    repository = "%s/acme/tlsregistry" % host
    remove_images("tlsregistry")
    remove_images(repository)
    project.role("marker", "- name: Mark\n  ansible.builtin.copy:\n    dest: /marker\n    content: over TLS\n")
    _keys(project.path, ed25519.Ed25519PrivateKey.generate())
    bundles = set(glob.glob(os.path.join(tempfile.gettempdir(), "immutable-images-ca-*")))

    proc = run_build(project.path, {
        "image_name": "tlsregistry", "image_version": "1.0.0", "image_gather_facts": False, "image_cache": False,
        "image_roles": ["marker"], "image_sign": {"key": "signing-key.pem", "builder_id": "ci.example.test/tls"},
        "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never",
                           "push": [repository]}]})
    assert proc.returncode == 0, proc.output[-4000:]
    tags = requests.get("https://%s/v2/acme/tlsregistry/tags/list" % host, verify=str(certs / "ca.pem"),
                        cert=(str(certs / "cert.pem"), str(certs / "key.pem")), timeout=10).json()["tags"]
    assert "1.0.0" in tags and [t for t in tags if t.startswith("sha256-")], tags  # the image and its attestations
    verified = verify(project.path, image=repository + ":1.0.0", public_key="signing-key.pub")
    assert verified.returncode == 0, verified.output[-3000:]

    # A verifier where the engine's certs.d has no CA for the registry (the client certificate stays): refused at
    # once, saying why; given the CA, verified.
    os.rename(os.path.join(CERTS_D, host, "ca.crt"), os.path.join(CERTS_D, host, "ca.crt.off"))
    try:
        refused = verify(project.path, image=repository + ":1.0.0", public_key="signing-key.pub")
        assert refused.returncode != 0
        assert "certificate verify failed" in refused.output and "cannot reach the registry %s" % host in refused.output, \
            refused.output[-3000:]
        given = verify(project.path, image=repository + ":1.0.0", public_key="signing-key.pub", ca_cert=str(certs / "ca.pem"))
        assert given.returncode == 0, given.output[-3000:]
        # the CA where a rootless engine of this user would have it ($XDG_CONFIG_HOME/docker/certs.d): verified
        user_config = project.path / "user-config"
        (user_config / "docker" / "certs.d" / host).mkdir(parents=True)
        shutil.copy(certs / "ca.pem", user_config / "docker" / "certs.d" / host / "ca.crt")
        rootless = verify(project.path, env={"XDG_CONFIG_HOME": str(user_config)}, image=repository + ":1.0.0",
                          public_key="signing-key.pub")
        assert rootless.returncode == 0, rootless.output[-3000:]
        missing = verify(project.path, image=repository + ":1.0.0", public_key="signing-key.pub",
                         ca_cert=str(certs / "no-such-ca.pem"))
        assert missing.returncode != 0 and "cannot read %s" % (certs / "no-such-ca.pem") in missing.output, \
            missing.output[-3000:]
        assert '"reason": "bad_input"' in missing.output, missing.output[-3000:]
    finally:
        os.rename(os.path.join(CERTS_D, host, "ca.crt.off"), os.path.join(CERTS_D, host, "ca.crt"))
    # the CA bundles made for the registry's requests are gone
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "immutable-images-ca-*"))) <= bundles
