# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DSSE envelopes as OCI 1.1 artifacts that refer to an image (`subject`), through oras's registry client.

oras-py's high-level `push` can set `subject`, but it takes files relative to the working directory, gives
the config an "unknown" media type and does not maintain the referrers fallback tag. So this uses its
lower-level calls (upload_blob, upload_manifest, get_manifest, do_request: oras does auth and retries) and
keeps the OCI distribution spec's fallback: where a registry has no referrers API (Debian's docker-registry
2.8, Docker Hub), an image index tagged `sha256-<hex>` lists the referrers of `sha256:<hex>`. See
docs/provenance.md.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
PREDICATE_ANNOTATION = "in-toto.io/predicate-type"
MANIFEST_TYPES = [OCI_MANIFEST, OCI_INDEX, "application/vnd.docker.distribution.manifest.v2+json",
                  "application/vnd.docker.distribution.manifest.list.v2+json"]


# Where a Docker engine finds what it trusts of a registry host:port beyond the system's CAs: `*.crt` are CAs, a
# `*.cert` with its `*.key` is the client's certificate (Docker's "Verify repository client certificates").
DOCKER_CERTS_D = "/etc/docker/certs.d"


def user_certs_d(environ=None):
    """Where a rootless Docker engine of this user looks instead (moby's registry.CertsDir under RootlessKit:
    $XDG_CONFIG_HOME/docker/certs.d, else ~/.config/docker/certs.d)."""
    environ = os.environ if environ is None else environ
    config = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config, "docker", "certs.d")


class RegistryError(Exception):
    pass


def _oras():
    """oras, imported only when a registry is used: it imports jsonschema, whose rfc3987 grammars take 1-2 s (10 s
    on a busy machine) to compile, and ansible-playbook loads this module for every docker build, signing or not."""
    try:
        import oras.container
        import oras.provider
    except ImportError as e:
        raise RegistryError("signing and verifying docker images need the Python package oras on the controller "
                            "(requirements.txt): %s" % e)
    return oras


def is_loopback(host):
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in ("localhost", "::1", "[::1]") or name.startswith("127.")


def docker_config_credentials(host):
    """(username, password) for a registry host in the Docker client configuration (DOCKER_CONFIG or ~/.docker, its
    credential helpers), as `docker login` stored them; (None, None) when it has none (an identity token is none: it
    is for the engine's own token exchange)."""
    try:
        from docker import auth as docker_auth

        found = docker_auth.load_config().resolve_authconfig(host) or {}
    except Exception:  # noqa: BLE001 - no SDK, an unreadable file, a helper that fails: as without a login
        return None, None
    username, password = found.get("username") or found.get("Username"), found.get("password") or found.get("Password")
    return (username, password) if username and password else (None, None)


class RegistryTrust:
    """What the controller trusts of a registry over HTTPS: requests' own CAs, plus what a Docker engine on this machine
    trusts of that host (DOCKER_CERTS_D, and user_certs_d() for this user's rootless engine) and a `ca_cert` given,
    and the client certificate found there (the user's first).

    `verify` goes with each request (oras passes it so): a session's `verify` loses to REQUESTS_CA_BUNDLE and
    CURL_CA_BUNDLE, which corporate machines set. Added CAs need a bundle file of requests' CAs and them (a CA
    file given to requests replaces its CAs, and a token service may have a public certificate): close() removes it.
    """

    def __init__(self, host, ca_cert=None, certs_d=None):
        # a rootful engine runs as root: what the controller's user cannot read of its directory is left out
        readable = [f for d in (certs_d or [user_certs_d(), DOCKER_CERTS_D])
                    for f in sorted(glob.glob(os.path.join(d, host, "*"))) if os.access(f, os.R_OK)]
        cas = [f for f in readable if f.endswith(".crt")] + ([ca_cert] if ca_cert else [])
        self.cert = next(((f, f[:-len(".cert")] + ".key") for f in readable
                          if f.endswith(".cert") and f[:-len(".cert")] + ".key" in readable), None)
        self.verify, self._bundle = True, None
        if cas:
            self.verify = self._bundle = self._write_bundle(cas)

    @staticmethod
    def _write_bundle(cas):
        """A file of requests' CAs and `cas`; an OSError names a CA file that cannot be read."""
        from requests.utils import DEFAULT_CA_BUNDLE_PATH

        # what requests would use for verify=True: the environment's bundle, else certifi's
        default = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH
        parts = []
        for path in ([default] if os.path.isfile(default) else []) + cas:
            with open(path, "rb") as f:
                parts.append(f.read().strip() + b"\n")
        fd, bundle = tempfile.mkstemp(prefix="immutable-images-ca-", suffix=".pem")
        with os.fdopen(fd, "wb") as f:
            f.write(b"".join(parts))
        return bundle

    def close(self):
        if self._bundle:
            os.unlink(self._bundle)
            self._bundle = None


