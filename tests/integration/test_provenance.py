# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Signed provenance (image_sign) end to end: the example built, pushed to a real registry (Debian's
docker-registry) and signed; immutable.images.verify_image passes for it and fails, each with its own reason,
for a re-tagged image, a flipped signature byte, the wrong key, an expectation mismatch and an unsigned image.
An AMI build on moto records its envelope and verifies. The private key and its password appear nowhere."""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile

import pytest
import requests
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from conftest import BASE_IMAGE, ROOT, SSH_BASE_IMAGE, ansible_env, run_build
from test_ec2_build import ec2_target, import_key

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PASSWORD = "prov-Pa55word-never-shown"
BUILDER = "ci.example.test/prov"


def _keys(path, key, password=None):
    enc = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (path / "signing-key.pem").write_bytes(private)
    (path / "signing-key.pub").write_bytes(public)
    return private


def verify(cwd, env=None, **variables):
    extra = json.dumps({"verify_" + k: v for k, v in variables.items()})
    proc = subprocess.run(["ansible-playbook", "immutable.images.verify_image", "-e", extra], cwd=str(cwd),
                          env=ansible_env(env), capture_output=True, text=True, timeout=600, check=False)
    proc.output = proc.stdout + proc.stderr
    return proc


def verify_cases(cwd, cases, env=None, **common):
    """Run the verify module once per case in one ansible-playbook run (one start-up for all of them); the
    results by case name. The same module and arguments as the immutable.images.verify_image playbook."""
    playbook = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Verify each case", "immutable.images.image_attestation_verify": "{{ item.value }}",
         "loop": "{{ cases | dict2items }}", "register": "verified", "ignore_errors": True},
        {"name": "Results", "ansible.builtin.copy": {"content": "{{ verified.results | to_json }}", "dest": "results.json",
                                                     "mode": "0644"}}]}]
    (cwd / "verify-cases.yml").write_text(yaml.safe_dump(playbook))
    cases = {k: dict(common, **v) for k, v in cases.items()}
    proc = subprocess.run(["ansible-playbook", "verify-cases.yml", "-e", json.dumps({"cases": cases})], cwd=str(cwd),
                          env=ansible_env(env), capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {r["item"]["key"]: r for r in json.loads((cwd / "results.json").read_text())}


def _secret_parts(private_pem):
    """The key's base64 body lines: any of them in output or a file would be a leak."""
    return [line for line in private_pem.decode().splitlines() if not line.startswith("-----")] + [PASSWORD]


