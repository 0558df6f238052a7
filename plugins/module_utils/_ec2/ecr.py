# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Amazon ECR's registry credentials, for a docker target's `registry_auth` or `base_image_auth` of `{ecr: true}`:
the Basic user and password of ECR's GetAuthorizationToken (what `aws ecr get-login-password` prints), valid 12 hours.

A token is of one region and opens every registry there that the caller may use. The region is the registry's own
when its host is an ECR name (<account>.dkr.ecr.<region>.amazonaws.com, its FIPS, China and dual-stack forms);
for a registry under another name (a pull-through proxy's, a test registry), the region of the standard AWS settings.
boto3 is imported only here, when a token is asked for: a docker build that uses none never loads it.
"""

from __future__ import annotations

import base64
import re

# account, region; the dual-stack endpoints are <account>.dkr-ecr.<region>.on.aws
_ECR_HOST = re.compile(r"^(?P<account>\d{12})\.(?:dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
                       r"|dkr-ecr(?:-fips)?\.(?P<region2>[a-z0-9-]+)\.on\.aws)$")


class EcrError(Exception):
    """No token: the message says for which registry and why (AWS's words)."""


def registry_region(host):
    """The region of an ECR registry host (host[:port]); None for any other host."""
    match = _ECR_HOST.match(host.lower().rsplit(":", 1)[0] if host.count(":") == 1 else host.lower())
    return (match.group("region") or match.group("region2")) if match else None


def credentials(host, make_client=None):
    """{username, password} for the registry `host` from ECR's GetAuthorizationToken. make_client(service, region):
    a boto3 client (default: the standard AWS settings, with AWS_ENDPOINT_URL honoured by boto3)."""
    from ansible_collections.immutable.images.plugins.module_utils._ec2 import client as aws

    if aws.boto3 is None:
        raise EcrError("ecr: true needs boto3 in the Python that runs the build's modules on the controller "
                       "(as the amazon.aws modules do), to ask Amazon ECR for the credentials of %s" % host)
    region = registry_region(host)
    try:
        ecr = (make_client or aws.make_client)("ecr", region)
        answer = ecr.get_authorization_token()
        token = base64.b64decode(answer["authorizationData"][0]["authorizationToken"]).decode("utf-8")
    except aws.botocore.exceptions.NoRegionError:
        raise EcrError("cannot ask Amazon ECR for the credentials of %s: it is not an ECR registry name (which says "
                       "its region) and no AWS region is set (AWS_REGION, AWS_DEFAULT_REGION or the profile's)"
                       % host) from None
    except (aws.botocore.exceptions.BotoCoreError, aws.botocore.exceptions.ClientError) as e:
        raise EcrError("cannot get Amazon ECR credentials for %s: %s" % (host, e)) from e
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise EcrError("cannot get Amazon ECR credentials for %s: unexpected answer (%s)"
                       % (host, type(e).__name__)) from e
    username, _sep, password = token.partition(":")
    return {"username": username, "password": password}
