# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The instance profile's name from an ARN, and the pauses between the tries of a RunInstances that EC2 refused for a
profile it does not know yet (the launch's tests, on moto, are in test_ec2_builder.py)."""

from __future__ import annotations

import botocore.exceptions
import pytest

from ansible_collections.immutable.images.plugins.module_utils._ec2 import instance_profile as ip

NOT_YET = botocore.exceptions.ClientError({"Error": {"Code": "InvalidParameterValue", "Message": (
    "Value (arn:aws:iam::123456789012:instance-profile/builder) for parameter iamInstanceProfile.arn is invalid. "
    "Invalid IAM Instance Profile ARN")}}, "RunInstances")


def test_profile_name():
    assert ip.profile_name("builder") == "builder"
    assert ip.profile_name("arn:aws:iam::123456789012:instance-profile/builder") == "builder"
    assert ip.profile_name("arn:aws-us-gov:iam::123456789012:instance-profile/ci/images/builder") == "builder"


def refused(times):
    calls = []

    def run():
        calls.append(1)
        if len(calls) <= times:
            raise NOT_YET
        return "instance"
    return run, calls


def test_tried_again_with_growing_pauses_then_given_up_saying_how_long():
    slept = []
    run, calls = refused(3)
    assert ip.run_when_known(run, "builder", sleep=slept.append) == "instance"
    assert (len(calls), slept) == (4, [1, 2, 4])
    slept = []
    run, calls = refused(100)
    with pytest.raises(ip.InstanceProfileError, match="EC2 did not know the instance profile builder after 55 s"):
        ip.run_when_known(run, "builder", sleep=slept.append)
    assert (len(calls), slept) == (9, list(ip.NOT_YET_IN_EC2_DELAYS))


def test_not_tried_again_without_a_profile_or_for_another_refusal():
    for profile, error in ((None, NOT_YET), ("builder", botocore.exceptions.ClientError(
            {"Error": {"Code": "InvalidParameterValue", "Message": "Invalid value for cpuOptions"}}, "RunInstances"))):
        calls = []

        def run():
            calls.append(1)
            raise error
        with pytest.raises(botocore.exceptions.ClientError):
            ip.run_when_known(run, profile, sleep=pytest.fail)
        assert len(calls) == 1
