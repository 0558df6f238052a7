# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""EC2 resources a build marks with its tags: building the tags, finding them again, deleting them.

Builders, cleanup and the janitor find resources by tag, not by the build's own bookkeeping, so a
killed run can still be cleaned up. Only kind=builder/cache resources are ever searched for
deletion; artifacts (kind=artifact AMIs) are never found here. Deleting is idempotent: a resource
that is already gone counts as deleted.
"""

from __future__ import annotations

import datetime

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._ec2.client import Waits, error_code

try:
    from botocore.exceptions import ClientError
except ImportError:  # AnsibleAWSModule reports the missing SDK
    ClientError = Exception

TEMPORARY_KINDS = (naming.KIND_BUILDER, naming.KIND_CACHE)
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
NOT_FOUND = {
    "instance": ("InvalidInstanceID.NotFound",),
    "key_pair": ("InvalidKeyPair.NotFound",),
    "security_group": ("InvalidGroup.NotFound", "InvalidGroupId.NotFound"),
    "image": ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"),
    "snapshot": ("InvalidSnapshot.NotFound",),
}


def ec2_tags(kind, build_id, image_name, target, name=None, version=None, build_hash=None, extra=None):
    """Tags for an EC2 resource of a build: user tags first, our labels win (kind cannot be faked)."""
    tags = {str(k): str(v) for k, v in (extra or {}).items()}
    if name and "Name" not in tags:
        tags["Name"] = str(name)
    tags.update(naming.build_labels(build_id, image_name, target, kind, build_hash=build_hash, version=version))
    return tags


def tag_dict(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def is_ours(resource, kinds=TEMPORARY_KINDS):
    """True if a described resource carries our build-id tag and one of `kinds`."""
    tags = tag_dict(resource)
    return naming.LABEL_BUILD_ID in tags and tags.get(naming.LABEL_KIND) in kinds


def tag_filters(build_id=None, target=None, kinds=TEMPORARY_KINDS):
    filters = [{"Name": "tag:" + naming.LABEL_KIND, "Values": list(kinds)}]
    if build_id:
        filters.append({"Name": "tag:" + naming.LABEL_BUILD_ID, "Values": [build_id]})
    else:
        filters.append({"Name": "tag-key", "Values": [naming.LABEL_BUILD_ID]})
    if target:
        filters.append({"Name": "tag:" + naming.LABEL_TARGET, "Values": [target]})
    return filters


def created_at(resource):
    """When a resource was made: our created tag, else the API's own timestamp (None if unknown)."""
    value = tag_dict(resource).get(naming.LABEL_CREATED)
    if value is None:
        value = next((resource[k] for k in ("LaunchTime", "CreateTime", "StartTime", "CreationDate") if resource.get(k)), None)
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def _older(items, older_than):
    if older_than is None:
        return items
    # Unknown age counts as young: never delete what we cannot date.
    return [r for r in items if (created_at(r) or older_than) < older_than]


def find_instances(ec2, build_id=None, target=None, older_than=None):
    filters = tag_filters(build_id, target) + [{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}]
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
    found = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
    return _older(found, older_than)


def find_key_pairs(ec2, build_id=None, target=None, older_than=None):
    return _older(ec2.describe_key_pairs(Filters=tag_filters(build_id, target))["KeyPairs"], older_than)


def find_security_groups(ec2, build_id=None, target=None, older_than=None):
    pages = ec2.get_paginator("describe_security_groups").paginate(Filters=tag_filters(build_id, target))
    return _older([g for page in pages for g in page["SecurityGroups"]], older_than)


def find_images(ec2, build_id=None, target=None, older_than=None):
    pages = ec2.get_paginator("describe_images").paginate(Owners=["self"], Filters=tag_filters(build_id, target))
    return _older([i for page in pages for i in page["Images"]], older_than)


def find_snapshots(ec2, build_id=None, target=None, older_than=None):
    pages = ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=tag_filters(build_id, target))
    return _older([s for page in pages for s in page["Snapshots"]], older_than)


def image_snapshot_ids(image):
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings") or [] if (m.get("Ebs") or {}).get("SnapshotId")]


def _gone(kind, e):
    return isinstance(e, ClientError) and error_code(e) in NOT_FOUND[kind]


def terminate_instances(ec2, instance_ids, waits=None):
    """Terminate and wait until terminated. Returns the ids that were not terminated yet."""
    ids = list(dict.fromkeys(instance_ids))
    if not ids:
        return []
    # A filter, unlike InstanceIds=, does not fail when one of the ids is gone already.
    filters = [{"Name": "instance-id", "Values": ids}, {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}]
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
    live = [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]
    if live:
        ec2.terminate_instances(InstanceIds=live)
        (waits or Waits()).wait(ec2, "instance_terminated", InstanceIds=live)
    return live


