# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An ec2 builder's roles run once its first boot is over: sshd answers while cloud-init still runs (package upgrades
holding the package manager's lock, the AMI's setup, user_data).

The sshd stand-in gets a `cloud-init` of the test's: its `status --wait` takes two seconds, then records that the
boot is over and exits with the status the test chose (cloud-init's own: 0 done, 1 failed, 2 recoverable errors).
"""

import io
import os
import subprocess
import tarfile

import pytest

from conftest import ROOT, run_build
from test_ec2_build import ec2_target, import_key

pytestmark = [pytest.mark.docker, pytest.mark.aws, pytest.mark.slow]

FIRST_BOOT = os.path.join(ROOT, "roles", "launch", "files", "ec2_first_boot.sh")
FAKE_CLOUD_INIT = r"""#!/bin/sh
case "$1 $2" in
    "status --help") exit 0 ;;
    "status --wait") sleep "$(cat /etc/fake-cloud-init-seconds 2>/dev/null || echo 2)"; touch /run/first-boot-over
                     exit "$(cat /etc/fake-cloud-init-status)" ;;
    "status --long") echo "status: error"; echo "errors:"; echo "	- (scripts_user) Failed to run module scripts-user" ;;
esac
exit 0
"""
ROLE = """
- name: Record whether the first boot was over when the roles began
  ansible.builtin.shell: if test -e /run/first-boot-over; then echo over; else echo booting; fi > /root/first-boot
"""


def fake_cloud_init(ssh_target, status, seconds=2):
    """The test's cloud-init in the stand-in: `status --wait` takes `seconds`, then exits with `status`."""
    files = {"usr/local/bin/cloud-init": (FAKE_CLOUD_INIT, 0o755), "etc/fake-cloud-init-status": ("%d\n" % status, 0o644),
             "etc/fake-cloud-init-seconds": ("%d\n" % seconds, 0o644)}
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, (text, mode) in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    assert ssh_target.container.put_archive("/", archive.getvalue())
    assert ssh_target.container.exec_run(["rm", "-f", "/run/first-boot-over"]).exit_code == 0


def first_boot(ssh_target, timeout):
    """The launch role's script, run over SSH as the role runs it."""
    ssh = ["ssh", "-i", ssh_target.key, "-p", str(ssh_target.port), "-o", "StrictHostKeyChecking=no",
           "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
           "-o", "LogLevel=ERROR", "root@127.0.0.1", "sh", "-s", str(timeout)]
    with open(FIRST_BOOT, "rb") as script:
        return subprocess.run(ssh, stdin=script, capture_output=True, text=True, timeout=60, check=False)


def test_the_first_boot_script_on_each_cloud_init_status(ssh_target):
    done = first_boot(ssh_target, 30)
    assert (done.returncode, done.stdout.strip()) == (0, "no cloud-init: booted"), done
    fake_cloud_init(ssh_target, 2)  # done, with recoverable errors (deprecated keys in Ubuntu 24.04's configuration)
    done = first_boot(ssh_target, 30)
    assert done.returncode == 0 and "recoverable errors" in done.stdout, done
    fake_cloud_init(ssh_target, 0, seconds=5)
    done = first_boot(ssh_target, 1)
    assert done.returncode == 3 and "cloud-init still running after 1s (ssh_timeout)" in done.stdout, done


@pytest.mark.parametrize("status", [0, 1])
def test_roles_begin_once_the_first_boot_is_over(aws, ssh_target, project, status):
    import_key(aws, ssh_target)
    project.role("boot", ROLE)
    fake_cloud_init(ssh_target, status)
    definition = {"image_name": "amiboot", "image_version": "1.0.0", "image_gather_facts": False,
                  "image_roles": ["boot"], "image_manifest": "manifest.json",
                  "image_targets": [ec2_target(ssh_target)]}
    proc = run_build(project.path, definition, env=aws.env)
    if status == 0:
        assert proc.returncode == 0, proc.output
        assert ssh_target.container.exec_run(["cat", "/root/first-boot"]).output == b"over\n"
        return
    assert proc.returncode != 0, proc.output
    said = ("target aws: failed at stage launch: non-zero return code: cloud-init failed on the builder's first boot: "
            "status: error | errors: - (scripts_user) Failed to run module scripts-user")
    assert said in proc.output, proc.output
    assert ssh_target.container.exec_run(["cat", "/root/first-boot"]).exit_code != 0, "no role may have run"
    ec2 = aws.client("ec2")
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert instances and {i["State"]["Name"] for i in instances} == {"terminated"}
    assert {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]} == {"itest-key"}
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == ["default"]
    assert ec2.describe_images(Owners=["self"])["Images"] == []
