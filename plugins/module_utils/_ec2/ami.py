# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a provisioned builder instance into AMIs: Packer's amazon-ebs steps from StopEBSBackedInstance
to CreateTags (stop, force-deregister, create, copy, deprecate, share, publish).

Stages run in order. A failure after create_image removes every AMI (and snapshot) this call made
in every region, unless keep_on_error, and raises AmiError naming the stage.
"""

from __future__ import annotations

import secrets

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._common.naming import AMI_NAME_RE, parse_deprecate_after
from ansible_collections.immutable.images.plugins.module_utils._ec2 import resources as res
from ansible_collections.immutable.images.plugins.module_utils._ec2.client import Waits, is_not_implemented


class AmiError(Exception):
    def __init__(self, stage, message, images=None, leftovers=None):
        self.stage, self.images, self.leftovers = stage, dict(images or {}), list(leftovers or [])
        super().__init__("%s: %s" % (stage, message))


def artifact_tags(build_id, image_name, target, ami_name, version=None, build_hash=None, extra=None):
    """Tags on the AMIs and their snapshots: the user's tags plus Name and our labels (kind=artifact)."""
    return res.ec2_tags(naming.KIND_ARTIFACT, build_id, image_name, target, name=ami_name, version=version,
                        build_hash=build_hash, extra=extra)


def launch_permissions(accounts=(), organizations=(), ous=()):
    return ([{"UserId": str(a)} for a in accounts or []] + [{"OrganizationArn": o} for o in organizations or []]
            + [{"OrganizationalUnitArn": o} for o in ous or []])


def share_snapshot(ec2, snapshot_id, accounts):
    ec2.modify_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission", OperationType="add",
                                  UserIds=list(accounts))


