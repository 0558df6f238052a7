# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private: the EC2 side of a build - boto3 clients and waits, the builder instance and its key pair and security
group, AMI creation, copy and sharing, and tagged resources. Imported by the ec2 modules and the build guard."""
