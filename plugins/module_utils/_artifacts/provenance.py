# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Signed provenance (a definition's `image_sign`): in-toto v1 statements, SLSA v1 provenance, DSSE envelopes.

Controller side only. The statement and DSSE formats come from `in-toto-attestation` and `securesystemslib`
(keys and signatures through `cryptography`); nothing here signs or parses PEM by hand. See docs/provenance.md.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os


class _Libraries:
    """The signing and statement libraries, imported at first use (_need_libraries). The plan imports this module in
    ansible-playbook's own process for every build; importing them there cost about 0.2 s (securesystemslib's signer
    package alone imports boto3, for its AWS KMS signer), which only a build that signs or verifies needs."""

    loaded = False
    error = None

    def load(self):
        try:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import ec, ed25519
            from google.protobuf import json_format
            from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
            from in_toto_attestation.v1 import statement_pb2
            from in_toto_attestation.v1.statement import Statement
            from securesystemslib.dsse import Envelope
            from securesystemslib.exceptions import VerificationError
            from securesystemslib.signer import CryptoSigner, SSlibKey
        except ImportError as e:  # reported by check_sign_config / the verify module, only when signing is used
            self.error = e
            return
        self.serialization, self.ec, self.ed25519, self.json_format = serialization, ec, ed25519, json_format
        self.provenance_pb2, self.statement_pb2, self.Statement = provenance_pb2, statement_pb2, Statement
        self.Envelope, self.VerificationError, self.CryptoSigner, self.SSlibKey = Envelope, VerificationError, CryptoSigner, SSlibKey
        self.loaded = True


_lib = _Libraries()

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
CYCLONEDX_BOM = "https://cyclonedx.org/bom"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUILD_TYPE = "https://github.com/immutable-images/immutable.images/build/v1"
BUILDER_PREFIX = "https://github.com/immutable-images/immutable.images"
AMI_TAG = "immutable.images.provenance.sha256"

# Distinct failures of verification, in the order they are checked (docs/provenance.md).
NO_ATTESTATION = "no_attestation"
BAD_SIGNATURE = "bad_signature"
WRONG_KEY = "wrong_key"
SUBJECT_MISMATCH = "subject_mismatch"
EXPECTATION_MISMATCH = "expectation_mismatch"


class ProvenanceError(Exception):
    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def _need_libraries():
    if not _lib.loaded:
        _lib.load()
    if _lib.error is not None:
        raise ProvenanceError("missing_library", "image_sign needs the Python packages cryptography, securesystemslib and "
                              "in-toto-attestation on the controller (requirements.txt): %s" % _lib.error)


# ---- keys -----------------------------------------------------------------------------------------------

def check_sign_config(image_sign, cwd):
    """Errors (strings naming the variable) for an image_sign that cannot sign; [] when it can or is unset."""
    if not image_sign or not image_sign.get("key"):
        return [] if not image_sign else ["image_sign.key: required when image_sign is set"]
    try:
        load_signer(image_sign["key"], image_sign.get("password_env"), cwd)
    except ProvenanceError as e:
        return [str(e)]
    return []


def load_signer(key_path, password_env=None, cwd=None):
    """A CryptoSigner for a PEM ECDSA P-256 or Ed25519 private key. The password (when the key is encrypted)
    is read from the environment variable named password_env; it is never returned or reported."""
    _need_libraries()
    path = os.path.join(cwd or os.getcwd(), os.path.expanduser(key_path))
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise ProvenanceError("bad_key", "image_sign.key: cannot read %s: %s" % (key_path, e.strerror))
    password = None
    if password_env:
        if password_env not in os.environ:
            raise ProvenanceError("bad_key", "image_sign.password_env: the environment variable %s is not set" % password_env)
        password = os.environ[password_env].encode()
    try:
        key = _lib.serialization.load_pem_private_key(pem, password=password)
    except TypeError:
        raise ProvenanceError("bad_key", "image_sign.key: %s is encrypted: set image_sign.password_env to the name of "
                              "an environment variable that holds its password" % key_path if password is None else
                              "image_sign.key: %s is not encrypted, but image_sign.password_env is set" % key_path)
    except ValueError:
        raise ProvenanceError("bad_key", "image_sign.key: %s is not a PEM private key, or the password in %s is wrong"
                              % (key_path, password_env or "(none)"))
    if not _supported(key):
        raise ProvenanceError("bad_key", "image_sign.key: %s is a %s key; supported: ECDSA P-256, Ed25519"
                              % (key_path, type(key).__name__.lstrip("_")))
    return _lib.CryptoSigner(key)


def _supported(key):
    if isinstance(key, (_lib.ec.EllipticCurvePrivateKey, _lib.ec.EllipticCurvePublicKey)):
        return isinstance(key.curve, _lib.ec.SECP256R1)
    return isinstance(key, (_lib.ed25519.Ed25519PrivateKey, _lib.ed25519.Ed25519PublicKey))


