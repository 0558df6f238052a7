# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where an ec2 builder goes when the definition names its subnet and security groups by filters instead of ids
(Packer's subnet_filter and security_group_filter): the same definition then fits every account whose subnets and
groups carry the same tags. Found before anything is created; a filter that matches nothing, or several subnets
without a rule to choose, is an error naming the filter."""

from __future__ import annotations

import random


class NetworkError(Exception):
    pass


def api_filters(filters):
    """{name: value or [values]} as the EC2 API's Filters."""
    return [{"Name": str(name), "Values": [str(v) for v in (value if isinstance(value, list) else [value])]}
            for name, value in sorted(filters.items())]


def subnet_by_filter(ec2, subnet_filter):
    """The id of the one available subnet the filter matches; of several, the one with the most free addresses
    (most_free) or any (random), else an error listing them."""
    if subnet_filter.get("most_free") and subnet_filter.get("random"):
        raise NetworkError("subnet_filter: most_free or random, not both")
    subnets = [s for s in ec2.describe_subnets(Filters=api_filters(subnet_filter["filters"]))["Subnets"]
               if s.get("State", "available") == "available"]
    if not subnets:
        raise NetworkError("subnet_filter: no available subnet matches %s" % (subnet_filter["filters"],))
    if len(subnets) == 1:
        return subnets[0]["SubnetId"]
    if subnet_filter.get("most_free"):
        # the id breaks ties, so that the same subnets give the same choice
        return max(subnets, key=lambda s: (s.get("AvailableIpAddressCount", 0), s["SubnetId"]))["SubnetId"]
    if subnet_filter.get("random"):
        return random.choice(subnets)["SubnetId"]
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
