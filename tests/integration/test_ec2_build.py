# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ec2 target end to end against moto server (EC2 + SSM over HTTP) and an sshd container as the instance.

The instance moto "launches" has no reachable address, so the builder is reached through the
ssh_host/ssh_port override (Packer has the same), with a key pair imported into moto. Roles really
run over SSH in the stand-in; the AMI calls really go to an HTTP endpoint through boto3.
"""

import glob
import json
import os
import re
import subprocess
import tempfile
import time

import pytest

from conftest import BASE_IMAGE, ROOT, ansible_env, run_build, sh_in_image

pytestmark = [pytest.mark.docker, pytest.mark.aws, pytest.mark.slow]

ROLE = """
- name: Write the message of the day
  ansible.builtin.copy:
    content: "built by {{ inventory_hostname }}\\n"
    dest: /etc/motd
    mode: "0644"

- name: Record the parent of a module (the login user is root)
  ansible.builtin.shell: tr '\\0' ' ' < /proc/$PPID/cmdline > /root/module-parent
"""
FAILING = ROLE + """
- name: Fail on purpose
  ansible.builtin.fail:
    msg: ec2 boom
"""


KEY = "arn:aws:kms:%s:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def ec2_target(ssh_target, **changes):
    target = {
        "name": "aws", "type": "ec2", "region": "us-east-1",
        "source_ami_filter": {"name": "amzn2-ami-hvm-*", "owners": ["amazon"], "most_recent": True},
        "instance_type": "t3.micro", "ssh_username": "root",
        "ssh_host": "127.0.0.1", "ssh_port": ssh_target.port,
        "ssh_keypair_name": "itest-key", "ssh_private_key_file": ssh_target.key,
        "allowed_cidrs": ["127.0.0.1/32"],
    }
    target.update(changes)
    return target


# moto's Amazon Linux 2 AMI for Graviton (t4g) instances
ARM64_AMI = {"name": "amzn2-ami-hvm-*", "owners": ["amazon"], "architecture": "arm64"}


def import_key(aws, ssh_target, regions=("us-east-1",)):
    for region in regions:
        aws.client("ec2", region).import_key_pair(KeyName="itest-key", PublicKeyMaterial=ssh_target.public_key.encode())


def tagged(resources, build_id):
    return [r for r in resources if {"Key": "immutable.images.build-id", "Value": build_id} in (r.get("Tags") or [])]


def assert_no_builder_left(aws, build_id, regions=("us-east-1",)):
    for region in regions:
        ec2 = aws.client("ec2", region)
        live = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                if i["State"]["Name"] not in ("terminated", "shutting-down")]
        assert tagged(live, build_id) == [], "a builder instance is still alive in %s" % region
        assert tagged(ec2.describe_key_pairs()["KeyPairs"], build_id) == []
        assert tagged(ec2.describe_security_groups()["SecurityGroups"], build_id) == []
        assert tagged(ec2.describe_volumes()["Volumes"], build_id) == [], "a builder volume is left in %s" % region
        assert {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]} <= {"itest-key"}
        assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == ["default"]


def test_full_ami_build(aws, ssh_target, project):
    import_key(aws, ssh_target)
    project.role("motd", ROLE)
    project.file("files/app.txt", "app\n")
    definition = {
        "image_name": "amibuild", "image_version": "2.1.0", "image_gather_facts": False,
        "image_files": [{"src": "files/", "dest": "/opt/app"}], "image_roles": ["motd"],
        "image_manifest": "manifest.json",
        "image_targets": [ec2_target(ssh_target, tags={"team": "web"}, copy_to_regions=["eu-west-1"],
                                     share_with_accounts=["111122223333"],
                                     publish_parameter="/images/amibuild/latest",
                                     # encrypted with a customer key, shared: the copy needs a key of its region
                                     root_volume={"encrypted": True, "kms_key_id": KEY % "us-east-1"},
                                     region_kms_key_ids={"eu-west-1": KEY % "eu-west-1"},
                                     associate_public_ip_address=True, share_snapshots=True,
                                     extra_volumes=[{"device_name": "/dev/sdf", "size": 4, "type": "gp3",
                                                    "iops": 4000, "throughput": 250}],
                                     imds_support="v2.0",
                                     # as an account's policy may require of what a build creates
                                     run_tags={"CostCenter": "cc-42"},
                                     metadata_options={"http_put_response_hop_limit": 2},
                                     # the default VPC's subnet of one zone, by filters (moto makes one per zone)
                                     subnet_filter={"filters": {"default-for-az": "true",
                                                                "availability-zone": "us-east-1b"}})],
    }
    aws.start_recording()
    proc = run_build(project.path, definition, env=aws.env)
    assert proc.returncode == 0, proc.output
    # moto keeps neither key (it ignores them): what the requests carried is what AWS would have done
    (region, launched), = aws.recorded("RunInstances")
    assert launched["BlockDeviceMapping.1.Ebs.KmsKeyId"] == KEY % "us-east-1", launched
    assert (launched["BlockDeviceMapping.2.DeviceName"], launched["BlockDeviceMapping.2.Ebs.VolumeSize"],
            launched["BlockDeviceMapping.2.Ebs.DeleteOnTermination"]) == ("/dev/sdf", "4", "true"), launched
    assert (launched["BlockDeviceMapping.2.Ebs.Iops"], launched["BlockDeviceMapping.2.Ebs.Throughput"]) == ("4000", "250")
    assert launched["NetworkInterface.1.AssociatePublicIpAddress"] == "true", launched  # and its group with it
    zone_b, = aws.client("ec2").describe_subnets(Filters=[{"Name": "availability-zone", "Values": ["us-east-1b"]}])["Subnets"]
    assert launched["NetworkInterface.1.SubnetId"] == zone_b["SubnetId"], launched
    assert launched["NetworkInterface.1.SecurityGroupId.1"].startswith("sg-") and "SecurityGroupId.1" not in launched
    # the run tags in the request that creates each temporary resource (what a policy on aws:RequestTag reads)
    assert _requested_tags(launched) == {"instance": "cc-42", "volume": "cc-42"}, launched
    assert (launched["MetadataOptions.HttpTokens"], launched["MetadataOptions.HttpPutResponseHopLimit"]) == ("required", "2")
    (_region, created), = aws.recorded("CreateSecurityGroup")  # the key pair is the test's own (ssh_keypair_name)
    assert _requested_tags(created) == {"security-group": "cc-42"}, created
    assert [(r, c.get("Encrypted"), c.get("KmsKeyId")) for r, c in aws.recorded("CopyImage")] == [
        ("eu-west-1", "true", KEY % "eu-west-1")]
    manifest = json.loads((project.path / "manifest.json").read_text())
    build_id = manifest["build_id"]
    artifact = manifest["targets"][0]["artifact"]
    amis = artifact["amis"]
    assert set(amis) == {"us-east-1", "eu-west-1"}
    assert sorted((r, c["ImageId"]) for r, c in aws.recorded("ModifyImageAttribute")
                  if c.get("ImdsSupport.Value") == "v2.0") == sorted(amis.items())
    assert manifest["targets"][0]["source_ami"]["image_id"].startswith("ami-")

    for region, ami_id in amis.items():
        ec2 = aws.client("ec2", region)
        image = ec2.describe_images(ImageIds=[ami_id])["Images"][0]
        assert image["State"] == "available"
        tags = {t["Key"]: t["Value"] for t in image["Tags"]}
        assert tags["team"] == "web" and tags["immutable.images.build-id"] == build_id
        assert tags["immutable.images.kind"] == "artifact"
        assert image["Name"] == "amibuild-2.1.0-%s" % build_id
        for mapping in image["BlockDeviceMappings"]:
            snap = ec2.describe_snapshots(SnapshotIds=[mapping["Ebs"]["SnapshotId"]])["Snapshots"][0]
            assert {"Key": "immutable.images.build-id", "Value": build_id} in snap["Tags"]
        perms = ec2.describe_image_attribute(ImageId=ami_id, Attribute="launchPermission")["LaunchPermissions"]
        assert {"UserId": "111122223333"} in perms
        for mapping in image["BlockDeviceMappings"]:  # share_snapshots: the account may copy the AMI
            volumes = ec2.describe_snapshot_attribute(SnapshotId=mapping["Ebs"]["SnapshotId"],
                                                      Attribute="createVolumePermission")["CreateVolumePermissions"]
            assert volumes == [{"UserId": "111122223333"}]

    param = aws.client("ssm").get_parameter(Name="/images/amibuild/latest")["Parameter"]
    assert param["Value"] == amis["us-east-1"]

    # The roles ran over SSH in the "instance", after the files; then it was scrubbed.
    assert ssh_target.container.exec_run(["cat", "/etc/motd", "/opt/app/app.txt"]).output == \
        b"built by amibuild-aws\napp\n"
    assert ssh_target.container.exec_run(["sh", "-c", "ls /etc/ssh/ssh_host_* 2>/dev/null | wc -l"]).output == b"0\n"
    # in the warm interpreter (as root: the login user), which nothing installed before the build
    assert b"/dev/shm/immutable-images-warm/server.py" in ssh_target.container.exec_run(["cat", "/root/module-parent"]).output
    assert_no_builder_left(aws, build_id, ("us-east-1", "eu-west-1"))


def test_failure_during_provisioning_leaves_nothing(aws, ssh_target, project):
    import_key(aws, ssh_target)
    project.role("breaks", FAILING)
    definition = {"image_name": "amifail", "image_version": "1.0.0", "image_gather_facts": False,
                  "image_roles": ["breaks"], "image_manifest": "manifest.json",
                  "image_targets": [ec2_target(ssh_target)]}
    proc = run_build(project.path, definition, env=aws.env)
    assert proc.returncode != 0
    assert "target aws: failed at stage provision in task 'Fail on purpose': ec2 boom" in proc.output
    build_id = json.loads((project.path / "manifest.json").read_text())["build_id"]
    ec2 = aws.client("ec2")
    instances = tagged([i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]], build_id)
    assert instances and all(i["State"]["Name"] == "terminated" for i in instances)
    assert_no_builder_left(aws, build_id)
    assert ec2.describe_images(Owners=["self"])["Images"] == [], "no AMI may be registered by a failed build"


def test_docker_and_ec2_targets_in_one_definition(aws, ssh_target, project, docker_client, remove_images):
    import_key(aws, ssh_target)
    project.role("motd", ROLE)
    remove_images("both")
    definition = {
        "image_name": "both", "image_version": "1.0.0", "image_gather_facts": False,
        "image_roles": ["motd"], "image_manifest": "manifest.json",
        "image_targets": [
            {"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never",
             "config": {"cmd": ["cat", "/etc/motd"]}},
            ec2_target(ssh_target),
        ],
    }
    proc = run_build(project.path, definition, env=aws.env)
    assert proc.returncode == 0, proc.output
    manifest = json.loads((project.path / "manifest.json").read_text())
    by_name = {t["name"]: t for t in manifest["targets"]}
    assert by_name["container"]["status"] == by_name["aws"]["status"] == "succeeded"
    assert sh_in_image(docker_client, "both:1.0.0", "cat /etc/motd") == "built by both-container\n"
    ami = by_name["aws"]["artifact"]["amis"]["us-east-1"]
    assert aws.client("ec2").describe_images(ImageIds=[ami])["Images"][0]["State"] == "available"
    assert_no_builder_left(aws, manifest["build_id"])


def test_two_ec2_targets_in_one_region_name_their_amis_apart(aws, ssh_target, second_ssh_target, project):
    """An x86_64 and an arm64 AMI of one definition in one region: the default AMI names carry the target's name (they
    were the same, and the second target failed at prevalidate after its build)."""
    import_key(aws, ssh_target)
    project.role("motd", ROLE)
    definition = {"image_name": "amitwo", "image_version": "1.0.0", "image_gather_facts": False,
                  "image_roles": ["motd"], "image_manifest": "manifest.json",
                  "image_targets": [ec2_target(ssh_target, name="x86"),
                                    ec2_target(second_ssh_target, name="arm", instance_type="t4g.micro",
                                               source_ami_filter=dict(ARM64_AMI, most_recent=True))]}
    proc = run_build(project.path, definition, env=aws.env)
    assert proc.returncode == 0, proc.output
    manifest = json.loads((project.path / "manifest.json").read_text())
    names = {}
    for target in manifest["targets"]:
        ami = target["artifact"]["amis"]["us-east-1"]
        names[target["name"]] = aws.client("ec2").describe_images(ImageIds=[ami])["Images"][0]["Name"]
    assert names == {name: "amitwo-1.0.0-%s-%s" % (name, manifest["build_id"]) for name in ("x86", "arm")}, names
    assert_no_builder_left(aws, manifest["build_id"])


def test_keep_leaves_the_failed_instance_and_says_how_to_get_in(aws, ssh_target, project):
    """The instance, its group and the hint stay; the build's temporary directory goes, as the instance is entered with
    the target's own key (it stays only for a temporary key pair's private key)."""
    import_key(aws, ssh_target)
    project.role("breaks_kept", FAILING)  # a name of its own: the temporary directory's roles.yml would name it
    definition = {"image_name": "amikeep", "image_version": "1.0.0", "image_gather_facts": False,
                  "image_roles": ["breaks_kept"], "image_on_error": "keep", "image_manifest": "manifest.json",
                  "image_targets": [ec2_target(ssh_target)]}
    proc = run_build(project.path, definition, env=aws.env)
    assert proc.returncode != 0
    manifest = json.loads((project.path / "manifest.json").read_text())
    build_id = manifest["build_id"]
    ec2 = aws.client("ec2")
    instances = tagged([i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]], build_id)
    assert [i["State"]["Name"] for i in instances] == ["running"]
    # Its dead man's switch: a shutdown terminates it, and the watchdog that shuts it down runs on it.
    attribute = ec2.describe_instance_attribute(InstanceId=instances[0]["InstanceId"],
                                                Attribute="instanceInitiatedShutdownBehavior")
    assert attribute["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    assert ssh_target.container.exec_run(["test", "-f", "/run/immutable-images-watchdog.lease"]).exit_code == 0
    hint = "builder kept for debugging: ssh -i %s -p %d root@127.0.0.1" % (ssh_target.key, ssh_target.port)
    assert hint in proc.output
    assert instances[0]["InstanceId"] in manifest["targets"][0]["kept_builder"]
    assert len(tagged(ec2.describe_security_groups()["SecurityGroups"], build_id)) == 1
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    left = [d for d in glob.glob(os.path.join(tempfile.gettempdir(), "immutable-images-*", "roles.yml"))
            if "breaks_kept" in open(d).read()]
    assert left == [], "the build's temporary directory stayed, with nothing of a kept builder's in it"
    # The janitor-by-build-id removes it once you are done.
    done = subprocess.run(["ansible", "localhost", "-m", "immutable.images.ec2_cleanup", "-a",
                           "build_id=%s regions=us-east-1" % build_id], cwd=str(project.path),
                          env=ansible_env(aws.env), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_no_builder_left(aws, build_id)


WATCHDOG = os.path.join(ROOT, "roles", "launch", "files", "ec2_watchdog.sh")


def test_the_watchdog_shuts_the_instance_down_once_the_controller_is_gone(ssh_target):
    """The launch role's watchdog on the SSH stand-in, started over SSH as the role does, with a 4 s lease
    and a stand-in for shutdown that records the call: held while an SSH session is open, then fired."""
    box = ssh_target.container
    recorder = box.exec_run(["sh", "-c", "printf '#!/bin/sh\\necho \"$*\" >> /tmp/shutdown-calls\\n' > /usr/local/sbin/shutdown"
                                   " && chmod 755 /usr/local/sbin/shutdown"])
    assert recorder.exit_code == 0, recorder.output
    ssh = ["ssh", "-i", ssh_target.key, "-p", str(ssh_target.port), "-o", "StrictHostKeyChecking=no",
           "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
           "-o", "LogLevel=ERROR", "root@127.0.0.1"]
    with open(WATCHDOG, "rb") as script:
        started = subprocess.run(ssh + ["sh", "-s", "4"], stdin=script, capture_output=True, timeout=60)
    assert started.returncode == 0 and b"watchdog" in started.stdout, started.stdout + started.stderr

    def calls():
        return box.exec_run(["cat", "/tmp/shutdown-calls"]).output.decode(errors="replace")

    # A build holds an SSH session: twice the lease passes without a shutdown.
    subprocess.run(ssh + ["sleep", "9"], capture_output=True, timeout=60, check=True)
    assert "No such file" in calls()
    # The controller is gone: no session any more; the lease runs out and the watchdog fires.
    deadline = time.monotonic() + 20
    while "-h now" not in calls():
        assert time.monotonic() < deadline, "the watchdog did not fire: " + calls()
        time.sleep(0.5)
    assert calls().strip() == "-h now", "it fires once"


def _requested_tags(params):
    """{resource type: its CostCenter tag} of a query API request's TagSpecification.N entries."""
    found = {}
    for key, value in params.items():
        match = re.match(r"^TagSpecification\.(\d+)\.Tag\.(\d+)\.Key$", key)
        if match and value == "CostCenter":
            spec, tag = match.groups()
            found[params["TagSpecification.%s.ResourceType" % spec]] = params["TagSpecification.%s.Tag.%s.Value" % (spec, tag)]
    return found
