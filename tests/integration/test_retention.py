# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""image_retention end to end: a real Docker engine, and AMIs on moto server, through ansible-playbook.

Docker: labelled artifact images of a unique image name are committed from the base image with the
collection's own committer and labels (as finalize makes them), next to an unlabelled image and a
cache layer tagged in the same repository; the engine is shared, so only this test's images are made
and looked at. AMIs: registered on moto with the tags a build puts on its artifacts.
"""

import datetime
import json
import secrets
import subprocess

import pytest
import yaml

from conftest import BASE_IMAGE, ansible_env, docker

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._ec2 import resources as res
from ansible_collections.immutable.images.plugins.module_utils._docker.commit import ImageCommitter

NOW = naming.utc_now()


def days_ago(days):
    return naming.iso_utc(NOW - datetime.timedelta(days=days))


def run_retention(cwd, args, *extra, env=None):
    """A tiny playbook on localhost that runs the module with args and writes its result to result.json."""
    result_file = cwd / "result.json"
    if result_file.exists():
        result_file.unlink()
    playbook = [{
        "name": "Retention", "hosts": "localhost", "gather_facts": False,
        "tasks": [
            {"name": "Apply retention", "immutable.images.image_retention": args, "register": "retention"},
            {"name": "Save the result", "check_mode": False,
             "ansible.builtin.copy": {"content": "{{ retention | to_nice_json }}", "dest": str(result_file),
                                      "mode": "0644"}},
        ],
    }]
    (cwd / "retention.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
    proc = subprocess.run(["ansible-playbook", "retention.yml"] + list(extra), cwd=str(cwd), env=ansible_env(env),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(result_file.read_text())


# --- docker ------------------------------------------------------------------------------------

class Images:
    """Images (and containers) this test made, removed at the end whatever happened."""

    def __init__(self, client, name):
        self.client, self.name = client, name
        self.ids, self.containers = [], []

    def commit(self, refs, labels):
        """A new image from the base image, committed and tagged the way finalize does it."""
        container = self.client.containers.create(BASE_IMAGE, command=["true"])
        try:
            # with the comment the commit module gives it: what makes an image with our labels ours
            message = naming.build_comment(labels[naming.LABEL_BUILD_ID]) if labels.get(naming.LABEL_BUILD_ID) else None
            image_id = ImageCommitter(self.client).commit(container.name, {}, labels, refs, message)["image_id"]
        finally:
            container.remove(force=True)
        self.ids.append(image_id)
        return image_id

    def artifact(self, version, created, latest=False, extra_refs=()):
        build_id = naming.new_build_id()
        build_hash = secrets.token_hex(6)
        labels = dict(naming.build_labels(build_id, self.name, "container", naming.KIND_ARTIFACT, build_hash, version,
                                          created), **naming.oci_labels(self.name, version, created))
        tags = naming.default_tags(version, build_hash)
        refs = ["%s:%s" % (self.name, t) for t in tags if latest or t != "latest"] + list(extra_refs)
        return self.commit(refs, labels)

    def tags(self, image_id):
        try:
            return sorted(self.client.images.get(image_id).tags)
        except docker.errors.ImageNotFound:
            return None

    def remove_all(self):
        for container in self.containers:
            container.remove(force=True)
        for image_id in self.ids:
            try:
                self.client.images.remove(image_id, force=True)
            except docker.errors.APIError:
                pass


@pytest.fixture
def images(docker_client):
    made = Images(docker_client, "retention-%s" % secrets.token_hex(4))
    try:
        yield made
    finally:
        made.remove_all()


@pytest.mark.docker
@pytest.mark.slow
def test_docker_retention_keeps_the_newest_and_never_touches_others(images, docker_client, tmp_path):
    name = images.name
    # built in this order: 1.10.0 is older by date than 1.9.0 and 1.2.0, yet newer by version
    ids = {
        "1.0.0": images.artifact("1.0.0", days_ago(40)),
        "1.10.0": images.artifact("1.10.0", days_ago(30)),
        "1.9.0": images.artifact("1.9.0", days_ago(20), extra_refs=["%s-mirror:1.9.0" % name]),
        "1.2.0": images.artifact("1.2.0", days_ago(10)),
        "1.11.0": images.artifact("1.11.0", days_ago(0), latest=True),
    }
    # never ours to remove: an image without our labels and a cache layer, both in the same repository
    ids["unlabelled"] = images.commit(["%s:0.1.0" % name], {"team": "someone-else"})
    ids["cache"] = images.commit(["%s:cache-layer" % name], naming.build_labels(
        naming.new_build_id(), name, "container", naming.KIND_CACHE, "abc", "0.5.0", days_ago(50)))
    # an old artifact that a (stopped) container uses: skipped, never forced
    images.containers.append(docker_client.containers.create(ids["1.0.0"], command=["true"],
                                                             name="%s-user" % name))
    before = {k: images.tags(v) for k, v in ids.items()}
    args = {"type": "docker", "image_name": name, "target": "container", "keep": {"count": 2},
            "current": [ids["1.11.0"]]}

    listed = run_retention(tmp_path, args, "--check")
    assert listed["changed"] is True
    assert [(e["version"], e["deleted"]) for e in listed["removed"]] == [("1.9.0", False), ("1.2.0", True)]
    assert listed["removed"][0]["remaining_tags"] == ["%s-mirror:1.9.0" % name]
    assert [e["version"] for e in listed["kept"]] == ["1.11.0", "1.10.0"]
    assert listed["kept"][0]["reason"] == "current build, one of the newest 2"
    assert [(e["version"], e["reason"]) for e in listed["skipped_artifacts"]] == [
        ("1.0.0", "used by container(s) %s-user; never forced" % name)]
    assert {k: images.tags(v) for k, v in ids.items()} == before, "check mode changed the engine"

    done = run_retention(tmp_path, args)
    assert done["changed"] is True
    assert [e["id"] for e in done["removed"]] == [ids["1.9.0"], ids["1.2.0"]]
    assert done["removed"][1]["tags"] == before["1.2.0"]
    after = {k: images.tags(v) for k, v in ids.items()}
    assert after["1.2.0"] is None, "an older image without other tags is deleted"
    assert after["1.9.0"] == ["%s-mirror:1.9.0" % name], "tags outside the repositories stay, and the image"
    for key in ("1.11.0", "1.10.0", "1.0.0", "unlabelled", "cache"):
        assert after[key] == before[key], key
    assert docker_client.images.list(filters={"dangling": True, "label": naming.LABEL_IMAGE_NAME + "=" + name}) == []

    again = run_retention(tmp_path, args)
    assert again["changed"] is False and again["removed"] == []
    assert [(e["version"], e["reason"]) for e in again["skipped_artifacts"]] == [
        ("1.9.0", "tagged only outside the repositories %s" % name),
        ("1.0.0", "used by container(s) %s-user; never forced" % name)]


# --- AMIs on moto ------------------------------------------------------------------------------

def register_ami(ec2, name, tags=None):
    """An AMI with its own snapshot, tagged (image and snapshot) like a build tags its artifacts."""
    volume = ec2.create_volume(AvailabilityZone=ec2.meta.region_name + "a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    image_id = ec2.register_image(Name=name, RootDeviceName="/dev/xvda", VirtualizationType="hvm", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}])["ImageId"]
    snapshots = res.image_snapshot_ids(ec2.describe_images(ImageIds=[image_id])["Images"][0])
    if tags:
        own = {naming.LABEL_AMI_ID: image_id} if tags.get(naming.LABEL_BUILD_ID) else {}  # as a build tags its AMIs
        ec2.create_tags(Resources=[image_id] + snapshots, Tags=naming.aws_tag_list(dict(tags, **own)))
    return image_id, snapshots


def artifact_tags(name, version, build_id, created):
    tags = res.ec2_tags(naming.KIND_ARTIFACT, build_id, name, "aws", name="%s-%s" % (name, version), version=version,
                        build_hash="abc123")
    tags[naming.LABEL_CREATED] = created
    return tags


def snapshot_exists(ec2, snapshot_id):
    return bool(ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}])["Snapshots"])


def ami_exists(ec2, image_id):
    return bool(ec2.describe_images(ImageIds=[image_id])["Images"])


@pytest.mark.aws
@pytest.mark.slow
def test_ami_retention_on_moto(aws, tmp_path):
    east, west = aws.client("ec2"), aws.client("ec2", "eu-west-1")
    made = {}
    for version, days in (("1.0.0", 30), ("1.1.0", 20), ("1.2.0", 1)):
        build_id = naming.new_build_id()
        made[version] = register_ami(east, "webapp-" + version, artifact_tags("webapp", version, build_id, days_ago(days)))
        made[version + "@west"] = register_ami(west, "webapp-" + version,
                                               artifact_tags("webapp", version, build_id, days_ago(days)))
    made["untagged"] = register_ami(east, "webapp-handmade")
    args = {"type": "ec2", "image_name": "webapp", "target": "aws", "keep": {"count": 1},
            "region": "us-east-1", "regions": ["eu-west-1"], "current": [made["1.2.0"][0]]}

    listed = run_retention(tmp_path, args, "--check", env=aws.env)
    assert listed["changed"] is True
    assert sorted((e["version"], e["region"]) for e in listed["removed"]) == [
        ("1.0.0", "eu-west-1"), ("1.0.0", "us-east-1"), ("1.1.0", "eu-west-1"), ("1.1.0", "us-east-1")]
    assert sorted(e["region"] for e in listed["kept"]) == ["eu-west-1", "us-east-1"]
    assert all(ami_exists(east, made[v][0]) for v in ("1.0.0", "1.1.0")), "check mode deregistered an AMI"

    done = run_retention(tmp_path, args, env=aws.env)
    assert done["changed"] is True and len(done["removed"]) == 4
    for key in ("1.0.0", "1.1.0", "1.0.0@west", "1.1.0@west"):
        ec2 = west if key.endswith("@west") else east
        image_id, snapshots = made[key]
        assert not ami_exists(ec2, image_id), key
        assert not any(snapshot_exists(ec2, s) for s in snapshots), key
        assert next(e for e in done["removed"] if e["id"] == image_id)["snapshots"] == snapshots
    for key, ec2 in (("1.2.0", east), ("1.2.0@west", west), ("untagged", east)):
        image_id, snapshots = made[key]
        assert ami_exists(ec2, image_id) and all(snapshot_exists(ec2, s) for s in snapshots), key

    again = run_retention(tmp_path, args, env=aws.env)
    assert again["changed"] is False and again["removed"] == []