def load_public_key(pem):
    """An SSlibKey from a PEM public key (bytes), ECDSA P-256 or Ed25519."""
    _need_libraries()
    try:
        key = _lib.serialization.load_pem_public_key(pem)
    except ValueError:
        raise ProvenanceError("bad_public_key", "public_key: not a PEM public key")
    if not _supported(key):
        raise ProvenanceError("bad_public_key", "public_key: a %s key; supported: ECDSA P-256, Ed25519" % type(key).__name__)
    return _lib.SSlibKey.from_crypto(key)


def public_key_pem(signer):
    """The PEM public key of a signer (what deploys verify with), from the key's public keyval (securesystemslib's
    private _crypto_key became a method in 1.x)."""
    _need_libraries()
    key = signer.public_key
    if key.keytype == "ed25519":
        public = _lib.ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(key.keyval["public"]))
    else:
        public = _lib.serialization.load_pem_public_key(key.keyval["public"].encode())
    return public.public_bytes(_lib.serialization.Encoding.PEM, _lib.serialization.PublicFormat.SubjectPublicKeyInfo).decode()


# ---- statements ---------------------------------------------------------------------------------------------

def sha256_json(data):
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def docker_subjects(pushed, image_id, local_ref):
    """One subject per pushed repository (its manifest digest); the image id when nothing was pushed."""
    subjects, seen = [], set()
    for p in pushed or []:
        repo = p["ref"].rsplit(":", 1)[0] if ":" in p["ref"].rsplit("/", 1)[-1] else p["ref"]
        if p.get("digest") and repo not in seen:
            seen.add(repo)
            subjects.append({"name": repo, "digest": {"sha256": p["digest"].split(":", 1)[1]}})
    if not subjects:
        subjects.append({"name": local_ref, "digest": {"sha256": image_id.split(":", 1)[-1]}})
    return subjects


def ami_subjects(amis):
    """One subject per region. An AMI id is not a content digest: the digest is the sha256 of its ARN-like name,
    which names the AMI id and region; verifiers compare the name (and this digest) with the AMI asked about."""
    return [{"name": ami_name(region, ami_id), "digest": {"sha256": hashlib.sha256(ami_name(region, ami_id).encode()).hexdigest()},
             "annotations": {"region": region, "imageId": ami_id}} for region, ami_id in sorted(amis.items())]


def ami_name(region, ami_id):
    return "arn:aws:ec2:%s::image/%s" % (region, ami_id)


def provenance_predicate(build, target, base, builder_id, collection_version, finished):
    """The SLSA v1 provenance predicate of one target of a build (build: the launch role's image_build)."""
    roles = [{"name": r["name"], "digest": {"sha256": r["digest"].split(":")[-1]}} for r in build.get("roles") or []]
    params = {
        "image_name": build["name"],
        "version": build["version"],
        "build_hash": build["hash"],
        "target": {"name": target["name"], "type": target["type"]},
        "targets": build.get("target_names") or [target["name"]],
        "roles": roles,
        "files": {"sha256": (build.get("files_digest") or "").split(":")[-1]} if build.get("files_digest") else None,
        "definition": {"sha256": build.get("definition_digest")},
    }
    if build.get("revision"):
        params["revision"] = build["revision"]
    deps = []
    if target["type"] == "docker":
        deps.append({"name": "base_image", "uri": target.get("base_image") or "",
                     "digest": {"sha256": (base or "").split(":")[-1]}} if base else
                    {"name": "base_image", "uri": target.get("base_image") or ""})
    else:
        deps.append({"name": "source_ami", "uri": ami_name(target["region"], base) if base else "",
                     "annotations": {"imageId": base or "", "region": target["region"]}})
    deps.append({"name": "collection", "uri": "immutable.images@%s" % (collection_version or "unknown")})
    deps = [{k: v for k, v in d.items() if v} for d in deps]
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {k: v for k, v in params.items() if v is not None},
            "internalParameters": {"collection_version": collection_version or "unknown"},
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": {"id": builder_uri(builder_id, collection_version),
                        "version": {"immutable.images": collection_version or "unknown"}},
            "metadata": {"invocationId": build["id"], "startedOn": build["started"], "finishedOn": finished},
        },
    }


def builder_uri(builder_id, collection_version):
    """The builder id: this collection, its version and the controller identity the user chose (never a host name)."""
    return "%s@%s#%s" % (BUILDER_PREFIX, collection_version or "unknown", builder_id or "unspecified")


def statement(subjects, predicate_type, predicate):
    return {"_type": STATEMENT_TYPE, "subject": subjects, "predicateType": predicate_type, "predicate": predicate}


def validate_statement(data):
    """Check a statement against the in-toto v1 model and, for provenance, the SLSA v1 model; raise ValueError."""
    _need_libraries()
    try:
        pb = _lib.json_format.ParseDict(data, _lib.statement_pb2.Statement(), ignore_unknown_fields=False)
        _lib.Statement.copy_from_pb(pb).validate()
        if data["predicateType"] != SLSA_PROVENANCE:
            return
        msg = _lib.json_format.ParseDict(data["predicate"], _lib.provenance_pb2.Provenance(), ignore_unknown_fields=False)
    except _lib.json_format.ParseError as e:
        raise ValueError("not a valid in-toto v1 statement: %s" % e)
    if not msg.build_definition.build_type or not msg.run_details.builder.id:
        raise ValueError("SLSA provenance needs buildDefinition.buildType and runDetails.builder.id")