def delete_key_pair(ec2, key_name):
    try:
        if not ec2.describe_key_pairs(KeyNames=[key_name])["KeyPairs"]:
            return False
        ec2.delete_key_pair(KeyName=key_name)  # AWS answers success for unknown names too
    except ClientError as e:
        if _gone("key_pair", e):
            return False
        raise
    return True


def delete_security_group(ec2, group_id, waits=None):
    """Delete a security group, retrying DependencyViolation.

    Right after an instance is terminated its network interface can still hold the group for a
    while on real AWS, so the delete fails with DependencyViolation. The retry is a botocore waiter
    on DeleteSecurityGroup (bounded by delay x max_attempts), not a sleep loop.
    """
    try:
        ec2.describe_security_groups(GroupIds=[group_id])
    except ClientError as e:
        if _gone("security_group", e):
            return False
        raise
    (waits or Waits()).retry_call(ec2, "DeleteSecurityGroup", ["DependencyViolation"],
                                  NOT_FOUND["security_group"], GroupId=group_id)
    return True


def delete_snapshot(ec2, snapshot_id, waits=None):
    try:
        ec2.describe_snapshots(SnapshotIds=[snapshot_id])
    except ClientError as e:
        if _gone("snapshot", e):
            return False
        raise
    # Just after DeregisterImage the snapshot can still be reported in use for a moment.
    (waits or Waits()).retry_call(ec2, "DeleteSnapshot", ["InvalidSnapshot.InUse"], NOT_FOUND["snapshot"],
                                  SnapshotId=snapshot_id)
    return True


def deregister_image(ec2, image_id, waits=None):
    """Deregister an AMI and delete its snapshots. Returns the snapshot ids deleted (None if no AMI)."""
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as e:
        if _gone("image", e):
            return None
        raise
    if not images:
        return None
    snapshots = image_snapshot_ids(images[0])
    try:
        ec2.deregister_image(ImageId=image_id)
    except ClientError as e:
        if not _gone("image", e):
            raise
    return [s for s in snapshots if delete_snapshot(ec2, s, waits)]


def cleanup(ec2, build_id=None, target=None, older_than=None, waits=None, dry_run=False, keep=()):
    """Delete every temporary resource of a build (or of all builds) in one region.

    older_than: an aware datetime; only resources created before it are deleted.
    keep: instance ids to leave running, with the key pairs and security groups of their targets.
    Returns {instances, images, snapshots, key_pairs, security_groups}: ids deleted (or, with
    dry_run, that would be).
    """
    instances = find_instances(ec2, build_id, target, older_than)
    kept = {_tag(i, naming.LABEL_TARGET) for i in instances if i["InstanceId"] in keep}
    found = {
        "instances": [i["InstanceId"] for i in instances if i["InstanceId"] not in keep],
        "images": find_images(ec2, build_id, target, older_than),
        "snapshots": [s["SnapshotId"] for s in find_snapshots(ec2, build_id, target, older_than)],
        "key_pairs": [k["KeyName"] for k in find_key_pairs(ec2, build_id, target, older_than)
                      if _tag(k, naming.LABEL_TARGET) not in kept],
        "security_groups": [g["GroupId"] for g in find_security_groups(ec2, build_id, target, older_than)
                            if _tag(g, naming.LABEL_TARGET) not in kept],
    }
    image_snaps = [s for img in found["images"] for s in image_snapshot_ids(img)]
    found["images"] = [img["ImageId"] for img in found["images"]]
    found["snapshots"] = list(dict.fromkeys(image_snaps + found["snapshots"]))
    if dry_run:
        return found
    # Order matters: instances hold security groups; AMIs hold snapshots.
    done = {"instances": terminate_instances(ec2, found["instances"], waits), "images": [], "snapshots": []}
    for image_id in found["images"]:
        deleted = deregister_image(ec2, image_id, waits)
        if deleted is not None:
            done["images"].append(image_id)
            done["snapshots"].extend(deleted)
    done["snapshots"] += [s for s in found["snapshots"] if s not in done["snapshots"] and delete_snapshot(ec2, s, waits)]
    done["key_pairs"] = [k for k in found["key_pairs"] if delete_key_pair(ec2, k)]
    done["security_groups"] = [g for g in found["security_groups"] if delete_security_group(ec2, g, waits)]
    return done


def remove_unfinished_amis(ec2, build_id, waits=None):
    """Deregister the AMIs (with their snapshots) of build `build_id`, which never ended: an interrupted build
    rolls back the AMIs it was creating or copying. Only that build tags an AMI with its build id."""
    pages = ec2.get_paginator("describe_images").paginate(
        Owners=["self"], Filters=tag_filters(build_id, kinds=(naming.KIND_ARTIFACT,)))
    return [i["ImageId"] for page in pages for i in page["Images"] if deregister_image(ec2, i["ImageId"], waits) is not None]


def _tag(resource, key):
    return next((t["Value"] for t in resource.get("Tags") or [] if t["Key"] == key), None)
