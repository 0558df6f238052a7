# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""provenance.py: statements (in-toto v1 / SLSA v1), keys, DSSE sign and verify, expectations."""

from __future__ import annotations

import base64
import datetime
import json

import pytest

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ansible_collections.immutable.images.plugins.module_utils._artifacts import provenance as prov

BUILD = {"id": "20261203T1500Z-abcd", "hash": "0123456789ab", "name": "webapp", "version": "1.4.2",
         "started": "2026-12-03T15:00:00Z", "revision": "f" * 40, "files_digest": "sha256:" + "1" * 64,
         "definition_digest": "2" * 64, "target_names": ["container", "aws"],
         "roles": [{"name": "webapp", "path": "/x", "digest": "sha256:" + "3" * 64}]}
DOCKER = {"name": "container", "type": "docker", "base_image": "debian:bookworm"}
EC2 = {"name": "aws", "type": "ec2", "region": "us-west-2"}
IMAGE = "sha256:" + "a" * 64


def _write_key(tmp_path, key, password=None, name="key.pem"):
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path = tmp_path / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc))
    return str(path)


def _public(key):
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return prov.load_public_key(pem)


@pytest.fixture(params=["ecdsa", "ed25519"])
def key(request):
    return ec.generate_private_key(ec.SECP256R1()) if request.param == "ecdsa" else ed25519.Ed25519PrivateKey.generate()


def _provenance(subjects=None):
    predicate = prov.provenance_predicate(BUILD, DOCKER, "sha256:" + "b" * 64, "ci.example.com/images", "0.1.0",
                                          "2026-12-03T15:05:00Z")
    return prov.statement(subjects or prov.docker_subjects([{"ref": "reg:5000/acme/webapp:1.4.2", "digest": IMAGE}],
                                                           "sha256:" + "c" * 64, "webapp:1.4.2"),
                          prov.SLSA_PROVENANCE, predicate)


def test_statement_is_valid_in_toto_v1_with_slsa_v1_predicate():
    data = _provenance()
    prov.validate_statement(data)
    assert data["_type"] == "https://in-toto.io/Statement/v1"
    assert data["subject"] == [{"name": "reg:5000/acme/webapp", "digest": {"sha256": "a" * 64}}]
    build_def = data["predicate"]["buildDefinition"]
    assert build_def["externalParameters"]["definition"] == {"sha256": "2" * 64}
    assert build_def["externalParameters"]["roles"] == [{"name": "webapp", "digest": {"sha256": "3" * 64}}]
    assert build_def["externalParameters"]["files"] == {"sha256": "1" * 64}
    assert build_def["resolvedDependencies"][0] == {"name": "base_image", "uri": "debian:bookworm", "digest": {"sha256": "b" * 64}}
    run = data["predicate"]["runDetails"]
    assert run["builder"]["id"].endswith("@0.1.0#ci.example.com/images")
    assert run["metadata"] == {"invocationId": BUILD["id"], "startedOn": "2026-12-03T15:00:00Z", "finishedOn": "2026-12-03T15:05:00Z"}


def test_an_invalid_predicate_is_rejected_by_the_slsa_model():
    data = _provenance()
    data["predicate"]["buildDefinition"]["bogus"] = 1
    with pytest.raises(ValueError, match="bogus"):
        prov.validate_statement(data)
    with pytest.raises(ValueError):
        prov.validate_statement(prov.statement([{"name": "x", "digest": {}}], prov.SLSA_PROVENANCE, {"a": 1}))


def test_subjects_local_image_and_amis():
    assert prov.docker_subjects([], "sha256:" + "c" * 64, "webapp:1.4.2") == [{"name": "webapp:1.4.2", "digest": {"sha256": "c" * 64}}]
    two = prov.docker_subjects([{"ref": "r/a:1", "digest": IMAGE}, {"ref": "r/a:latest", "digest": IMAGE},
                                {"ref": "q/a:1", "digest": IMAGE}], IMAGE, "a")
    assert [s["name"] for s in two] == ["r/a", "q/a"]
    amis = prov.ami_subjects({"us-west-2": "ami-1", "eu-west-1": "ami-2"})
    assert [s["annotations"]["imageId"] for s in amis] == ["ami-2", "ami-1"]
    ec2 = prov.statement(amis, prov.SLSA_PROVENANCE, prov.provenance_predicate(BUILD, EC2, "ami-src", None, "0.1.0", "2026-12-03T15:05:00Z"))
    prov.validate_statement(ec2)
    assert ec2["predicate"]["runDetails"]["builder"]["id"].endswith("#unspecified")


def test_sign_and_verify_round_trip(tmp_path, key):
    signer = prov.load_signer(_write_key(tmp_path, key))
    envelope = prov.sign(_provenance(), signer)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    data = prov.verify(envelope, _public(key))
    assert data == _provenance()
    prov.check_subject(data, sha256="a" * 64)


