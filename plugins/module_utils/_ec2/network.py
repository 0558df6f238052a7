# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where an ec2 builder goes when the definition names its subnet and security groups by filters instead of ids
(Packer's subnet_filter and security_group_filter): the same definition then fits every account whose subnets and
groups carry the same tags. Found before anything is created; a filter that matches nothing, or several subnets
without a rule to choose, is an error naming the filter.

Not every availability zone offers every instance type (us-east-1e offers no t3 type): a subnet of such a zone
fails RunInstances ("Unsupported"), so a subnet the definition names or a filter finds is taken only in a zone that
offers the builder's type, as EC2's DescribeInstanceTypeOfferings says."""

from __future__ import annotations

import random

from ansible_collections.immutable.images.plugins.module_utils._ec2 import client as aws


class NetworkError(Exception):
    pass


def api_filters(filters):
    """{name: value or [values]} as the EC2 API's Filters."""
    return [{"Name": str(name), "Values": [str(v) for v in (value if isinstance(value, list) else [value])]}
            for name, value in sorted(filters.items())]


def zones_offering(ec2, instance_type):
    """The availability zones of the client's region that offer instance_type; None when EC2 does not say (the
    principal may not call DescribeInstanceTypeOfferings, or the endpoint does not implement it): then no zone is
    ruled out, and RunInstances says what it says."""
    try:
        offerings = ec2.describe_instance_type_offerings(
            LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [instance_type]}])
    except Exception as e:  # noqa: BLE001 - only the two answers below are not errors of the build
        if aws.is_not_implemented(e) or aws.error_code(e) in ("UnauthorizedOperation", "AccessDenied",
                                                              "AccessDeniedException"):
            return None
        raise
    return {o["Location"] for o in offerings.get("InstanceTypeOfferings") or []}


def _not_offered(instance_type, zones):
    return ("zones that offer %s: %s" % (instance_type, ", ".join(sorted(zones)))) if zones else (
        "no zone of the region offers %s" % instance_type)


def check_subnet_zone(ec2, subnet_id, instance_type, zones):
    """Raise NetworkError when subnet_id is in a zone that does not offer instance_type (zones: zones_offering's)."""
    if zones is None:
        return
    zone = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0].get("AvailabilityZone")
    if zone not in zones:
        raise NetworkError("subnet_id: %s is in %s, which does not offer the instance type %s (%s)"
                           % (subnet_id, zone, instance_type, _not_offered(instance_type, zones)))


def subnet_by_filter(ec2, subnet_filter, instance_type=None, zones=None):
    """The id of the one available subnet the filter matches; of several, the one with the most free addresses
    (most_free) or any (random), else an error listing them. zones (zones_offering's for instance_type): subnets of
    other zones are not taken."""
    return subnets_by_filter(ec2, subnet_filter, instance_type, zones)[0]["SubnetId"]


def subnets_by_filter(ec2, subnet_filter, instance_type=None, zones=None):
    """The subnets (described) subnet_by_filter chooses from, its choice first; then, of several, the others of
    the first one's VPC in the rule's order (most_free: the most free addresses first; random: any order), where a
    builder may go when EC2 has no capacity for its type in the first one's zone."""
    if subnet_filter.get("most_free") and subnet_filter.get("random"):
        raise NetworkError("subnet_filter: most_free or random, not both")
    subnets = [s for s in ec2.describe_subnets(Filters=api_filters(subnet_filter["filters"]))["Subnets"]
               if s.get("State", "available") == "available"]
    if not subnets:
        raise NetworkError("subnet_filter: no available subnet matches %s" % (subnet_filter["filters"],))
    if zones is not None:
        offered = [s for s in subnets if s.get("AvailabilityZone") in zones]
        if not offered:
            raise NetworkError("subnet_filter: the subnets that match %s (%s) are in zones that do not offer the "
                               "instance type %s (%s)" % (subnet_filter["filters"], ", ".join(sorted(
                                   "%s in %s" % (s["SubnetId"], s.get("AvailabilityZone")) for s in subnets)),
                                   instance_type, _not_offered(instance_type, zones)))
        subnets = offered
    if len(subnets) == 1:
        return subnets
    if subnet_filter.get("most_free"):
        # the id breaks ties, so that the same subnets give the same choice
        ordered = sorted(subnets, key=lambda s: (s.get("AvailableIpAddressCount", 0), s["SubnetId"]), reverse=True)
    elif subnet_filter.get("random"):
        ordered = random.sample(subnets, len(subnets))
    else:
        ordered = None
    if ordered:
        return [s for s in ordered if s.get("VpcId") == ordered[0].get("VpcId")]
    raise NetworkError("subnet_filter: %d subnets match %s (%s): set most_free or random, or narrow the filters"
                       % (len(subnets), subnet_filter["filters"], ", ".join(sorted(s["SubnetId"] for s in subnets))))


def groups_by_filter(ec2, group_filter, vpc_id):
    """The ids of every security group of the builder's VPC that the filter matches (at least one)."""
    filters = api_filters(group_filter["filters"]) + [{"Name": "vpc-id", "Values": [vpc_id]}]
    groups = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    if not groups:
        raise NetworkError("security_group_filter: no security group of %s matches %s"
                           % (vpc_id, group_filter["filters"]))
    return sorted(g["GroupId"] for g in groups)
