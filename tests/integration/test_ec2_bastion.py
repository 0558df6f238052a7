# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An ec2 builder reached only through a bastion host (ssh_bastion_*), against moto server and two sshd containers.

The builder's stand-in publishes no port, and its address is a name only the bastion resolves (an /etc/hosts entry
of the bastion's container): the controller cannot connect to it, so the wait for its port and every task must go
through the bastion, as to an instance in a private subnet. Its sshd log then names the bastion as the only client.
"""

import json
import re
import subprocess

import pytest

from conftest import SSH_BASE_IMAGE, run_build, wait_for_sshd
from test_ec2_build import assert_no_builder_left, tagged

pytestmark = [pytest.mark.docker, pytest.mark.aws, pytest.mark.slow]

ROLE = """
- name: Write a file on the builder behind the bastion
  ansible.builtin.copy:
    content: "built by {{ inventory_hostname }}\\n"
    dest: /etc/behind-bastion
    mode: "0644"
"""
PRIVATE_NAME = "builder.behind-bastion.internal"


def _key(tmp_path, name):
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return str(key), (tmp_path / (name + ".pub")).read_text().strip()


@pytest.fixture
def behind_bastion(docker_client, tmp_path):
    """(builder container, bastion container, bastion port, builder key, builder public key, bastion key)."""
    builder_key, builder_pub = _key(tmp_path, "builder")
    bastion_key, bastion_pub = _key(tmp_path, "bastion")
    containers = []
    try:
        builder = docker_client.containers.create(
            SSH_BASE_IMAGE, ["-c", "mkdir -p /run/sshd /root/.ssh && echo '%s' > /root/.ssh/authorized_keys"
                                   " && ssh-keygen -A && exec /usr/sbin/sshd -D -e" % builder_pub],
            entrypoint=["/bin/sh"], labels={"immutable.images.test": "bastion"})
        containers.append(builder)
        builder.start()
        builder.reload()
        address = builder.attrs["NetworkSettings"]["IPAddress"]
        bastion = docker_client.containers.create(
            SSH_BASE_IMAGE, ["-c", "useradd -m jump && mkdir -p /run/sshd /home/jump/.ssh"
                                   " && echo '%s' > /home/jump/.ssh/authorized_keys && chown -R jump: /home/jump/.ssh"
                                   " && ssh-keygen -A && exec /usr/sbin/sshd -D -e" % bastion_pub],
            entrypoint=["/bin/sh"], ports={"22/tcp": ("127.0.0.1", None)}, extra_hosts={PRIVATE_NAME: address},
            labels={"immutable.images.test": "bastion"})
        containers.append(bastion)
        bastion.start()
        bastion.reload()
        port = int(bastion.attrs["NetworkSettings"]["Ports"]["22/tcp"][0]["HostPort"])
        wait_for_sshd(port)
        yield builder, bastion, port, builder_key, builder_pub, bastion_key
    finally:
        for container in containers:
            container.remove(force=True)


def definition(name, port, builder_key, bastion_key, **target):
    return {
        "image_name": name, "image_version": "1.0.0", "image_roles": ["behind"], "image_gather_facts": False,
        "image_manifest": "manifest.json",
        "image_targets": [dict({
            "name": "aws", "type": "ec2", "region": "us-east-1",
            "source_ami_filter": {"name": "amzn2-ami-hvm-*", "owners": ["amazon"], "most_recent": True},
            "instance_type": "t3.micro", "ssh_username": "root", "ssh_host": PRIVATE_NAME, "ssh_port": 22,
            "ssh_keypair_name": "itest-key", "ssh_private_key_file": builder_key, "allowed_cidrs": ["10.0.0.0/8"],
            "ssh_bastion_host": "127.0.0.1", "ssh_bastion_port": port, "ssh_bastion_username": "jump",
            "ssh_bastion_private_key_file": bastion_key}, **target)],
    }


def test_a_builder_reached_only_through_a_bastion(aws, behind_bastion, project):
    builder, bastion, port, builder_key, builder_pub, bastion_key = behind_bastion
    ec2 = aws.client("ec2")
    ec2.import_key_pair(KeyName="itest-key", PublicKeyMaterial=builder_pub.encode())
    # as in accounts where builds may not create security groups: one of the account's, that lets the bastion in
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    own = ec2.create_security_group(GroupName="from-bastion", Description="SSH from the bastion", VpcId=vpc)["GroupId"]
    project.role("behind", ROLE)
    # The bastion's host key is new: not checked, as Ansible checks no host's with host_key_checking off.
    aws.start_recording()
    proc = run_build(project.path, definition("bastioned", port, builder_key, bastion_key, allowed_cidrs=[],
                                              security_group_ids=[own]),
                     env=dict(aws.env, ANSIBLE_HOST_KEY_CHECKING="False"))
    assert proc.returncode == 0, proc.output[-4000:]
    assert "reached through the bastion jump@127.0.0.1:%d" % port in proc.output  # the plan says so
    assert builder.exec_run(["cat", "/etc/behind-bastion"]).output.decode() == "built by bastioned-aws\n"
    # Every connection the builder's sshd accepted came from the bastion (the wait's probes, Ansible's connection).
    bastion_address = bastion.attrs["NetworkSettings"]["IPAddress"]
    log = builder.logs().decode()
    clients = set(re.findall(r"Accepted publickey for root from (\S+)", log))
    assert clients == {bastion_address}, log
    peers = set(re.findall(r"(?:by|from) (\d+\.\d+\.\d+\.\d+) port", log))  # the probe's closed connection too
    assert peers == {bastion_address}, log
    build_id = json.loads((project.path / "manifest.json").read_text())["build_id"]
    images = tagged(ec2.describe_images(Owners=["self"])["Images"], build_id)
    assert len(images) == 1 and images[0]["State"] == "available"
    (_region, launched), = aws.recorded("RunInstances")
    assert [v for k, v in launched.items() if k.startswith("SecurityGroupId")] == [own], launched
    assert aws.recorded("CreateSecurityGroup") == []
    ec2.delete_security_group(GroupId=own)  # still there: the build neither changed nor deleted it
    assert_no_builder_left(aws, build_id)


def test_an_unknown_bastion_host_key_fails_the_launch_at_once_and_leaves_nothing(aws, behind_bastion, project):
    builder, bastion, port, builder_key, builder_pub, bastion_key = behind_bastion
    aws.client("ec2").import_key_pair(KeyName="itest-key", PublicKeyMaterial=builder_pub.encode())
    project.role("behind", ROLE)
    # host_key_checking on (Ansible's default): the bastion is not in the controller's known hosts. The wait gives up
    # on the first probe instead of waiting out ssh_timeout.
    proc = run_build(project.path, definition("unknownbastion", port, builder_key, bastion_key, ssh_timeout=120),
                     env=dict(aws.env, ANSIBLE_HOST_KEY_CHECKING="True"))
    assert proc.returncode != 0
    flat = " ".join(proc.output.split())
    assert "failed at wait for SSH: cannot use the bastion jump@127.0.0.1:%d: Host key verification failed." % port \
        in flat, proc.output[-4000:]
    assert "Accepted publickey" not in builder.logs().decode()
    ec2 = aws.client("ec2")  # the launch's rollback removed what it had made (no manifest: nothing was built)
    assert [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]] == ["terminated"]
    assert {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]} == {"itest-key"}
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == ["default"]
    assert ec2.describe_images(Owners=["self"])["Images"] == []
