# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The builder's instance profile (iam_instance_profile), by name or ARN.

A profile that does not exist is refused before anything is created, as IAM says (Packer checks the same way unless
told to skip it): RunInstances would refuse it only after the key pair and security group were made.

IAM's changes reach EC2 some seconds later: a profile made just before the build (a pipeline's Terraform step, a
CloudFormation stack) can be known to IAM and still refused by RunInstances with InvalidParameterValue on
iamInstanceProfile. That refusal is retried for about a minute, as Packer retries it."""

from __future__ import annotations

import time

from ansible_collections.immutable.images.plugins.module_utils._ec2 import client as aws

# The seconds between tries of a RunInstances that EC2 refused for an instance profile it does not know yet (55 s in
# all): IAM's changes usually reach EC2 within ten seconds.
NOT_YET_IN_EC2_DELAYS = (1, 2, 4, 8, 10, 10, 10, 10)
DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


class InstanceProfileError(Exception):
    pass


def profile_name(profile):
    """The name of a profile given by name or ARN (arn:aws:iam::<account>:instance-profile/<path/>name)."""
    return profile.rsplit("/", 1)[-1] if profile.startswith("arn:") else profile


def check(iam, profile):
    """Raise InstanceProfileError when IAM has no such instance profile. Nothing is checked when IAM may not be asked
    (iam:GetInstanceProfile not allowed, or not implemented by the endpoint): RunInstances then says what it says."""
    try:
        iam.get_instance_profile(InstanceProfileName=profile_name(profile))
    except Exception as e:  # noqa: BLE001 - only the answers below are not errors of the build
        if aws.error_code(e) == "NoSuchEntity":
            raise InstanceProfileError("iam_instance_profile %s: IAM has no instance profile of that name in this "
                                       "account (%s)" % (profile, e)) from e
        if aws.is_not_implemented(e) or aws.error_code(e) in DENIED:
            return
        raise


def not_yet_in_ec2(error):
    """True for RunInstances' refusal of an instance profile EC2 does not know (yet)."""
    message = ((getattr(error, "response", None) or {}).get("Error") or {}).get("Message") or ""
    return aws.error_code(error) == "InvalidParameterValue" and "iamInstanceProfile" in message


def run_when_known(run, profile, sleep=time.sleep):
    """run() (a RunInstances with the profile), tried again while EC2 refuses the profile as one it does not know, for
    up to sum(NOT_YET_IN_EC2_DELAYS) seconds; then the refusal, saying how long it was waited for."""
    for delay in NOT_YET_IN_EC2_DELAYS + (None,):
        try:
            return run()
        except Exception as e:
            if not (profile and not_yet_in_ec2(e)):
                raise
            if delay is None:
                raise InstanceProfileError(
                    "EC2 did not know the instance profile %s after %d s (%s): check that it exists in this account "
                    "and that its name or ARN is right"
                    % (profile, sum(NOT_YET_IN_EC2_DELAYS), e)) from e
        sleep(delay)
