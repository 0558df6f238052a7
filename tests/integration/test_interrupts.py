# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Interrupted builds leave nothing behind: Ctrl-C, SIGTERM, SIGKILL (the build guard) and power loss (the janitor)."""

import glob
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import BASE_IMAGE, ansible_env, build_containers, run_build, wait_until
from ansible_collections.immutable.images.plugins.plugin_utils._guard import build_guard

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SLOW_ROLE = """
- name: Take a long time
  ansible.builtin.command: sleep 300
  changed_when: false
"""


def start_slow_build(project, name, env=None, role="slow", target=None, extra=""):
    if not (project.path / "roles" / "slow").exists():
        project.role("slow", SLOW_ROLE)
    def_file = project.path / "slow.yml"
    def_file.write_text(
        "image_name: %s\nimage_version: 1.0.0\nimage_gather_facts: false\nimage_roles: [%s]\nimage_targets:\n  - %s\n%s"
        % (name, role, json.dumps(target or {"name": "container", "type": "docker", "base_image": BASE_IMAGE,
                                             "pull": "never"}), extra))
    log = open(project.path / "build.log", "w")
    proc = subprocess.Popen(["ansible-playbook", "immutable.images.build_image", "-e", "@%s" % def_file],
                            cwd=str(project.path), env=ansible_env(env), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc


@pytest.fixture
def local_tmp():
    """A directory for ansible-playbook's own temporary directory (ANSIBLE_LOCAL_TEMP; short: sockets live there)."""
    path = tempfile.mkdtemp(prefix="lt-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def multiprocessing_tmp(build_id):
    """The running build's ansible-playbook's multiprocessing directory (ansible-core's listener for its workers), as
    its guard's token names it: in the default temporary directory, where the token is too."""
    path = json.loads(open(build_guard.token_path(build_id)).read())["multiprocessing_tmp"]
    assert os.path.basename(path).startswith("pymp-") and os.path.isdir(path), path
    return path


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


def lease_pids(container_id):
    """The builder lease processes (module_utils/_docker/lease.py) of a container."""
    return [pid for pid, args in processes() if "immutable.images builder lease" in args and container_id in args]


def processes():
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(cmdline, "rb") as f:
                yield int(cmdline.split("/")[2]), f.read().decode(errors="replace")
        except OSError:
            continue


def wait_for_log(project, text, timeout=180):
    wait_until(lambda: text in (project.path / "build.log").read_text(), timeout, repr(text) + " in the build log")


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
def test_interrupt_during_provisioning_removes_the_builder(docker_client, project, how, local_tmp):
    name = "interrupt-" + how.replace("-", "")
    proc = start_slow_build(project, name, env={"ANSIBLE_LOCAL_TEMP": local_tmp})
    try:
        builder = wait_for_provisioning(docker_client, name)
        mp_tmp = multiprocessing_tmp(builder.labels["immutable.images.build-id"])
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
    # ansible-playbook's own temporary directories (the controller's warm interpreter, session sockets; its workers'
    # listener) are gone too: it removes them itself on SIGINT, the guard does after SIGTERM, which ends the process
    # without its exit handlers
    assert os.listdir(local_tmp) == []
    assert not os.path.exists(mp_tmp)


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


class HangingRegistry(http.server.BaseHTTPRequestHandler):
    """Answers the registry API's ping, then never answers: a pull that takes forever."""
    hung = threading.Event()

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path.rstrip("/") == "/v2":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        HangingRegistry.hung.set()
        time.sleep(120)

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


def test_sigterm_while_pulling_the_base_image_leaves_nothing(docker_client, project):
    """The launch module is blocked in a pull when the signal comes: it is stopped, nothing is created after."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HangingRegistry)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    name = "guard-pulling"
    target = {"name": "container", "type": "docker", "pull": "always",
              "base_image": "127.0.0.1:%d/guard/hangs:1" % server.server_address[1]}
    proc = start_slow_build(project, name, target=target)
    try:
        wait_until(HangingRegistry.hung.is_set, 120, "the pull to start")
        os.kill(proc.pid, signal.SIGTERM)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        server.shutdown()
    assert rc != 0
    assert ours(docker_client, name) == []
    time.sleep(3)  # a module that survived would create the builder now
    assert ours(docker_client, name) == []
    assert "removing the temporary resources of build" in (project.path / "build.log").read_text()


BIG_ROLE = """
- name: Write a large file (its commit takes a while)
  ansible.builtin.command: dd if=/dev/zero of=/big bs=1M count=200
  changed_when: true
"""


def test_sigterm_during_the_commit_leaves_nothing(docker_client, project):
    name = "guard-committing"
    project.role("big", BIG_ROLE)
    # Without the layer cache, so that the artifact step commits the builder's 200 MB itself: with it, the artifact is
    # committed from the layer stored after the role (docker_image_commit from_layer), in an instant.
    proc = start_slow_build(project, name, role="big", extra="image_cache: false\n")
    try:
        wait_for_log(project, "Produce the artifact of each target")
        time.sleep(1)  # the SBOM first (a fraction of a second), then the commit of the 200 MB layer
        os.kill(proc.pid, signal.SIGTERM)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rc != 0
    assert ours(docker_client, name) == []
    # The engine finishes a commit whose client is gone: the guard's late passes (build_guard.LATE_PASSES, 3 and
    # 10 s after the process ended) remove it.

    def made():  # one listing: the SDK's images.list() inspects each image, and the late pass may remove one between
        return docker_client.api.images(filters={"label": "immutable.images.image-name=" + name})
    try:
        wait_until(lambda: [i for i in made() if (i["Labels"] or {}).get("immutable.images.kind") != "cache"] == [], 20,
                   "the guard's late pass to remove the commit the engine finished")
        assert docker_client.api.images(name=name) == []
    finally:
        for image in made():
            docker_client.images.remove(image["Id"], force=True)


def test_sigkill_is_cleaned_by_the_guard_and_a_lost_lease_by_the_engine(docker_client, project, local_tmp):
    # SIGKILL of ansible-playbook: the build guard notices and removes the builder, and ansible-playbook's own
    # temporary directory.
    proc = start_slow_build(project, "killed", env={"ANSIBLE_LOCAL_TEMP": local_tmp})
    builder = wait_for_provisioning(docker_client, "killed")
    assert len(os.listdir(local_tmp)) == 1
    mp_tmp = multiprocessing_tmp(builder.labels["immutable.images.build-id"])
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    wait_until(lambda: ours(docker_client, "killed") == [], 60, "the guard to remove " + builder.name)
    wait_until(lambda: os.listdir(local_tmp) == [] and not os.path.exists(mp_tmp), 30,
               "the guard to remove ansible-playbook's temporary directories")

    # SIGKILL of every controller process of ours (playbook, guard, lease): the builder removes itself.
    proc = start_slow_build(project, "guard-deadman")
    builder = wait_for_provisioning(docker_client, "guard-deadman")
    ours_on_controller = guard_pids(builder.labels["immutable.images.build-id"]) + lease_pids(builder.id)
    assert len(ours_on_controller) == 2
    for pid in ours_on_controller:
        os.kill(pid, signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    wait_until(lambda: ours(docker_client, "guard-deadman") == [], 60, "the builder to remove itself")
    # what is left on the controller (the token, the work directory) is for this controller's janitor's sweep
    assert build_guard.sweep(["guard-deadman"], log=lambda _m: None) == [builder.labels["immutable.images.build-id"]]

    # SIGKILL of the playbook and its guard, with the builder's lease frozen: as far as the engine can tell, the
    # controller is still attached, so for a janitor on another machine the builder is a live build's, and it leaves
    # it (and what is not ours) alone. On this controller the janitor also sees that the build's ansible-playbook
    # and guard are gone (their token is left): it cleans the build as the guard would have, the builder and the
    # build's work directory (it held them before: a build killed with its guard left its files here for good).
    proc = start_slow_build(project, "orphaned")
    builder = wait_for_provisioning(docker_client, "orphaned")
    build_id = builder.labels["immutable.images.build-id"]
    guards, leases = guard_pids(build_id), lease_pids(builder.id)
    assert len(guards) == 1 and len(leases) == 1
    # attached, the lease is its small watcher (lease.WATCHER): the Docker SDK is no longer in its memory
    assert "\0-I\0-S\0-c\0# immutable.images builder lease (attached)" in dict(processes())[leases[0]]
    for pid in leases:
        os.kill(pid, signal.SIGSTOP)
    os.kill(guards[0], signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(1)
    try:
        assert [c.id for c in ours(docker_client, "orphaned")] == [builder.id]
        # Scoped to this test's image name: other tests' builds may run on the engine at the same time (two workers).
        janitor = ["ansible-playbook", "immutable.images.cleanup", "-e", "cleanup_max_age=0s",
                   "-e", '{"cleanup_image_names": ["orphaned"]}']
        token = build_guard.token_path(build_id)
        workdir, killed_tmp, killed_mp_tmp = (json.loads(open(token).read())[key]
                                              for key in ("workdir", "local_tmp", "multiprocessing_tmp"))
        assert os.path.isdir(workdir) and os.path.isdir(killed_tmp) and os.path.isdir(killed_mp_tmp)
        # another machine's janitor: none of this controller's tokens (a temporary directory of its own; short, for
        # ansible-core's socket there)
        elsewhere = tempfile.mkdtemp(prefix="jn-")
        try:
            swept = subprocess.run(janitor, cwd=str(project.path), env=ansible_env({"TMPDIR": elsewhere}),
                                   capture_output=True, text=True, timeout=300, check=False)
        finally:
            shutil.rmtree(elsewhere)
        assert swept.returncode == 0, swept.stdout + swept.stderr
        assert [c.id for c in ours(docker_client, "orphaned")] == [builder.id], "a leased builder is a live build's"
        # this controller's janitor
        swept = subprocess.run(janitor, cwd=str(project.path), env=ansible_env(), capture_output=True, text=True,
                               timeout=300, check=False)
        assert swept.returncode == 0, swept.stdout + swept.stderr
        assert build_id in swept.stdout, swept.stdout  # what it swept
        wait_until(lambda: ours(docker_client, "orphaned") == [], 60, "the janitor to remove the builder")
        assert not os.path.exists(workdir) and not os.path.exists(token)
        assert not os.path.exists(killed_tmp) and not os.path.exists(killed_mp_tmp)
    finally:
        for pid in leases:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_builder_that_is_not_started_is_removed_by_the_guard_or_the_janitor(docker_client, project, tmp_path):
    """A build whose every layer is cached creates its builder at the last layer and never starts it: it has no lease,
    nothing of ours runs in it. Frozen once that builder exists, then SIGKILL of ansible-playbook: the guard removes
    it. SIGKILL of the guard too: it stays, no live build's (not running, no lease), and the janitor removes it."""
    name = "unstarted-%d" % os.getpid()
    project.role("quick", "- name: Write a file\n  ansible.builtin.copy: {dest: /quick, content: quick, mode: '0644'}\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    spec = {"image_name": name, "image_version": "1.0.0", "image_gather_facts": False, "image_roles": ["quick"],
            "image_cache": True, "image_force": True,
            "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never"}]}
    stored = run_build(project.path, spec, env=env)  # stores the layer and its package inventory
    assert stored.returncode == 0, stored.output
    for guard_too in (False, True):
        proc = subprocess.Popen(["ansible-playbook", "immutable.images.build_image", "-e",
                                 "@definition-under-test.yml"], cwd=str(project.path), env=ansible_env(env),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        output = []
        for line in proc.stdout:
            output.append(line)
            if line.startswith("TASK [immutable.images.launch : Note the docker builders"):
                os.killpg(proc.pid, signal.SIGSTOP)
                break
        (builder,) = ours(docker_client, name)
        assert builder.status == "created" and "builder: not started" in "".join(output), "".join(output)
        assert lease_pids(builder.id) == []
        if guard_too:
            for pid in guard_pids(builder.labels["immutable.images.build-id"]):
                os.kill(pid, signal.SIGKILL)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
        proc.wait(timeout=30)
        if not guard_too:
            wait_until(lambda: ours(docker_client, name) == [], 60, "the guard to remove " + builder.name)
            continue
        time.sleep(1)
        assert [c.id for c in ours(docker_client, name)] == [builder.id]
        janitor = ["ansible-playbook", "immutable.images.cleanup", "-e", "cleanup_max_age=0s",
                   "-e", '{"cleanup_image_names": ["%s"]}' % name]
        swept = subprocess.run(janitor, cwd=str(project.path), env=ansible_env(), capture_output=True, text=True,
                               timeout=300, check=False)
        assert swept.returncode == 0, swept.stdout + swept.stderr
        assert ours(docker_client, name) == []


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

    # Only the region (moto's, this worker's own): not the engine, which the other worker's builds share.
    janitor = ["ansible-playbook", "immutable.images.cleanup", "-e", "cleanup_max_age=1h",
               "-e", '{"cleanup_aws_regions": ["us-east-1"], "cleanup_docker_hosts": []}']
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


@pytest.mark.aws
def test_sigterm_while_the_ami_is_made_rolls_it_back(aws, ssh_target, project):
    """SIGTERM as soon as the AMI exists (the module then copies it to a second region): the AMIs, their
    copies, the instance, its key pair and security group are all removed before the process exits."""
    name = "guard-amimaking"
    regions = ("us-east-1", "eu-west-1")
    aws.client("ec2").import_key_pair(KeyName="itest-key", PublicKeyMaterial=ssh_target.public_key.encode())
    project.role("noop", "- name: Nothing\n  ansible.builtin.command: 'true'\n  changed_when: false\n")
    target = {"name": "aws", "type": "ec2", "region": "us-east-1", "copy_to_regions": ["eu-west-1"],
              "source_ami_filter": {"name": "amzn2-ami-hvm-*", "owners": ["amazon"], "most_recent": True},
              "ssh_username": "root", "ssh_host": "127.0.0.1", "ssh_port": ssh_target.port,
              "ssh_keypair_name": "itest-key", "ssh_private_key_file": ssh_target.key, "allowed_cidrs": ["127.0.0.1/32"]}
    proc = start_slow_build(project, name, env=aws.env, role="noop", target=target)
    ec2 = {r: aws.client("ec2", r) for r in regions}
    mine = [{"Name": "tag:immutable.images.image-name", "Values": [name]}]

    def amis(region):
        return ec2[region].describe_images(Owners=["self"], Filters=mine)["Images"]
    try:
        wait_until(lambda: amis("us-east-1") or proc.poll() is not None, 240, "the AMI to be registered")
        os.kill(proc.pid, signal.SIGTERM)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    log = (project.path / "build.log").read_text()
    assert rc != 0, log[-3000:]
    for region in regions:
        assert amis(region) == [], region
        live = [i for r in ec2[region].describe_instances(Filters=mine)["Reservations"] for i in r["Instances"]
                if i["State"]["Name"] not in ("terminated", "shutting-down")]
        assert live == []
        assert [k["KeyName"] for k in ec2[region].describe_key_pairs()["KeyPairs"] if k["KeyName"] != "itest-key"] == []
        assert [g["GroupName"] for g in ec2[region].describe_security_groups()["SecurityGroups"]] == ["default"]
