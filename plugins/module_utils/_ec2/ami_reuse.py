# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bring the AMIs a build reuses in line with the definition's sharing, deprecation and SSM parameter.

Those settings are outside the build hash (they say who gets an AMI, not what is in it), so a
build with the same inputs reuses the AMIs even when they changed. What a new build would do to
its AMIs is done to the reused ones, additively: missing launch permissions are granted (others
are left as they are), a deprecation is scheduled when the AMIs have none, and the parameter is
pointed at the AMI of the build region. Each step says what it changed; check mode only looks.
"""

from __future__ import annotations

import datetime

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._ec2 import resources as res
from ansible_collections.immutable.images.plugins.module_utils._ec2.ami import AmiCreator, launch_permissions, share_snapshot
from ansible_collections.immutable.images.plugins.module_utils._common.naming import DURATION_RE, parse_deprecate_after

PERMISSION_KEYS = ("UserId", "Group", "OrganizationArn", "OrganizationalUnitArn")


def _permission(entry):
    return tuple((k, entry[k]) for k in PERMISSION_KEYS if entry.get(k))


def _aware(moment):
    if isinstance(moment, datetime.datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)
    return datetime.datetime.fromisoformat(str(moment).replace("Z", "+00:00"))


class ReusedAmis(AmiCreator):
    """AMIs of an earlier build, {region: image_id}, as the module ec2_ami_reuse updates them."""

    def update(self, images, name=None, share_with_accounts=(), share_with_organizations=(), share_with_ous=(),
               deprecate_after=None, publish_parameter=None, check_mode=False, share_snapshots=False):
        """Returns {images, shared_with, snapshots_shared_with, deprecation_time, parameter, changed, warnings}."""
        self.check_mode = check_mode
        result = {"images": dict(images), "name": name, "shared_with": [], "snapshots_shared_with": [],
                  "deprecation_time": None, "parameter": None, "changed": False}
        wanted = launch_permissions(share_with_accounts, share_with_organizations, share_with_ous)
        if wanted:
            self._share_missing(wanted, result)
        if share_snapshots and share_with_accounts:
            self._share_snapshots_missing([str(a) for a in share_with_accounts], result)
        if deprecate_after:
            self._deprecate_undated(deprecate_after, result)
        if publish_parameter:
            self._point_parameter(publish_parameter, result)
        result["warnings"] = list(self.warnings)
        return result

    def _share_missing(self, wanted, result):
        added = {}
        for region, image_id in result["images"].items():
            ec2 = self.ec2(region)
            have = {_permission(p) for p in ec2.describe_image_attribute(
                ImageId=image_id, Attribute="launchPermission").get("LaunchPermissions") or []}
            missing = [p for p in wanted if _permission(p) not in have]
            if missing and not self.check_mode:
                ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": missing})
            added.update((_permission(p), p) for p in missing)
        result["shared_with"] = list(added.values())
        result["changed"] |= bool(added)

    def _share_snapshots_missing(self, accounts, result):
        added = set()
        for region, image_id in result["images"].items():
            ec2 = self.ec2(region)
            for snapshot in res.image_snapshot_ids(ec2.describe_images(ImageIds=[image_id])["Images"][0]):
                have = {p.get("UserId") for p in ec2.describe_snapshot_attribute(
                    SnapshotId=snapshot, Attribute="createVolumePermission").get("CreateVolumePermissions") or []}
                missing = [a for a in accounts if a not in have]
                if missing and not self.check_mode:
                    share_snapshot(ec2, snapshot, missing)
                added.update(missing)
        result["snapshots_shared_with"] = sorted(added)
        result["changed"] |= bool(added)

    def _deprecate_undated(self, deprecate_after, result):
        now = naming.utc_now()
        times = []
        for region, image_id in result["images"].items():
            image = self.ec2(region).describe_images(ImageIds=[image_id])["Images"][0]
            if image.get("DeprecationTime"):
                times.append(_aware(image["DeprecationTime"]))
                continue
            when = self._deprecation_of(image, deprecate_after, now)
            if when is None:
                self.warn("deprecate_after: %s in %s is older than %s allows; it is left as it is (image_force "
                          "builds a new one)" % (image_id, region, deprecate_after))
                continue
            if not self.check_mode and not self.enable_deprecation(region, image_id, when):
                return
            result["changed"] = True
            times.append(when)
        result["deprecation_time"] = naming.iso_utc(min(times)) if times else None

    @staticmethod
    def _deprecation_of(image, deprecate_after, now):
        """When the AMI should become deprecated: a duration counts from its creation. None when past."""
        if DURATION_RE.match(str(deprecate_after)):
            created = _aware(image["CreationDate"])
            when = parse_deprecate_after(deprecate_after, now=created)
        else:
            when = parse_deprecate_after(deprecate_after, now=now)
        return when if when > now else None

    def _point_parameter(self, name, result):
        image_id = result["images"][self.region]
        ssm = self.client("ssm")
        try:
            current = ssm.get_parameter(Name=name)["Parameter"]
        except ssm.exceptions.ParameterNotFound:
            current = None
        version = current.get("Version") if current else None
        if current is None or current.get("Value") != image_id:
            result["changed"] = True
            if not self.check_mode:
                version = ssm.put_parameter(Name=name, Value=image_id, Type="String", DataType="aws:ec2:image",
                                            Overwrite=True, Description="AMI %s" % (result["name"] or image_id)).get("Version")
        result["parameter"] = {"name": name, "version": version, "region": self.region}