def test_signed_push_verifies_and_each_tampering_fails_distinctly(docker_client, registry, tmp_path, remove_images):
    project = tmp_path / "webapp"
    shutil.copytree(os.path.join(ROOT, "examples", "webapp"), project, ignore=shutil.ignore_patterns("build-manifest.json"))
    private = _keys(project, ec.generate_private_key(ec.SECP256R1()), PASSWORD)
    with open(project / "webapp.yml") as f:
        definition = yaml.safe_load(f)
    repo = "%s/prov/webapp" % registry
    definition.update(image_name="prov-webapp", image_manifest="out/build-manifest.json", image_force=True,
                      image_sign={"key": "signing-key.pem", "password_env": "PROV_KEY_PASSWORD", "builder_id": BUILDER})
    definition["image_targets"][0].update(pull="never", base_image=BASE_IMAGE, push=[repo], tags=["1.0.0"],
                                          save="out/prov-webapp.tar")
    (project / "out").mkdir()
    remove_images("prov-webapp")
    remove_images(repo)

    proc = run_build(project, definition, "-vvvv", env={"PROV_KEY_PASSWORD": PASSWORD})
    assert proc.returncode == 0, proc.output[-5000:]
    manifest = json.loads((project / "out" / "build-manifest.json").read_text())
    artifact = manifest["targets"][0]["artifact"]
    digest = artifact["digests"][repo + ":1.0.0"]
    atts = {a["predicate_type"]: a for a in artifact["attestations"]}
    assert set(atts) == {"https://slsa.dev/provenance/v1", "https://cyclonedx.org/bom"}
    prov_file = atts["https://slsa.dev/provenance/v1"]["path"]
    assert prov_file == str(project / "out" / "prov-webapp-1.0.0-container.provenance.dsse.json")
    referrer = atts["https://slsa.dev/provenance/v1"]["referrers"][0]
    signing = [line for line in proc.output.splitlines() if "statement(s) of target" in line]
    assert referrer["repository"] == repo and referrer.get("fallback_tag") == digest.replace(":", "-"), (atts, signing)

    # The statement: in-toto v1 + SLSA v1 (the library's model), about the pushed digest.
    from ansible_collections.immutable.images.plugins.module_utils._artifacts import provenance as prov
    envelope = json.loads(open(prov_file).read())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    prov.validate_statement(statement)
    assert statement["subject"] == [{"name": repo, "digest": {"sha256": digest.split(":")[1]}}]
    run = statement["predicate"]["runDetails"]
    assert run["metadata"]["invocationId"] == manifest["build_id"] and run["builder"]["id"].endswith("#" + BUILDER)
    params = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert params["version"] == "1.0.0" and params["build_hash"] == manifest["build_hash"]
    assert params["roles"][0]["name"] == "webapp" and params["files"]["sha256"]
    base_id = docker_client.images.get(BASE_IMAGE).id
    assert {"name": "base_image", "uri": BASE_IMAGE, "digest": {"sha256": base_id.split(":")[1]}} in \
        statement["predicate"]["buildDefinition"]["resolvedDependencies"]

    # The registry holds the attestation manifest: an OCI artifact whose subject is the image.
    index = requests.get("http://%s/v2/prov/webapp/manifests/%s" % (registry, referrer["fallback_tag"]),
                         headers={"Accept": "application/vnd.oci.image.index.v1+json"}, timeout=10).json()
    assert {m["digest"] for m in index["manifests"]} == {a["referrers"][0]["digest"] for a in atts.values()}
    attached = requests.get("http://%s/v2/prov/webapp/manifests/%s" % (registry, referrer["digest"]),
                            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=10).json()
    assert attached["subject"]["digest"] == digest and attached["artifactType"] == "application/vnd.dsse.envelope.v1+json"

    # Neither the key nor its password is in the -vvvv output, the files written, or the saved image.
    secrets = _secret_parts(private)
    assert not [s for s in secrets if s in proc.output]
    for path in (project / "out").rglob("*"):
        if path.is_file() and path.suffix != ".tar":
            assert not [s for s in secrets if s in path.read_text()], path
    with tarfile.open(project / "out" / "prov-webapp.tar") as tar:
        for member in tar.getmembers():
            if member.isfile():
                data = tar.extractfile(member).read()
                if member.name.endswith(".tar") or member.name.startswith("blobs/"):
                    try:
                        with tarfile.open(fileobj=__import__("io").BytesIO(data)) as layer:
                            data = b"".join(layer.extractfile(m).read() for m in layer.getmembers() if m.isfile())
                    except tarfile.TarError:
                        pass
                assert not [s for s in secrets if s.encode() in data], member.name

    # A rebuild of the same inputs reuses the image and keeps its signed statements (the same envelopes).
    definition["image_force"] = False
    again = run_build(project, definition, env={"PROV_KEY_PASSWORD": PASSWORD})
    assert again.returncode == 0, again.output[-3000:]
    reused = json.loads((project / "out" / "build-manifest.json").read_text())["targets"][0]
    assert reused.get("reused")
    assert {a["sha256"] for a in reused["artifact"]["attestations"]} == {a["sha256"] for a in atts.values()}
    assert all(r.get("kept") for a in reused["artifact"]["attestations"] for r in a["referrers"])

    # The tampering the verifier must catch: a flipped signature byte, an unsigned image, a re-tagged image.
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[10] ^= 0x01
    flipped = dict(envelope, signatures=[dict(envelope["signatures"][0], sig=base64.b64encode(bytes(sig)).decode())])
    (tmp_path / "flipped.json").write_text(json.dumps(flipped))
    other = tmp_path / "other"
    other.mkdir()
    _keys(other, ed25519.Ed25519PrivateKey.generate())
    for tag, source in (("unsigned", SSH_BASE_IMAGE), ("retagged", BASE_IMAGE)):
        docker_client.images.get(source).tag(repo, tag)
        for line in docker_client.api.push(repo, tag, stream=True, decode=True):
            assert not line.get("error"), line
    head = requests.head("http://%s/v2/prov/webapp/manifests/retagged" % registry, timeout=10,
                         headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    retagged = head.headers["Docker-Content-Digest"]
    assert retagged != digest
    # Whoever re-tags also copies the attestations over (to the other digest's fallback tag).
    r = requests.put("http://%s/v2/prov/webapp/manifests/%s" % (registry, retagged.replace(":", "-")),
                     data=json.dumps(index, separators=(",", ":")),
                     headers={"Content-Type": "application/vnd.oci.image.index.v1+json"}, timeout=10)
    assert r.status_code == 201, r.text

    image = repo + ":1.0.0"
    cases = {
        "ok": dict(image=image, expect={"image_name": "prov-webapp", "version": "1.0.0", "builder_id": BUILDER,
                                        "max_age": "1h", "base_digest": base_id}),
        "by_digest": dict(image=repo + "@" + digest),
        "expectation": dict(image=image, expect={"version": "9.9.9"}),
        "wrong_key": dict(image=image, public_key=str(other / "signing-key.pub")),
        "flipped": dict(image=image, attestation=str(tmp_path / "flipped.json")),
        "unsigned": dict(image=repo + ":unsigned"),
        "retagged": dict(image=repo + ":retagged"),
        "retagged_file": dict(image=repo + ":retagged", attestation=prov_file),
    }
    ok = verify(project, image=image, public_key="signing-key.pub", expect=cases.pop("ok")["expect"])
    assert ok.returncode == 0 and "provenance verified" in ok.output and digest in ok.output, ok.output
    results = verify_cases(project, cases, public_key=str(project / "signing-key.pub"))
    assert not results["by_digest"].get("failed") and results["by_digest"]["build_id"] == manifest["build_id"]
    expected = {
        "expectation": ("expectation_mismatch", "does not match expectations: version is '1.0.0', expected '9.9.9'"),
        "wrong_key": ("wrong_key", "not by the public key given"),
        "flipped": ("bad_signature", "signature does not verify"),
        "unsigned": ("no_attestation", "has no attestation"),
        "retagged": ("subject_mismatch", "re-tagged or points at a different image"),
        "retagged_file": ("subject_mismatch", "re-tagged or points at a different image"),
    }
    for name, (reason, text) in expected.items():
        assert results[name].get("failed") and results[name]["reason"] == reason and text in results[name]["msg"], \
            (name, results[name])
    remove_images(repo)


@pytest.mark.aws
def test_ami_build_records_and_verifies_its_envelope(aws, ssh_target, project):
    import_key(aws, ssh_target)
    project.role("motd", "- name: Motd\n  ansible.builtin.copy: {content: signed, dest: /etc/motd, mode: '0644'}\n")
    private = _keys(project.path, ed25519.Ed25519PrivateKey.generate())
    definition = {"image_name": "prov-ami", "image_version": "1.2.0", "image_gather_facts": False,
                  "image_roles": ["motd"], "image_manifest": "manifest.json",
                  "image_sign": {"key": "signing-key.pem", "builder_id": BUILDER},
                  "image_targets": [ec2_target(ssh_target)]}
    proc = run_build(project.path, definition, env=aws.env)
    assert proc.returncode == 0, proc.output[-5000:]
    assert not [s for s in _secret_parts(private)[:-1] if s in proc.output]
    artifact = json.loads((project.path / "manifest.json").read_text())["targets"][0]["artifact"]
    ami_id = artifact["amis"]["us-east-1"]
    att = artifact["attestations"][0]
    content = open(att["path"], "rb").read()
    assert hashlib.sha256(content).hexdigest() == att["sha256"]
    image = aws.client("ec2").describe_images(ImageIds=[ami_id])["Images"][0]
    assert {"Key": "immutable.images.provenance.sha256", "Value": att["sha256"]} in image["Tags"]

    # The envelope of another artifact (here the SBOM statement's file) is not this AMI's.
    results = verify_cases(project.path, {
        "ok": dict(attestation=att["path"], expect={"image_name": "prov-ami", "builder_id": BUILDER}),
        "other_file": dict(attestation=artifact["attestations"][1]["path"]),
    }, env=aws.env, ami_id=ami_id, region="us-east-1", public_key=str(project.path / "signing-key.pub"))
    assert not results["ok"].get("failed") and "provenance verified" in results["ok"]["msg"], results["ok"]
    assert results["other_file"]["reason"] == "subject_mismatch"
    assert "not the one %s was tagged with" % ami_id in results["other_file"]["msg"]
