# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sign the provenance and SBOM statements of one artifact (image_sign) and attach them where the artifact is.

An action plugin: the private key is read here, in the controller's ansible-playbook process, and never
becomes a module argument, a fact, a result or a file anywhere else.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._artifacts import oci_attestations as oci
from ansible_collections.immutable.images.plugins.module_utils._artifacts import provenance as prov
from ansible_collections.immutable.images.plugins.module_utils._common.references import split_repository
from ansible_collections.immutable.images.plugins.module_utils._ec2 import ecr
from ansible_collections.immutable.images.plugins.plugin_utils._artifacts.sbom import collection_version
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionModuleBase


class ActionModule(ActionModuleBase):
    NO_LOG = ("password",)

    def run_module(self, params, task_vars, result):
        build = self._templar.template(task_vars.get("image_build"))
        args = params
        sign = (build or {}).get("sign")
        if not sign:
            return dict(result, changed=False, attestations=[], msg="image_sign is not set: nothing signed")
        if self._task.check_mode:
            return dict(result, changed=True, attestations=[], msg="would sign the provenance")
        target = args["target"]
        started = time.monotonic()
        try:
            signer = prov.load_signer(sign["key"], sign.get("password_env"))
            public = signer.public_key
            if target["type"] == "docker":
                subjects = prov.docker_subjects(args.get("pushed"), args["image_id"], (target.get("image_refs") or [""])[0])
            else:
                subjects = prov.ami_subjects(args.get("amis") or {})
            version = collection_version()
            statements = [("provenance", prov.SLSA_PROVENANCE, prov.provenance_predicate(
                build, target, args.get("base"), sign.get("builder_id"), version, naming.iso_utc()))]
            sbom_path = args.get("sbom_path")
            if sbom_path and os.path.isfile(sbom_path):
                with open(sbom_path) as f:
                    statements.append(("sbom", prov.CYCLONEDX_BOM, json.load(f)))
            out, kept = [], 0
            base_path = target["sbom_path"][:-len(".cdx.json")]
            for kind, ptype, predicate in statements:
                path = "%s.%s.dsse.json" % (base_path, kind)
                envelope = _kept(path, public, subjects) if target.get("reuse") else None
                kept += envelope is not None
                if envelope is None:
                    envelope = prov.sign(prov.statement(subjects, ptype, predicate), signer)
                    _write(path, prov.envelope_bytes(envelope))
                with open(path, "rb") as f:
                    content = f.read()
                out.append({"predicate_type": ptype, "path": path, "sha256": hashlib.sha256(content).hexdigest(),
                            "keyid": public.keyid, "referrers": [], "content": content})
            calls = _attach(args.get("pushed") or [], out, public, args) if target["type"] == "docker" else 0
            for entry in out:
                entry.pop("content")
            if target["type"] == "ec2":
                _tag_amis(args.get("amis") or {}, out[0]["sha256"])
        except (prov.ProvenanceError, oci.RegistryError, ecr.EcrError, ValueError, OSError) as e:
            return dict(result, failed=True, stage="sign", msg="cannot sign the provenance of target %s: %s" % (target["name"], e))
        except Exception as e:  # noqa: BLE001 - registry/AWS client errors: one clear failure of this stage
            return dict(result, failed=True, stage="sign", msg="cannot attach the provenance of target %s: %s: %s"
                        % (target["name"], type(e).__name__, e))
        msg = "signed %d statement(s) of target %s with key %s" % (len(out) - kept, target["name"], public.keyid[:12])
        if calls:
            msg += "; attached in %d registry request(s)" % calls
        msg += " (%.2f s)" % (time.monotonic() - started)
        if kept:
            msg += "; kept %d existing one(s) of the reused artifact" % kept
        return dict(result, changed=len(out) > kept, attestations=out, registry_calls=calls,
                    duration=round(time.monotonic() - started, 2), msg=msg)


def _kept(path, public, subjects):
    """The envelope already beside the manifest for a reused artifact, if it is ours and about the same subjects."""
    try:
        with open(path) as f:
            envelope = json.load(f)
        data = prov.verify(envelope, public)
        for s in subjects:
            prov.check_subject(data, sha256=s["digest"]["sha256"])
        return envelope
    except (OSError, ValueError, prov.ProvenanceError):
        return None


def _write(path, content):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(content)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _attach(pushed, entries, public, args):
    """Push the envelopes to every repository the image was pushed to, except those of a predicate type that an
    envelope by the same key already has there (a reused image keeps its original statements). One registry
    session per repository: the image manifest and the referrers are read once, the fallback index written once.
    Returns the number of registry requests."""
    calls, done, auths = 0, set(), {}
    for p in pushed:
        repo = p["ref"].rsplit(":", 1)[0] if ":" in p["ref"].rsplit("/", 1)[-1] else p["ref"]
        if (repo, p["digest"]) in done or not p.get("digest"):
            continue
        done.add((repo, p["digest"]))
        host, path = split_repository(repo)
        if host not in auths:  # ECR's asked for once per registry, as for the push
            auths[host] = ecr.credentials(host) if args.get("ecr") else {k: args.get(k) for k in ("username", "password")}
        auth = auths[host]
        with oci.Registry(host, auth["username"], auth["password"], plain_http=p.get("plain_http")) as registry:
            subject = registry.resolve(path, p["digest"])
            index, fallback = registry.referrers_index(path, p["digest"])
            existing = [m for m in index.get("manifests") or [] if m.get("artifactType") == oci.DSSE_MEDIA_TYPE]
            have = _verified_types(registry, path, p["digest"], existing, public) if existing else {}
            todo = [e for e in entries if e["predicate_type"] not in have]
            attached = registry.attach(path, subject, [(e["content"], e["predicate_type"]) for e in todo],
                                       index if fallback else None) if todo else []
            for e, a in zip(todo, attached):
                e["referrers"].append({"repository": repo, "digest": a["digest"], "fallback_tag": a["tag"]})
            for e in entries:
                if e["predicate_type"] in have:
                    e["referrers"].append({"repository": repo, "digest": have[e["predicate_type"]], "kept": True})
            calls += registry.calls
    return calls


def _verified_types(registry, path, digest, descriptors, public):
    """{predicate type: attestation manifest digest} of the envelopes there that verify with the key."""
    found = {}
    for desc, _manifest, content in registry.envelopes(path, digest, descriptors):
        try:
            data = prov.verify(json.loads(content), public)
        except (ValueError, prov.ProvenanceError):
            continue
        found.setdefault(data.get("predicateType"), desc["digest"])
    return found


def _tag_amis(amis, sha256):
    from ansible_collections.immutable.images.plugins.module_utils._ec2.client import client_factory

    for region, ami_id in amis.items():
        client_factory(region)("ec2").create_tags(Resources=[ami_id], Tags=[{"Key": prov.AMI_TAG, "Value": sha256}])