# ---- DSSE ------------------------------------------------------------------------------------------------

def sign(data, signer):
    """A DSSE envelope (dict, JSON-ready) of a statement."""
    _need_libraries()
    validate_statement(data)
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    env = _lib.Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})
    env.sign(signer)
    return env.to_dict()


def envelope_bytes(envelope):
    return (json.dumps(envelope, sort_keys=True, indent=1) + "\n").encode()


def verify(envelope, public_key):
    """The statement of a DSSE envelope signed by public_key (an SSlibKey). Raises ProvenanceError: wrong_key when
    no signature is by that key, bad_signature when one is but does not verify (a changed byte)."""
    _need_libraries()
    try:
        env = _lib.Envelope.from_dict(envelope)
    except (KeyError, TypeError, ValueError):
        raise ProvenanceError(BAD_SIGNATURE, "the attestation is not a DSSE envelope")
    if env.payload_type != PAYLOAD_TYPE:
        raise ProvenanceError(BAD_SIGNATURE, "the attestation's payload type is %r, not %s" % (env.payload_type, PAYLOAD_TYPE))
    if public_key.keyid not in env.signatures:
        raise ProvenanceError(WRONG_KEY, "the attestation is signed by key %s, not by the public key given (%s)"
                              % (", ".join(env.signatures) or "none", public_key.keyid))
    try:
        env.verify([public_key], 1)
    except _lib.VerificationError:
        raise ProvenanceError(BAD_SIGNATURE, "the attestation's signature does not verify with key %s: the envelope "
                              "was changed after signing" % public_key.keyid)
    try:
        return json.loads(env.payload)
    except ValueError:
        raise ProvenanceError(BAD_SIGNATURE, "the signed payload is not JSON")


def payload_statement(envelope):
    """The statement of an envelope, unverified (to choose which envelope to verify)."""
    try:
        return json.loads(base64.b64decode(envelope["payload"]))
    except (KeyError, TypeError, ValueError):
        return {}


# ---- checks -------------------------------------------------------------------------------------------------

def check_subject(data, name=None, sha256=None):
    """Raise subject_mismatch unless a subject of the statement has this digest (and name, when given)."""
    for s in data.get("subject") or []:
        if sha256 and (s.get("digest") or {}).get("sha256") == sha256 and (name is None or s.get("name") == name):
            return s
    have = ", ".join("%s@sha256:%s" % (s.get("name"), (s.get("digest") or {}).get("sha256")) for s in data.get("subject") or [])
    raise ProvenanceError(SUBJECT_MISMATCH, "the attestation is for %s, not for %s@sha256:%s: the reference was re-tagged "
                          "or points at a different image" % (have or "nothing", name or "the image", sha256))


def check_expectations(data, expect, now=None):
    """Raise expectation_mismatch naming every expected value the provenance does not have."""
    pred = data.get("predicate") or {}
    params = (pred.get("buildDefinition") or {}).get("externalParameters") or {}
    run = pred.get("runDetails") or {}
    found = {
        "image_name": params.get("image_name"),
        "version": params.get("version"),
        "builder_id": ((run.get("builder") or {}).get("id") or "").split("#", 1)[-1],
        "base_digest": [d.get("digest", {}).get("sha256") or (d.get("annotations") or {}).get("imageId")
                        for d in (pred.get("buildDefinition") or {}).get("resolvedDependencies") or []
                        if d.get("name") in ("base_image", "source_ami")],
    }
    wrong = []
    for key in ("image_name", "version", "builder_id"):
        if expect.get(key) is not None and str(expect[key]) != found[key]:
            wrong.append("%s is %r, expected %r" % (key, found[key], str(expect[key])))
    if expect.get("base_digest"):
        want = str(expect["base_digest"]).rsplit(":", maxsplit=1)[-1]
        if want not in found["base_digest"]:
            wrong.append("base_digest is %r, expected %r" % (", ".join(x or "" for x in found["base_digest"]), expect["base_digest"]))
    if expect.get("max_age") is not None:
        finished = (run.get("metadata") or {}).get("finishedOn")
        age = _age_seconds(finished, now)
        if age is None or age > float(expect["max_age"]):
            wrong.append("built at %s, more than max_age %ss ago" % (finished, expect["max_age"]))
    if wrong:
        raise ProvenanceError(EXPECTATION_MISMATCH, "the provenance does not match expectations: " + "; ".join(wrong))


def _age_seconds(stamp, now=None):
    try:
        moment = datetime.datetime.strptime(stamp.replace("Z", "+00:00")[:19] + "+0000", "%Y-%m-%dT%H:%M:%S%z")
    except (AttributeError, ValueError):
        return None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return (now - moment).total_seconds()
