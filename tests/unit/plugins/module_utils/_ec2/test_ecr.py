# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Amazon ECR's registry credentials (moto server, reached through AWS_ENDPOINT_URL as a job's settings would)."""

from __future__ import annotations

import pytest

from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure
from ansible_collections.immutable.images.plugins.module_utils._docker.registry_auth import RegistryAuth
from ansible_collections.immutable.images.plugins.module_utils._ec2 import client as aws_client
from ansible_collections.immutable.images.plugins.module_utils._ec2 import ecr

botocore_stub = pytest.importorskip("botocore.stub")

# moto's token for its account: base64 of AWS:<account>-auth-token
MOTO_PASSWORD = "123456789012-auth-token"


@pytest.mark.parametrize("host, region", [
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "eu-west-1"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com:443", "eu-west-1"),
    ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    ("123456789012.dkr-ecr.ap-southeast-2.on.aws", "ap-southeast-2"),
    ("123456789012.DKR.ECR.eu-west-1.amazonaws.com", "eu-west-1"),
    ("public.ecr.aws", None),  # ECR Public: anonymous pulls, another API
    ("12345.dkr.ecr.eu-west-1.amazonaws.com", None),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example", None),
    ("127.0.0.1:5000", None),
    ("docker.io", None),
])
def test_the_region_is_the_ecr_registrys_own(host, region):
    assert ecr.registry_region(host) == region


def regions_asked(calls):
    def make_client(service, region=None):
        calls.append((service, region))
        return aws_client.make_client(service, region)
    return make_client


def test_credentials_are_ecrs_token_of_the_registrys_region(aws, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
    calls = []
    got = ecr.credentials("123456789012.dkr.ecr.eu-west-1.amazonaws.com", regions_asked(calls))
    assert got == {"username": "AWS", "password": MOTO_PASSWORD}
    assert calls == [("ecr", "eu-west-1")]
    # a registry of another name: the region of the AWS settings
    calls.clear()
    assert ecr.credentials("127.0.0.1:5000", regions_asked(calls)) == got
    assert calls == [("ecr", None)]


def test_another_registry_name_without_a_region_is_a_clear_error(aws, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
    for var in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ecr.EcrError, match=r"127.0.0.1:5000: it is not an ECR registry name .* no AWS region is set"):
        ecr.credentials("127.0.0.1:5000")


def test_aws_refusing_says_so_with_awss_words():
    client = aws_client.make_client("ecr", "eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
    stub = botocore_stub.Stubber(client)
    stub.add_client_error("get_authorization_token", service_error_code="AccessDeniedException",
                          service_message="User: arn:aws:iam::123456789012:user/ci is not authorized")
    with stub, pytest.raises(ecr.EcrError) as failed:
        ecr.credentials("123456789012.dkr.ecr.eu-west-1.amazonaws.com", lambda service, region: client)
    assert "cannot get Amazon ECR credentials for 123456789012.dkr.ecr.eu-west-1.amazonaws.com" in str(failed.value)
    assert "AccessDeniedException" in str(failed.value) and "is not authorized" in str(failed.value)


def test_without_boto3_the_error_says_what_is_missing(monkeypatch):
    monkeypatch.setattr(aws_client, "boto3", None)
    with pytest.raises(ecr.EcrError, match="ecr: true needs boto3"):
        ecr.credentials("123456789012.dkr.ecr.eu-west-1.amazonaws.com")


def test_registry_auth_asks_ecr_once_per_registry_and_fails_its_stage(aws, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
    calls = []
    auth = RegistryAuth({"ecr": True}, "push", make_client=regions_asked(calls))
    east, west = "123456789012.dkr.ecr.us-east-1.amazonaws.com", "123456789012.dkr.ecr.us-west-2.amazonaws.com"
    for ref in (east + "/acme/web:1.0", east + "/acme/web:latest", west + "/acme/web:1.0"):
        assert auth.for_image(ref) == {"username": "AWS", "password": MOTO_PASSWORD}
    assert calls == [("ecr", "us-east-1"), ("ecr", "us-west-2")]
    assert RegistryAuth.of(auth, "launch") is auth

    for var in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(DockerFailure) as failed:
        RegistryAuth({"ecr": True}, "launch").for_image("127.0.0.1:5000/base/debian:12")
    assert failed.value.stage == "launch" and "no AWS region is set" in str(failed.value)


def test_registry_auth_of_a_user_or_of_nobody():
    assert RegistryAuth({"username": "ci", "password": "p", "ecr": None}, "push").for_host("r.example") == {
        "username": "ci", "password": "p"}
    assert RegistryAuth(None, "push").for_host("r.example") is None
    assert RegistryAuth({}, "push").for_image("debian:12") is None