class Registry:
    """One registry host, over HTTPS trusted as RegistryTrust says, or plain HTTP: `plain_http` (an engine's insecure
    registry, push.plain_http_hosts), by default for loopback registries only (as the Docker engine's default).
    A context manager (it may hold a CA bundle file)."""

    def __init__(self, host, username=None, password=None, ca_cert=None, plain_http=None):
        self.oras = _oras()
        self.host = "registry-1.docker.io" if host == "docker.io" else host
        insecure = is_loopback(host) if plain_http is None else plain_http
        self.calls = 0
        self.trust = RegistryTrust(host, ca_cert)
        if not username:  # as the engine's push without registry_auth: the credentials `docker login` stored
            username, password = docker_config_credentials(host)
        # oras' token backend takes the realm of a Basic challenge for the address of a token service (and fails on
        # it, "Invalid URL '<realm>'"): a registry that asks for Basic authentication (htpasswd, Nexus, Artifactory)
        # gets oras' basic backend
        backend = "basic" if self._challenge(insecure) == "basic" else "token"
        if backend == "basic" and not username:
            self.trust.close()
            raise RegistryError("the registry %s asks for a login (HTTP 401, Basic authentication) and no credentials "
                                "were given for it (nor stored by docker login)" % host)
        try:
            self.client = self.oras.provider.Registry(hostname=self.host, insecure=insecure, auth_backend=backend,
                                                      tls_verify=self.trust.verify)
        except Exception:
            self.trust.close()
            raise
        self.client.session.cert = self.trust.cert
        if username:
            self.client.auth.set_basic_auth(username, password or "")
        if backend == "basic":
            # with each request, not after a 401 as oras' basic client sends them (every request twice); requests
            # leaves them out of a redirect to another host (a registry's blob storage)
            self.client.session.auth = (username, password or "")
        request = self.client.session.request

        def counted(*args, **kwargs):
            self.calls += 1
            return request(*args, **kwargs)
        self.client.session.request = counted

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.trust.close()

    def _challenge(self, insecure, timeout=10):
        """The authentication scheme the registry asks for at the API's base (/v2/): "basic", "bearer", or None (no
        challenge, or no answer: the calls that follow say what is wrong)."""
        import requests

        self.calls += 1
        try:
            answer = requests.get("%s://%s/v2/" % ("http" if insecure else "https", self.host), timeout=timeout,
                                  verify=self.trust.verify, cert=self.trust.cert)
        except requests.exceptions.RequestException:
            return None
        if answer.status_code != 401:
            return None
        return (answer.headers.get("WWW-Authenticate") or "").split(" ", 1)[0].lower() or None

    def check_reachable(self, timeout=10):
        """Raise RegistryError at once when the registry does not answer at all: oras' requests retry any error five
        times, about two minutes, which a deploy gate would wait out for a registry that is down or misnamed. One GET
        of the API's base (/v2/); any HTTP answer (401 included) is an answer."""
        import requests

        try:
            self.client.session.get("%s://%s/v2/" % (self.client.prefix, self.host), timeout=timeout, verify=self.trust.verify)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            raise RegistryError("cannot reach the registry %s: %s" % (self.host, e))

    def _container(self, path, ref=None):
        name = "%s/%s" % (self.host, path) + (("@" + ref) if ref and ref.startswith("sha256:") else (":" + ref if ref else ""))
        return self.oras.container.Container(name)

    def _url(self, path, kind, ref):
        return "%s://%s/v2/%s/%s/%s" % (self.client.prefix, self.host, path, kind, ref)

    def resolve(self, path, ref):
        """{digest, mediaType, size} of the manifest a tag or digest names now, or None when there is none."""
        r = self.client.do_request(self._url(path, "manifests", ref), "HEAD", headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if r.status_code == 404:
            return None
        if r.status_code != 200 or not r.headers.get("Docker-Content-Digest"):
            raise RegistryError("cannot look up %s/%s:%s: HTTP %s" % (self.host, path, ref, r.status_code))
        return {"digest": r.headers["Docker-Content-Digest"], "mediaType": r.headers.get("Content-Type", OCI_MANIFEST),
                "size": int(r.headers.get("Content-Length") or 0)}

    def _get_json(self, path, kind, ref, accept):
        r = self.client.do_request(self._url(path, kind, ref), "GET", headers={"Accept": accept})
        if r.status_code == 404:
            return None, r
        if r.status_code != 200:
            raise RegistryError("cannot read %s %s of %s/%s: HTTP %s" % (kind, ref, self.host, path, r.status_code))
        return r.json(), r

    def _put_manifest(self, path, ref, data, media_type):
        body = json.dumps(data, separators=(",", ":")).encode()
        r = self.client.do_request(self._url(path, "manifests", ref), "PUT", data=body, headers={"Content-Type": media_type})
        if r.status_code not in (200, 201):
            raise RegistryError("the registry %s refused the manifest %s of %s: HTTP %s %s"
                                % (self.host, ref, path, r.status_code, r.text[:300]))
        return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(body).hexdigest(), "size": len(body)}

    def _upload(self, path, content, media_type):
        desc = {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(content).hexdigest(), "size": len(content)}
        fd, tmp = tempfile.mkstemp(prefix="immutable-images-blob-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            r = self.client.upload_blob(tmp, self._container(path), desc)
        finally:
            os.unlink(tmp)
        if r.status_code not in (200, 201, 202):
            raise RegistryError("the registry %s refused a blob of %s: HTTP %s" % (self.host, path, r.status_code))
        return desc

    def attach(self, path, subject, envelopes, index=None):
        """Push DSSE envelopes [(bytes, predicate type)] as artifacts whose `subject` is the image manifest
        `subject` ({digest, mediaType, size}). index: the fallback index read by referrers() (None when the
        registry has the referrers API, {} when there is no index yet): updated with one write.
        Returns [{digest, tag (the fallback tag, or None)}]."""
        config = self._upload(path, b"{}", EMPTY_CONFIG)
        pushed = []
        for envelope, predicate_type in envelopes:
            layer = self._upload(path, envelope, DSSE_MEDIA_TYPE)
            manifest = {
                "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": DSSE_MEDIA_TYPE,
                "config": config, "layers": [layer],
                "subject": {k: subject[k] for k in ("mediaType", "digest", "size")},
                "annotations": {PREDICATE_ANNOTATION: predicate_type},
            }
            desc = self._put_manifest(path, _digest_of(manifest), manifest, OCI_MANIFEST)
            pushed.append(dict(desc, artifactType=DSSE_MEDIA_TYPE, annotations={PREDICATE_ANNOTATION: predicate_type}))
        if index is None:
            return [{"digest": d["digest"], "tag": None} for d in pushed]
        tag = fallback_tag(subject["digest"])
        index = index or {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        new = {d["digest"] for d in pushed}
        index["manifests"] = [m for m in index.get("manifests") or [] if m.get("digest") not in new] + pushed
        self._put_manifest(path, tag, index, OCI_INDEX)
        return [{"digest": d["digest"], "tag": tag} for d in pushed]

    def referrers_index(self, path, digest):
        """(index, fallback): the referrers of digest as an image index, from the referrers API (fallback False)
        or the fallback tag (True; {} when there is none yet)."""
        index, r = self._get_json(path, "referrers", digest, OCI_INDEX)
        if index is not None and OCI_INDEX in r.headers.get("Content-Type", ""):
            return index, False
        index, _r = self._get_json(path, "manifests", fallback_tag(digest), OCI_INDEX)
        return index or {}, True

    def referrers(self, path, digest):
        """Descriptors of the DSSE artifacts that refer to digest: referrers API, else the fallback tag."""
        index, _fallback = self.referrers_index(path, digest)
        return [m for m in index.get("manifests") or [] if m.get("artifactType") == DSSE_MEDIA_TYPE]

    def envelopes(self, path, digest, descriptors=None):
        """[(descriptor, manifest, envelope bytes)] of every DSSE artifact that refers to digest."""
        out = []
        for desc in self.referrers(path, digest) if descriptors is None else descriptors:
            manifest, _r = self._get_json(path, "manifests", desc["digest"], OCI_MANIFEST)
            if not manifest:
                continue
            for layer in manifest.get("layers") or []:
                if layer.get("mediaType") == DSSE_MEDIA_TYPE:
                    r = self.client.do_request(self._url(path, "blobs", layer["digest"]), "GET")
                    if r.status_code == 200:
                        out.append((desc, manifest, r.content))
        return out

    def delete_referrers(self, path, digest):
        """Delete the attestation manifests of digest and its fallback tag. Registries that do not allow deletes
        answer 405 (docker-registry without storage.delete.enabled): reported, nothing else is touched."""
        failed = []
        targets = [d["digest"] for d in self.referrers(path, digest)]
        found = self.resolve(path, fallback_tag(digest))
        if found:
            targets.append(found["digest"])
        for ref in targets:
            r = self.client.do_request(self._url(path, "manifests", ref), "DELETE")
            if r.status_code not in (200, 202, 404):
                failed.append("%s: HTTP %s" % (ref, r.status_code))
        return targets, failed


def _digest_of(manifest):
    return "sha256:" + hashlib.sha256(json.dumps(manifest, separators=(",", ":")).encode()).hexdigest()


def fallback_tag(digest):
    """The OCI referrers tag schema: sha256:<hex> -> sha256-<hex>."""
    return digest.replace(":", "-", 1)
