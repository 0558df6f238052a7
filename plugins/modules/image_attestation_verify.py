#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_attestation_verify
short_description: Verify the signed provenance of a docker image or an AMI before deploying it
version_added: 0.2.0
description:
  - Checks that an image in a registry (O(image)) or an AMI (O(ami_id), O(region)) carries an SLSA v1 provenance
    statement signed (DSSE) with the private key of O(public_key), that the statement's subject is the image's actual
    digest (what the tag points at now) or this AMI, and that the provenance has the values in O(expect).
  - Docker images - the attestations are fetched from the image's repository (OCI referrers API, else the
    C(sha256-<hex>) fallback tag), or read from O(attestation). AMIs - the provenance file written beside the build
    manifest (O(attestation)) must be the one whose SHA-256 the AMI's C(immutable.images.provenance.sha256) tag holds.
  - Fails with RV(reason) V(no_attestation), V(wrong_key), V(bad_signature), V(subject_mismatch) (a re-tagged or
    different image), V(expectation_mismatch) or V(not_found), each with its own message. Meant as the first task of a
    deploy playbook; see C(docs/provenance.md) and the playbook C(immutable.images.verify_image).
  - Needs the Python packages C(oras), C(securesystemslib), C(in-toto-attestation) and C(cryptography) (and C(boto3)
    for AMIs and O(ecr)) where it runs.
extends_documentation_fragment:
  - immutable.images.attributes
