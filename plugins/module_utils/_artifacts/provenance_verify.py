# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify the signed provenance of a docker image in a registry or of an AMI (docs/provenance.md).

Every failure is a ProvenanceError whose `reason` says which check failed, in this order: no attestation,
wrong key, bad signature, subject mismatch, expectation mismatch. With several envelopes (rebuilds, reuse), the
image passes when one of them passes every check; otherwise the failure of the envelope that got furthest counts.
"""

from __future__ import annotations

import hashlib
import json

from ansible_collections.immutable.images.plugins.module_utils._artifacts import oci_attestations as oci
from ansible_collections.immutable.images.plugins.module_utils._artifacts import provenance as prov
from ansible_collections.immutable.images.plugins.module_utils._common.references import split_reference, split_repository

_ORDER = [prov.NO_ATTESTATION, prov.WRONG_KEY, prov.BAD_SIGNATURE, prov.SUBJECT_MISMATCH, prov.EXPECTATION_MISMATCH]


def verify_docker(image, public_key, expect=None, envelopes=None, username=None, password=None, now=None, ca_cert=None,
                  plain_http=None):
    """Verify `image` (repository:tag or @digest) in its registry. envelopes: local DSSE envelopes (bytes) to use
    instead of the registry's referrers (the files written beside the manifest). ca_cert: a CA to trust for the
    registry beyond oci_attestations.RegistryTrust's; plain_http: as for oci_attestations.Registry."""
    repo, tag, digest = split_reference(image)
    host, path = split_repository(repo)
    with oci.Registry(host, username, password, ca_cert, plain_http) as registry:
        try:
            registry.check_reachable()
        except oci.RegistryError as e:
            raise prov.ProvenanceError("not_found", "%s: %s" % (image, e))
        try:
            found = registry.resolve(path, digest or tag or "latest")
            referrers = registry.envelopes(path, found["digest"]) if found and envelopes is None else None
        except OSError as e:  # requests' errors are OSErrors: the registry did not answer (after the oras client's retries)
            raise prov.ProvenanceError("not_found", "%s: cannot reach the registry %s: %s" % (image, host, e))
    if not found:
        raise prov.ProvenanceError("not_found", "%s: no such image in the registry %s" % (image, host))
    actual = found["digest"]
    if envelopes is None:
        envelopes = [content for _d, _m, content in referrers]
        where = "in %s (referrers of %s)" % (repo, actual)
    else:
        where = "given"
    if not envelopes:
        raise prov.ProvenanceError(prov.NO_ATTESTATION, "%s (%s) has no attestation: it is unsigned, or not an image "
                                   "this collection built with image_sign" % (image, actual))
    data = _best(envelopes, public_key, where, lambda d: prov.check_subject(d, sha256=actual.split(":", 1)[1]), expect, now)
    return dict(_summary(data), digest=actual, registry_calls=registry.calls)


def verify_ami(ami_id, region, public_key, envelope, ec2, expect=None, now=None):
    """Verify an AMI against the envelope written beside its manifest: the AMI's provenance tag must hold the
    envelope's SHA-256, the envelope must be signed by public_key and name this AMI in this region."""
    try:
        images = ec2.describe_images(ImageIds=[ami_id])["Images"]
    except Exception as e:  # noqa: BLE001 - botocore's ClientError (InvalidAMIID.*) and connection errors alike
        raise prov.ProvenanceError("not_found", "%s in %s: cannot describe it: %s" % (ami_id, region, e))
    if not images:
        raise prov.ProvenanceError("not_found", "%s: no such AMI in %s" % (ami_id, region))
    tags = {t["Key"]: t["Value"] for t in images[0].get("Tags") or []}
    if prov.AMI_TAG not in tags:
        raise prov.ProvenanceError(prov.NO_ATTESTATION, "%s in %s has no attestation (no %s tag): it is unsigned"
                                   % (ami_id, region, prov.AMI_TAG))
    if envelope is None:
        raise prov.ProvenanceError(prov.NO_ATTESTATION, "%s in %s is signed, but no attestation file was given (the "
                                   ".provenance.dsse.json beside the build manifest)" % (ami_id, region))
    if hashlib.sha256(envelope).hexdigest() != tags[prov.AMI_TAG]:
        raise prov.ProvenanceError(prov.SUBJECT_MISMATCH, "the attestation file is not the one %s was tagged with (%s has "
                                   "sha256 %s): it belongs to another AMI, or it was changed"
                                   % (ami_id, prov.AMI_TAG, tags[prov.AMI_TAG]))
    name = prov.ami_name(region, ami_id)
    data = _best([envelope], public_key, "given", lambda d: prov.check_subject(
        d, name=name, sha256=hashlib.sha256(name.encode()).hexdigest()), expect, now)
    return dict(_summary(data), digest=None, registry_calls=0)


def _best(envelopes, public_key, where, subject_check, expect, now):
    failures = []
    for content in envelopes:
        try:
            envelope = json.loads(content)
        except ValueError:
            failures.append(prov.ProvenanceError(prov.BAD_SIGNATURE, "an attestation %s is not JSON" % where))
            continue
        if prov.payload_statement(envelope).get("predicateType") not in (prov.SLSA_PROVENANCE, None):
            continue  # the SBOM statement: its signature is checked with the provenance's key by the same code
        try:
            data = prov.verify(envelope, public_key)
            subject_check(data)
            prov.check_expectations(data, expect or {}, now)
            return data
        except prov.ProvenanceError as e:
            failures.append(e)
    if not failures:
        raise prov.ProvenanceError(prov.NO_ATTESTATION, "no provenance attestation %s (only other predicate types)" % where)
    raise max(failures, key=lambda e: _ORDER.index(e.reason) if e.reason in _ORDER else 0)


def _summary(data):
    pred = data.get("predicate") or {}
    params = (pred.get("buildDefinition") or {}).get("externalParameters") or {}
    run = pred.get("runDetails") or {}
    return {
        "statement": data,
        "image_name": params.get("image_name"),
        "version": params.get("version"),
        "builder_id": ((run.get("builder") or {}).get("id")),
        "build_id": (run.get("metadata") or {}).get("invocationId"),
        "built_at": (run.get("metadata") or {}).get("finishedOn"),
        "subjects": data.get("subject") or [],
    }
