# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ec2 path parity (issue 14): roles over SSH as a non-root ssh_username, with become (sudo) and become_user
to a service account, and the facts a play gathers - on moto and an sshd stand-in with sudo."""

import subprocess

import pytest

from conftest import run_build, wait_for_sshd

pytestmark = [pytest.mark.docker, pytest.mark.aws, pytest.mark.slow]

SSH_BASE_IMAGE = "immutable-images/debian-python-ssh:bookworm"
# The ssh base image has no sudo: a derived image with it, built once per engine (network host reaches the
# Debian mirror, the only registry reachable here).
SUDO_IMAGE = "roles-ssh-sudo:bookworm"
DOCKERFILE = """FROM %s
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sudo >/dev/null \\
 && rm -rf /var/lib/apt/lists/*
""" % SSH_BASE_IMAGE

ROLE = """
- name: Write a file as root, through sudo
  ansible.builtin.copy:
    dest: /etc/roles-become
    content: "{{ ansible_user_id }} {{ ansible_processor_vcpus }}\\n"
    mode: "0644"
  become: true

- name: Run as the service account
  ansible.builtin.shell: id -un > /home/svc/whoami
  args:
    creates: /home/svc/whoami
  become: true
  become_user: svc
"""


@pytest.fixture
def sudo_target(docker_client, tmp_path):
    try:
        docker_client.images.get(SUDO_IMAGE)
    except Exception:  # noqa: BLE001 - not built on this engine yet
        (tmp_path / "Dockerfile").write_text(DOCKERFILE)
        subprocess.run(["docker", "build", "-q", "--network", "host", "-t", SUDO_IMAGE, str(tmp_path)],
                       check=True, capture_output=True, timeout=600)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    pub = (tmp_path / "id_ed25519.pub").read_text().strip()
    script = ("useradd -m -s /bin/bash builder && useradd -m -s /bin/sh svc"
              " && echo 'builder ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/builder && chmod 440 /etc/sudoers.d/builder"
              " && mkdir -p /run/sshd /home/builder/.ssh && echo '%s' > /home/builder/.ssh/authorized_keys"
              " && chown -R builder: /home/builder/.ssh && chmod 700 /home/builder/.ssh"
              " && ssh-keygen -A && exec /usr/sbin/sshd -D -e" % pub)
    # Created, then started inside the try: a container that fails to start is removed too.
    container = docker_client.containers.create(SUDO_IMAGE, ["-c", script], entrypoint=["/bin/sh"],
                                                ports={"22/tcp": ("127.0.0.1", None)})
    try:
        container.start()
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["22/tcp"][0]["HostPort"])
        wait_for_sshd(port)
        yield container, port, str(key), pub
    finally:
        container.remove(force=True)


def test_non_root_ssh_user_with_become_and_become_user(aws, sudo_target, project):
    container, port, key, pub = sudo_target
    aws.client("ec2").import_key_pair(KeyName="roles-key", PublicKeyMaterial=pub.encode())
    project.role("become", ROLE)
    definition = {  # image_gather_facts: default (a play's facts)
        "image_name": "roles-become", "image_version": "1.0.0", "image_roles": ["become"],
        "image_targets": [{
            "name": "aws", "type": "ec2", "region": "us-east-1",
            "source_ami_filter": {"name": "amzn2-ami-hvm-*", "owners": ["amazon"], "most_recent": True},
            "instance_type": "t3.micro", "ssh_username": "builder", "ssh_host": "127.0.0.1", "ssh_port": port,
            "ssh_keypair_name": "roles-key", "ssh_private_key_file": key, "allowed_cidrs": ["127.0.0.1/32"]}],
    }
    proc = run_build(project.path, definition, env=aws.env)
    assert proc.returncode == 0, proc.output
    made = container.exec_run(["sh", "-c", "cat /etc/roles-become; stat -c %U /etc/roles-become;"
                                           " cat /home/svc/whoami; stat -c %U /home/svc/whoami"]).output.decode()
    lines = made.split()
    assert lines[0] == "root" and int(lines[1]) >= 1 and lines[2] == "root", made
    assert lines[3:] == ["svc", "svc"], made