attributes:
  check_mode:
    support: full
    details: Only reads; the same checks run in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  image:
    description: Image reference in a registry, V(registry/repository:tag) or V(registry/repository@sha256:...).
    type: str
  ami_id:
    description: AMI id (with O(region) and O(attestation)).
    type: str
  region:
    description: Region of O(ami_id). Credentials and endpoint come from the standard AWS environment.
    type: str
  public_key:
    description: Path of the PEM public key (ECDSA P-256 or Ed25519) that must have signed the provenance.
    type: path
    required: true
  attestation:
    description:
      - A DSSE envelope file (C(<image>-<version>-<target>.provenance.dsse.json), written beside the build manifest).
      - Required for AMIs. For images, used instead of the registry's attestations.
    type: path
  expect:
    description: Values the provenance must have; unset ones are not checked.
    type: dict
    default: {}
    suboptions:
      image_name:
        description: The definition's C(image_name).
        type: str
      version:
        description: The definition's C(image_version).
        type: str
      base_digest:
        description: The base image id/digest (V(sha256:...)) or the source AMI id.
        type: str
      builder_id:
        description: The C(image_sign.builder_id) the image was built with.
        type: str
      max_age:
        description: Greatest age of the build, for example V(7d), V(12h) or a number of seconds.
        type: str
  username:
    description:
      - Registry user name. Without it, the credentials the Docker client configuration holds for the registry
        (C(docker login), its credential helpers, E(DOCKER_CONFIG)), if any.
    type: str
  password:
    description: Registry password.
    type: str
  ecr:
    description:
      - V(true) asks Amazon ECR for the registry's credentials (GetAuthorizationToken, as C(aws ecr get-login-password)
        does), with the standard AWS settings; boto3 is needed then. The region is the registry's
        (V(<account>.dkr.ecr.<region>.amazonaws.com)); for a registry of another name, the AWS settings' region.
        Mutually exclusive with O(username).
    type: bool
    default: false
  ca_cert:
    description:
      - A CA certificate (PEM) to trust for the registry over HTTPS, beside the CAs C(requests) trusts (E(REQUESTS_CA_BUNDLE),
        else certifi's) and those a Docker engine on this machine trusts for it (C(/etc/docker/certs.d/<host:port>/*.crt),
        and for a rootless engine of this user C($XDG_CONFIG_HOME/docker/certs.d/<host:port>/*.crt), else
        C(~/.config/docker/certs.d/...); where a client certificate C(*.cert) with its C(*.key) is used too).
    type: path
  plain_http:
    description:
      - Speak plain HTTP to the registry, as the Docker engine does to the registries of its C(insecure-registries).
        By default only a registry on a loopback address (C(127.0.0.0/8), C(localhost)) is spoken to so, every other
        over HTTPS.
    type: bool
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Deploy only what our CI built and signed, from the 1.4.2 definition, in the last 30 days
  immutable.images.image_attestation_verify:
    image: registry.example.com/acme/webapp:1.4.2
    public_key: keys/images.pub
    expect:
      image_name: webapp
      version: 1.4.2
      builder_id: ci.example.com/images
      max_age: 30d
  register: verified

- name: Deploy by digest, the one that was verified
  ansible.builtin.debug:
    msg: "deploying registry.example.com/acme/webapp@{{ verified.digest }}"

- name: Verify an AMI against the provenance file of its build
  immutable.images.image_attestation_verify:
    ami_id: ami-0123456789abcdef0
    region: us-west-2
    attestation: build/webapp-1.4.2-aws.provenance.dsse.json
    public_key: keys/images.pub
"""

RETURN = r"""
msg:
  description: What was verified, or why not.
  returned: always
  type: str
reason:
  description: >-
    V(no_attestation), V(wrong_key), V(bad_signature), V(subject_mismatch), V(expectation_mismatch), V(not_found) (also
    a registry that does not answer), V(bad_public_key) or V(bad_input) (a file that cannot be read, a bad C(max_age)).
  returned: failure
  type: str
digest:
  description: The image's digest (what to deploy by); V(null) for AMIs.
  returned: success
  type: str
image_name:
  description: Image name in the provenance.
  returned: success
  type: str
version:
  description: Version in the provenance.
  returned: success
  type: str
builder_id:
  description: Builder id in the provenance.
  returned: success
  type: str
build_id:
  description: Build id (the provenance's invocation id).
  returned: success
  type: str
built_at:
  description: When the build finished (the provenance's C(finishedOn)).
  returned: success
  type: str
subjects:
  description: The statement's subjects.
  returned: success
  type: list
  elements: dict
statement:
  description: The verified in-toto statement.
  returned: success
  type: dict
registry_calls:
  description: HTTP requests made to the registry.
  returned: success
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.images.plugins.module_utils._artifacts import provenance as prov
from ansible_collections.immutable.images.plugins.module_utils._artifacts import oci_attestations as oci
from ansible_collections.immutable.images.plugins.module_utils._common.references import (
    parse_duration_ns,
    split_reference,
    split_repository,
)
from ansible_collections.immutable.images.plugins.module_utils._ec2 import ecr


def main():
    module = AnsibleModule(
        argument_spec=dict(
            image=dict(type="str"),
            ami_id=dict(type="str"),
            region=dict(type="str"),
            public_key=dict(type="path", required=True),
            attestation=dict(type="path"),
            expect=dict(type="dict", default={}, options=dict(
                image_name=dict(type="str"), version=dict(type="str"), base_digest=dict(type="str"),
                builder_id=dict(type="str"), max_age=dict(type="str"))),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            ecr=dict(type="bool", default=False),
            ca_cert=dict(type="path"),
            plain_http=dict(type="bool"),
        ),
        required_one_of=[("image", "ami_id")],
        mutually_exclusive=[("image", "ami_id")],
        required_by={"ami_id": ("region",)},
        supports_check_mode=True,
    )
    p = module.params
    if p["ecr"] and p["username"]:
        module.fail_json(msg="ecr and username are mutually exclusive: the credentials come from one or the other",
                         reason="bad_input")
    from ansible_collections.immutable.images.plugins.module_utils._artifacts import provenance_verify

    expect = dict((k, v) for k, v in p["expect"].items() if v is not None)
    try:
        if "max_age" in expect:
            expect["max_age"] = parse_duration_ns(expect["max_age"]) / 1e9
    except ValueError:
        module.fail_json(msg="expect.max_age: not a duration: %s" % expect["max_age"], reason="bad_input")
    try:
        with open(p["public_key"], "rb") as f:
            key = prov.load_public_key(f.read())
        envelope = None
        if p["attestation"]:
            with open(p["attestation"], "rb") as f:
                envelope = f.read()
        if p["image"]:
            username, password = p["username"], p["password"]
            if p["ecr"]:
                auth = ecr.credentials(split_repository(split_reference(p["image"])[0])[0])
                username, password = auth["username"], auth["password"]
            result = provenance_verify.verify_docker(p["image"], key, expect, [envelope] if envelope else None,
                                                     username, password, ca_cert=p["ca_cert"],
                                                     plain_http=p["plain_http"])
            what = "%s (%s)" % (p["image"], result["digest"])
        else:
            from ansible_collections.immutable.images.plugins.module_utils._ec2.client import make_client

            ec2 = make_client("ec2", p["region"])
            result = provenance_verify.verify_ami(p["ami_id"], p["region"], key, envelope, ec2, expect)
            what = "%s in %s" % (p["ami_id"], p["region"])
    except prov.ProvenanceError as e:
        module.fail_json(msg="provenance check failed: %s" % e, reason=e.reason)
    except OSError as e:
        module.fail_json(msg="cannot read %s: %s" % (e.filename, e.strerror), reason="bad_input")
    except oci.RegistryError as e:
        module.fail_json(msg=str(e), reason="not_found")
    except ecr.EcrError as e:
        module.fail_json(msg=str(e), reason="not_found")  # as a registry that refuses a password
    module.exit_json(changed=False, msg="%s: provenance verified (key %s, built by %s, build %s)" % (
        what, key.keyid[:12], result["builder_id"], result["build_id"]), **result)


if __name__ == "__main__":
    main()