class AmiCreator:
    """client_for(service, region) -> boto3 client; `region` is where the builder runs."""

    def __init__(self, client_for, region, waits=None, warn=None, removal_waits=None):
        self.client_for, self.region = client_for, region
        self.waits = waits or Waits()  # the build's (aws_polling)
        self.removal_waits = removal_waits or Waits()  # deregistering waits as long as AWS takes, whatever the build's
        self.warnings = []
        self._warn = warn
        self._clients = {}

    def warn(self, msg):
        self.warnings.append(msg)
        if self._warn:
            self._warn(msg)

    def client(self, service, region=None):
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self.client_for(*key)
        return self._clients[key]

    def ec2(self, region=None):
        return self.client("ec2", region)

    def regions(self, copy_to_regions):
        return [self.region] + [r for r in dict.fromkeys(copy_to_regions or []) if r != self.region]

    def find_by_name(self, region, name):
        query = {"Owners": ["self"], "Filters": [{"Name": "name", "Values": [name]}]}
        return self.ec2(region).describe_images(**query)["Images"]

    def _instance(self, instance_id):
        found = self.ec2().describe_instances(Filters=[{"Name": "instance-id", "Values": [instance_id]}])["Reservations"]
        instances = [i for r in found for i in r["Instances"]]
        if not instances or instances[0]["State"]["Name"] in ("shutting-down", "terminated"):
            raise AmiError("prevalidate", "instance %s does not exist or is terminated" % instance_id)
        return instances[0]

    def plan(self, instance_id, name, copy_to_regions=(), force_deregister=False, deprecate_after=None, **_):
        """What create() would do (check mode). Raises AmiError like create() for what would fail early."""
        instance, existing = self._prevalidate(instance_id, name, copy_to_regions, force_deregister, deprecate_after)
        return {"instance_state": instance["State"]["Name"], "regions": self.regions(copy_to_regions),
                "would_deregister": {r: [i["ImageId"] for i in imgs] for r, imgs in existing.items() if imgs}}

    def _prevalidate(self, instance_id, name, copy_to_regions, force_deregister, deprecate_after):
        if not AMI_NAME_RE.match(name or ""):
            raise AmiError("prevalidate", "AMI name %r is invalid: 3-128 characters of letters, digits and ( ) [ ] . / - ' @ _ "
                           "and space" % (name,))
        if deprecate_after:
            try:
                parse_deprecate_after(deprecate_after)
            except ValueError as e:
                raise AmiError("prevalidate", str(e))
        instance = self._instance(instance_id)
        existing = {r: self.find_by_name(r, name) for r in self.regions(copy_to_regions)}
        taken = ["%s in %s" % (i["ImageId"], r) for r, imgs in existing.items() for i in imgs]
        if taken and not force_deregister:
            raise AmiError("prevalidate", "an AMI named %r exists already (%s); choose another ami_name or set "
                           "force_deregister" % (name, ", ".join(taken)))
        return instance, existing

    def create(self, instance_id, name, description=None, tags=None, copy_to_regions=(), share_with_accounts=(),
               share_with_organizations=(), share_with_ous=(), deprecate_after=None, publish_parameter=None,
               force_deregister=False, keep_on_error=False, stop_instance=None, region_kms_key_ids=None,
               share_snapshots=False, imds_support=None):
        """Create the AMI and everything around it; returns the result dict (see the module's RETURN)."""
        tags = dict(tags or {})
        instance, existing = self._prevalidate(instance_id, name, copy_to_regions, force_deregister, deprecate_after)
        result = {"name": name, "region": self.region, "images": {}, "snapshots": {}, "deregistered": [],
                  "deprecation_time": None, "parameter": None, "tags": tags}
        # One-time spot instances cannot be stopped; create_image (NoReboot=False) then reboots it for a
        # consistent snapshot, as Packer does.
        if stop_instance is None:
            stop_instance = instance.get("InstanceLifecycle") != "spot"
        if stop_instance and instance["State"]["Name"] != "stopped":
            self._stage("stop", result, keep_on_error, self._stop, instance_id)
        for region, images in existing.items():
            for image in images:
                snaps = self._stage("deregister", result, keep_on_error, res.deregister_image, self.ec2(region),
                                    image["ImageId"], self.removal_waits)
                result["deregistered"].append({"region": region, "image_id": image["ImageId"], "snapshots": snaps or []})

        self._stage("create", result, keep_on_error, self._create, instance_id, name, description, tags, result)
        self._stage("copy", result, keep_on_error, self._copy, copy_to_regions, name, description, tags, result,
                    region_kms_key_ids or {})
        if imds_support:
            self._stage("imds", result, keep_on_error, self._require_imds, imds_support, result)
        perms = launch_permissions(share_with_accounts, share_with_organizations, share_with_ous)
        if perms:
            self._stage("share", result, keep_on_error, self._share, perms, result,
                        share_with_accounts if share_snapshots else ())
        if deprecate_after:
            self._stage("deprecate", result, keep_on_error, self._deprecate, parse_deprecate_after(deprecate_after), result)
        if publish_parameter:
            self._stage("publish", result, keep_on_error, self._publish, publish_parameter, result)
        result["image_id"] = result["images"][self.region]
        result["warnings"] = list(self.warnings)
        return result

    def _stage(self, stage, result, keep_on_error, fn, *args):
        try:
            return fn(*args)
        except AmiError:
            raise
        except BaseException as e:  # interrupts too: no half-made AMI may stay behind
            leftovers = [] if keep_on_error else self._rollback(result)
            if not isinstance(e, Exception):
                raise
            kept = result["images"] if keep_on_error else {}
            msg = str(e)
            if kept:
                msg += " (kept for debugging: %s)" % ", ".join("%s in %s" % (i, r) for r, i in kept.items())
            if leftovers:
                msg += " (could not remove: %s)" % "; ".join(leftovers)
            raise AmiError(stage, msg, images=kept, leftovers=leftovers) from e

    def _rollback(self, result):
        leftovers = []
        for region, image_id in result["images"].items():
            try:
                res.deregister_image(self.ec2(region), image_id, self.removal_waits)
            except Exception as e:  # keep going: the other regions must still be cleaned
                leftovers.append("%s in %s (%s)" % (image_id, region, e))
        result["images"] = {}
        return leftovers

    def _stop(self, instance_id):
        self.ec2().stop_instances(InstanceIds=[instance_id])
        self.waits.wait(self.ec2(), "instance_stopped", InstanceIds=[instance_id])

    def _create(self, instance_id, name, description, tags, result):
        args = {"InstanceId": instance_id, "Name": name, "NoReboot": False}
        if description:
            args["Description"] = description
        if tags:
            # Image only: moto cannot take snapshot TagSpecifications; the snapshots are tagged below.
            args["TagSpecifications"] = [{"ResourceType": "image", "Tags": naming.aws_tag_list(tags)}]
        image_id = self.ec2().create_image(**args)["ImageId"]
        result["images"][self.region] = image_id
        self._finish(self.region, image_id, tags, result)

    def _finish(self, region, image_id, tags, result):
        """Wait until an AMI is available, then tag it (copies) and its snapshots."""
        ec2 = self.ec2(region)
        # just made: EC2 may not know it for a moment (eventual consistency), which is no failure
        self.waits.wait(ec2, "image_available", not_yet=("InvalidAMIID.NotFound",), ImageIds=[image_id])
        image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
        snapshots = res.image_snapshot_ids(image)
        result["snapshots"][region] = snapshots
        if tags:
            # with its own id: what tells this AMI from a copy someone makes of it (naming.is_our_ami)
            ec2.create_tags(Resources=[image_id] + snapshots,
                            Tags=naming.aws_tag_list(dict(tags, **{naming.LABEL_AMI_ID: image_id})))

    def _copy(self, copy_to_regions, name, description, tags, result, kms_key_ids):
        started = []
        for region in self.regions(copy_to_regions)[1:]:  # start every copy first: they run in parallel
            args = {"SourceRegion": self.region, "SourceImageId": result["images"][self.region], "Name": name,
                    "CopyImageTags": True, "ClientToken": secrets.token_hex(16)}
            if description:
                args["Description"] = description
            if region in kms_key_ids:  # a customer key is regional: each copy is encrypted with its region's
                args["Encrypted"] = True
                if kms_key_ids[region]:  # "": the region's default EBS key
                    args["KmsKeyId"] = kms_key_ids[region]
            result["images"][region] = self.ec2(region).copy_image(**args)["ImageId"]
            started.append(region)
        for region in started:
            # CopyImageTags does not reach the snapshots (and moto ignores it entirely): tag explicitly.
            self._finish(region, result["images"][region], tags, result)

    def _require_imds(self, version, result):
        """Instances launched from the AMIs get IMDSv2 only (an attribute of each AMI, copies included, as Packer
        sets it; AWS lets no one unset it)."""
        for region, image_id in result["images"].items():
            self.ec2(region).modify_image_attribute(ImageId=image_id, ImdsSupport={"Value": version})
        result["imds_support"] = version

    def _share(self, perms, result, snapshot_accounts=()):
        for region, image_id in result["images"].items():
            self.ec2(region).modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": perms})
        result["shared_with"] = perms
        if snapshot_accounts:  # what an account needs to copy the AMI (AWS offers it to accounts only)
            accounts = [str(a) for a in snapshot_accounts]
            for region, snapshots in result["snapshots"].items():
                for snapshot in snapshots:
                    share_snapshot(self.ec2(region), snapshot, accounts)
            result["snapshots_shared_with"] = accounts

    def _deprecate(self, when, result):
        for region, image_id in result["images"].items():
            if not self.enable_deprecation(region, image_id, when):
                return
        result["deprecation_time"] = naming.iso_utc(when)

    def enable_deprecation(self, region, image_id, when):
        """Schedule an AMI's deprecation; False (and a warning) when the endpoint does not implement it."""
        try:
            self.ec2(region).enable_image_deprecation(ImageId=image_id, DeprecateAt=when)
        except Exception as e:
            if not is_not_implemented(e):
                raise
            self.warn("deprecate_after: this EC2 endpoint does not implement EnableImageDeprecation; "
                      "the AMIs were not marked for deprecation")
            return False
        return True

    def _publish(self, parameter, result):
        reply = self.client("ssm").put_parameter(
            Name=parameter, Value=result["images"][self.region], Type="String", DataType="aws:ec2:image",
            Overwrite=True, Description="AMI %s" % result["name"])
        result["parameter"] = {"name": parameter, "version": reply.get("Version"), "region": self.region}
