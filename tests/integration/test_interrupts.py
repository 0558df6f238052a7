"""Interrupted builds leave nothing behind: Ctrl-C, SIGTERM, SIGKILL (the build guard) and power loss (the janitor)."""

import glob
import os
import signal
import subprocess
import time

import pytest

from conftest import BASE_IMAGE, ansible_env, build_containers, run_build

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SLOW_ROLE = """
- name: Take a long time
  ansible.builtin.command: sleep 300
  changed_when: false
"""


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.2)


def start_slow_build(project, name, env=None):
    if not (project.path / "roles" / "slow").exists():
        project.role("slow", SLOW_ROLE)
    def_file = project.path / "slow.yml"
    def_file.write_text(
        "image_name: %s\nimage_version: 1.0.0\nimage_gather_facts: false\nimage_roles: [slow]\n"
        "image_targets:\n  - {name: container, type: docker, base_image: %s, pull: never}\n" % (name, BASE_IMAGE))
    log = open(project.path / "build.log", "w")
    proc = subprocess.Popen(["ansible-playbook", "immutable.images.build_image", "-e", "@%s" % def_file],
                            cwd=str(project.path), env=ansible_env(env), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc


def ours(client, name):
    return [c for c in build_containers(client) if c.labels.get("immutable.images.image-name") == name]


def wait_for_provisioning(client, name):
    """Until the builder runs the slow role's `sleep 300`."""
    def sleeping():
        for c in ours(client, name):
            try:
                return any("sleep 300" in " ".join(p) for p in c.top()["Processes"])
            except Exception:  # noqa: BLE001 - not started yet
                return False
        return False
    wait_until(sleeping, 120, "the builder to be provisioning")
    return ours(client, name)[0]


def guard_pids(build_id):
    pids = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(cmdline, "rb") as f:
                args = f.read().decode(errors="replace")
        except OSError:
            continue
        if "build_guard.py" in args and build_id in args:
            pids.append(int(cmdline.split("/")[2]))
    return pids


@pytest.mark.parametrize("how", ["sigint-process", "sigint-group", "sigterm-process"])
def test_interrupt_during_provisioning_removes_the_builder(docker_client, project, how):
    name = "interrupt-" + how.replace("-", "")
    proc = start_slow_build(project, name)
    try:
        builder = wait_for_provisioning(docker_client, name)
        sig = signal.SIGTERM if how.startswith("sigterm") else signal.SIGINT
        if how.endswith("group"):  # a terminal's Ctrl-C signals the whole process group
            os.killpg(proc.pid, sig)
        else:  # `kill PID` signals only the main process
            os.kill(proc.pid, sig)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rc != 0
    wait_until(lambda: ours(docker_client, name) == [], 60, "the builder %s to be removed" % builder.name)
    build_id = builder.labels["immutable.images.build-id"]
    wait_until(lambda: guard_pids(build_id) == [], 30, "the build guard to finish")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_the_builder_is_gone_before_the_process_exits_with_a_default_config(docker_client, project, sig):
    """No ansible.cfg, no callback enabled: the launch role installs the handlers in ansible-playbook's process."""
    name = "guard-beforeexit" + sig.name.lower()
    proc = start_slow_build(project, name)
    try:
        wait_for_provisioning(docker_client, name)
        os.kill(proc.pid, sig)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rc != 0
    assert ours(docker_client, name) == [], "the builder must be gone when ansible-playbook has exited"
    assert "removing the temporary resources of build" in (project.path / "build.log").read_text()


def test_sigkill_is_cleaned_by_the_guard_and_power_loss_by_the_janitor(docker_client, project):
    # SIGKILL of ansible-playbook: the build guard notices and removes the builder.
    proc = start_slow_build(project, "killed")
    builder = wait_for_provisioning(docker_client, "killed")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    wait_until(lambda: ours(docker_client, "killed") == [], 60, "the guard to remove " + builder.name)

    # SIGKILL of both the playbook and its guard, as a power loss would: an orphan stays...
    proc = start_slow_build(project, "orphaned")
    builder = wait_for_provisioning(docker_client, "orphaned")
    build_id = builder.labels["immutable.images.build-id"]
    guards = guard_pids(build_id)
    assert len(guards) == 1
    os.kill(guards[0], signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(1)
    assert [c.id for c in ours(docker_client, "orphaned")] == [builder.id]

    # ...until the janitor runs. Something that is not ours survives it.
    stranger = docker_client.containers.run(BASE_IMAGE, ["-c", "sleep 600"], entrypoint=["/bin/sh"], detach=True,
                                            labels={"team": "not-immutable-images"})
    try:
        janitor = ["ansible-playbook", "immutable.images.cleanup", "-e", "cleanup_max_age=0s"]
        listed = subprocess.run(janitor + ["--check"], cwd=str(project.path), env=ansible_env(),
                                capture_output=True, text=True, timeout=300)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert builder.name in listed.stdout
        assert [c.id for c in ours(docker_client, "orphaned")] == [builder.id], "check mode must only list"

        swept = subprocess.run(janitor, cwd=str(project.path), env=ansible_env(), capture_output=True, text=True,
                               timeout=300)
        assert swept.returncode == 0, swept.stdout + swept.stderr
        assert ours(docker_client, "orphaned") == []
        stranger.reload()
        assert stranger.status == "running"
    finally:
        stranger.remove(force=True)


@pytest.mark.aws
def test_janitor_removes_aws_orphans_and_nothing_else(aws, project):
    """Orphans a lost controller leaves in a region: a running builder instance, its temporary key pair
    and security group, and a half-made AMI. The janitor removes exactly those."""
    ec2 = aws.client("ec2")
    tags = [{"Key": "immutable.images.build-id", "Value": "20200101T0000Z-dead00"},
            {"Key": "immutable.images.kind", "Value": "builder"},
            {"Key": "immutable.images.image-name", "Value": "orphan"},
            {"Key": "immutable.images.target", "Value": "aws"},
            {"Key": "immutable.images.created", "Value": "2020-01-01T00:00:00Z"}]
    ami = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}])["Images"][0]
    orphan = ec2.run_instances(ImageId=ami["ImageId"], MinCount=1, MaxCount=1, InstanceType="t3.micro",
                               TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"][0]
    stranger = ec2.run_instances(ImageId=ami["ImageId"], MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]
    ec2.create_key_pair(KeyName="orphan-key", TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags}])
    ec2.create_key_pair(KeyName="someone-elses-key")
    group = ec2.create_security_group(GroupName="orphan-sg", Description="orphan",
                                      TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}])["GroupId"]
    half_made = ec2.create_image(InstanceId=orphan["InstanceId"], Name="orphan-half-made",
                                 TagSpecifications=[{"ResourceType": "image", "Tags": tags}])["ImageId"]

    janitor = ["ansible-playbook", "immutable.images.cleanup", "-e", "cleanup_max_age=1h",
               "-e", '{"cleanup_aws_regions": ["us-east-1"]}']
    listed = subprocess.run(janitor + ["--check"], cwd=str(project.path), env=ansible_env(aws.env),
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert orphan["InstanceId"] in listed.stdout and "orphan-key" in listed.stdout
    assert ec2.describe_instances(InstanceIds=[orphan["InstanceId"]])["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"

    swept = subprocess.run(janitor, cwd=str(project.path), env=ansible_env(aws.env), capture_output=True, text=True,
                           timeout=300)
    assert swept.returncode == 0, swept.stdout + swept.stderr

    def state(instance):
        return ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state(orphan) == "terminated"
    assert state(stranger) == "running"
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["someone-elses-key"]
    assert group not in [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]]
    assert ec2.describe_images(ImageIds=[half_made])["Images"] == []
