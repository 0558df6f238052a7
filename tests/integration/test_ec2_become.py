# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ec2 path parity (issue 14): roles over SSH as a non-root ssh_username, with become (sudo) and become_user
to a service account, and the facts a play gathers - on moto and an sshd stand-in with sudo. The modules that run
as root run in the builder's warm interpreter, and see what they would see without it."""

import json
import re
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


def ensure_sudo_image(docker_client, tmp_path):
    """SUDO_IMAGE on the engine (built there if not yet); also for test_role_corpus.py's corpus over SSH."""
    try:
        docker_client.images.get(SUDO_IMAGE)
    except Exception:  # noqa: BLE001 - not built on this engine yet
        (tmp_path / "Dockerfile").write_text(DOCKERFILE)
        subprocess.run(["docker", "build", "-q", "--network", "host", "-t", SUDO_IMAGE, str(tmp_path)],
                       check=True, capture_output=True, timeout=600)
    return SUDO_IMAGE


# A user `builder` with sudo without a password, as on the usual cloud images (PUBKEY: its authorized key).
SUDO_USER_SCRIPT = ("useradd -m -s /bin/bash builder && useradd -m -s /bin/sh svc"
                    " && echo 'builder ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/builder && chmod 440 /etc/sudoers.d/builder"
                    " && mkdir -p /run/sshd /home/builder/.ssh && echo '%s' > /home/builder/.ssh/authorized_keys"
                    " && chown -R builder: /home/builder/.ssh && chmod 700 /home/builder/.ssh && ssh-keygen -A")


@pytest.fixture
def sudo_target(docker_client, tmp_path):
    ensure_sudo_image(docker_client, tmp_path)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    pub = (tmp_path / "id_ed25519.pub").read_text().strip()
    script = SUDO_USER_SCRIPT % pub + " && exec /usr/sbin/sshd -D -e"
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


def ec2_definition(name, roles, port, key, **target):
    return {  # image_gather_facts: default (a play's facts)
        "image_name": name, "image_version": "1.0.0", "image_roles": roles,
        "image_targets": [dict({
            "name": "aws", "type": "ec2", "region": "us-east-1",
            "source_ami_filter": {"name": "amzn2-ami-hvm-*", "owners": ["amazon"], "most_recent": True},
            "instance_type": "t3.micro", "ssh_username": "builder", "ssh_host": "127.0.0.1", "ssh_port": port,
            "ssh_keypair_name": "roles-key", "ssh_private_key_file": key, "allowed_cidrs": ["127.0.0.1/32"]}, **target)],
    }


def test_non_root_ssh_user_with_become_and_become_user(aws, sudo_target, project):
    container, port, key, pub = sudo_target
    aws.client("ec2").import_key_pair(KeyName="roles-key", PublicKeyMaterial=pub.encode())
    project.role("become", ROLE)
    proc = run_build(project.path, ec2_definition("roles-become", ["become"], port, key), env=aws.env)
    assert proc.returncode == 0, proc.output
    made = container.exec_run(["sh", "-c", "cat /etc/roles-become; stat -c %U /etc/roles-become;"
                                           " cat /home/svc/whoami; stat -c %U /home/svc/whoami"]).output.decode()
    lines = made.split()
    assert lines[0] == "root" and int(lines[1]) >= 1 and lines[2] == "root", made
    assert lines[3:] == ["svc", "svc"], made


SEEN_ROLE = """
- name: Record the parent of a module running as root
  ansible.builtin.shell: tr '\\0' ' ' < /proc/$PPID/cmdline > /root/parent-{{ seen__run }}
  become: true

- name: Record the facts of its environment
  ansible.builtin.copy:
    content: "{{ ansible_env | to_json }}"
    dest: /root/env-{{ seen__run }}.json
    mode: "0600"
  become: true
"""


def test_modules_run_as_root_in_the_warm_interpreter_and_see_what_they_see_without_it(aws, sudo_target, project):
    # The same role twice on one stand-in: first where the warm interpreter cannot be installed (a file where its
    # directory goes: the build warns and runs modules the usual way), then with it.
    container, port, key, pub = sudo_target
    aws.client("ec2").import_key_pair(KeyName="roles-key", PublicKeyMaterial=pub.encode())
    project.role("seen", SEEN_ROLE)
    container.exec_run(["touch", "/dev/shm/immutable-images-warm"])
    cold = run_build(project.path, dict(ec2_definition("seen-cold", [{"role": "seen", "vars": {"seen__run": "cold"}}],
                                                       port, key, scrub=False)), env=aws.env)
    assert cold.returncode == 0, cold.output[-4000:]
    assert re.search(r"no warm interpreter on the builder \(cannot install it in /dev/shm: .*\); each module starts",
                     cold.output.replace("\n", " ")), cold.output[-4000:]
    container.exec_run(["rm", "/dev/shm/immutable-images-warm"])
    warm = run_build(project.path, ec2_definition("seen-warm", [{"role": "seen", "vars": {"seen__run": "warm"}}],
                                                  port, key), env=aws.env)
    assert warm.returncode == 0, warm.output[-4000:]
    assert "no warm interpreter" not in warm.output

    def seen(run):
        parent = container.exec_run(["cat", "/root/parent-%s" % run]).output.decode()
        env = json.loads(container.exec_run(["cat", "/root/env-%s.json" % run]).output)
        for volatile in ("SSH_CLIENT", "SSH_CONNECTION"):  # the client's port
            env.pop(volatile, None)
        env["SUDO_COMMAND"] = re.sub(r"BECOME-SUCCESS-[a-z]+", "BECOME-SUCCESS-x", env["SUDO_COMMAND"])
        return parent, env
    (cold_parent, cold_env), (warm_parent, warm_env) = seen("cold"), seen("warm")
    assert "immutable-images-warm/server.py" in warm_parent and "immutable-images-warm" not in cold_parent, \
        (warm_parent, cold_parent)
    assert warm_env == cold_env and cold_env["USER"] == "root"