def test_flipped_signature_byte_is_a_bad_signature(tmp_path, key):
    envelope = prov.sign(_provenance(), prov.load_signer(_write_key(tmp_path, key)))
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[len(sig) // 2] ^= 0x01
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(prov.ProvenanceError) as e:
        prov.verify(envelope, _public(key))
    assert e.value.reason == prov.BAD_SIGNATURE


def test_changed_payload_is_a_bad_signature(tmp_path, key):
    envelope = prov.sign(_provenance(), prov.load_signer(_write_key(tmp_path, key)))
    data = json.loads(base64.b64decode(envelope["payload"]))
    data["subject"][0]["digest"]["sha256"] = "d" * 64
    envelope["payload"] = base64.b64encode(json.dumps(data).encode()).decode()
    with pytest.raises(prov.ProvenanceError) as e:
        prov.verify(envelope, _public(key))
    assert e.value.reason == prov.BAD_SIGNATURE


def test_other_key_is_a_wrong_key(tmp_path, key):
    envelope = prov.sign(_provenance(), prov.load_signer(_write_key(tmp_path, key)))
    with pytest.raises(prov.ProvenanceError) as e:
        prov.verify(envelope, _public(ec.generate_private_key(ec.SECP256R1())))
    assert e.value.reason == prov.WRONG_KEY


def test_subject_mismatch():
    with pytest.raises(prov.ProvenanceError) as e:
        prov.check_subject(_provenance(), sha256="e" * 64)
    assert e.value.reason == prov.SUBJECT_MISMATCH and "re-tagged" in str(e.value)


def test_expectations():
    data = _provenance()
    now = datetime.datetime(2026, 12, 3, 16, 0, tzinfo=datetime.timezone.utc)
    prov.check_expectations(data, {"image_name": "webapp", "version": "1.4.2", "builder_id": "ci.example.com/images",
                                   "base_digest": "sha256:" + "b" * 64, "max_age": 3600}, now)
    for expect in ({"version": "1.4.3"}, {"builder_id": "laptop"}, {"base_digest": "sha256:" + "9" * 64},
                   {"max_age": 60}, {"image_name": "other"}):
        with pytest.raises(prov.ProvenanceError) as e:
            prov.check_expectations(data, expect, now)
        assert e.value.reason == prov.EXPECTATION_MISMATCH and list(expect)[0] in str(e.value)


def test_encrypted_key_needs_its_password_from_the_environment(tmp_path, monkeypatch, key):
    path = _write_key(tmp_path, key, b"s3cret-pass")
    with pytest.raises(prov.ProvenanceError, match="password_env"):
        prov.load_signer(path)
    with pytest.raises(prov.ProvenanceError, match="IMG_KEY_PASS is not set"):
        prov.load_signer(path, "IMG_KEY_PASS")
    monkeypatch.setenv("IMG_KEY_PASS", "wrong")
    with pytest.raises(prov.ProvenanceError) as e:
        prov.load_signer(path, "IMG_KEY_PASS")
    assert "s3cret-pass" not in str(e.value)
    monkeypatch.setenv("IMG_KEY_PASS", "s3cret-pass")
    assert prov.load_signer(path, "IMG_KEY_PASS").public_key.keyid == _public(key).keyid


def test_check_sign_config_names_the_variable(tmp_path):
    assert prov.check_sign_config(None, str(tmp_path)) == []
    assert prov.check_sign_config({"key": "missing.pem"}, str(tmp_path))[0].startswith("image_sign.key: cannot read missing.pem")
    rsa_key = _write_key(tmp_path, rsa.generate_private_key(public_exponent=65537, key_size=2048), name="rsa.pem")
    assert "supported: ECDSA P-256, Ed25519" in prov.check_sign_config({"key": rsa_key}, str(tmp_path))[0]
    p384 = _write_key(tmp_path, ec.generate_private_key(ec.SECP384R1()), name="p384.pem")
    assert "supported" in prov.check_sign_config({"key": p384}, str(tmp_path))[0]
    (tmp_path / "junk.pem").write_text("not a key")
    assert "not a PEM private key" in prov.check_sign_config({"key": "junk.pem"}, str(tmp_path))[0]


def test_retention_removes_the_attestation_files_of_removed_versions_only():
    from ansible_collections.immutable.images.plugins.module_utils._artifacts.retention import attestation_files

    removed = [{"version": "1.0.0", "target": "container"}, {"version": "1.1.0", "target": "container"},
               {"version": "1.1.0", "target": "container"}]
    kept = [{"version": "1.1.0", "target": "container"}, {"version": "1.2.0", "target": "container"}]
    assert attestation_files("/m", "webapp", removed, kept) == [
        "/m/webapp-1.0.0-container.provenance.dsse.json", "/m/webapp-1.0.0-container.sbom.dsse.json"]
    assert attestation_files("/m", "webapp", [{"version": "2.0.0"}], [], target="aws") == [
        "/m/webapp-2.0.0-aws.provenance.dsse.json", "/m/webapp-2.0.0-aws.sbom.dsse.json"]


def test_a_registry_that_does_not_answer_is_not_found_at_once_naming_it(monkeypatch):
    """Before, the connection error reached the module as an OSError without a file (`cannot read None: None`), after
    the oras client's retries (2 min 17 s measured): now one request, and no retry is waited for."""
    import socket

    import oras.provider  # imports oras.decorator as oras imports it (the decorator module alone is a circular import)

    from ansible_collections.immutable.images.plugins.module_utils._artifacts import provenance_verify

    waits = []
    monkeypatch.setattr(oras.provider.decorator.time, "sleep", waits.append)  # the oras client's retry waits
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once it is closed
    public = prov.load_public_key(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(prov.ProvenanceError) as failed:
        provenance_verify.verify_docker("127.0.0.1:%d/webapp:1.0.0" % port, public)
    assert failed.value.reason == "not_found" and waits == []
    assert str(failed.value).startswith("127.0.0.1:%d/webapp:1.0.0: cannot reach the registry 127.0.0.1:%d: " % (port, port))
