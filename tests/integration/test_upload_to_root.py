# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Uploading image_files to / never changes the mode or owner of a directory the builder already has, and never puts
a directory in place of a link to one (`/lib` on a merged-/usr system)."""

import subprocess
import tarfile

import pytest

from conftest import BASE_IMAGE, ansible_env

from ansible_collections.immutable.images.plugins.module_utils._docker.builder import DockerBuilder
from ansible_collections.immutable.images.plugins.module_utils._docker.client import get_client

pytestmark = [pytest.mark.docker]


def test_existing_directories_keep_mode_and_owner(docker_client, tmp_path):
    src = tmp_path / "files"
    (src / "etc").mkdir(parents=True)
    (src / "etc" / "trust-upload.conf").write_text("x\n")
    (src / "srv" / "app").mkdir(parents=True)
    (src / "etc").chmod(0o700)
    (src / "srv" / "app").chmod(0o750)
    archive = tmp_path / "files.tar"
    from ansible_collections.immutable.images.plugins.module_utils._common.inputs import write_files_archive
    write_files_archive([{"src": "files/", "dest": "/"}], str(archive), str(tmp_path))
    assert "etc" in tarfile.open(archive).getnames()  # the controller's 0700 /etc is in the archive

    container = docker_client.containers.run(BASE_IMAGE, ["sleep", "120"], detach=True, name="trust-upload-root")
    try:
        before = container.exec_run(["stat", "-c", "%a %u %g", "/etc", "/srv"]).output
        # the collection's own client, as a build uses it (the directories it has: the engine's stat of its archive API)
        DockerBuilder(get_client(None)).upload(container.name, str(archive))
        after = container.exec_run(["stat", "-c", "%a %u %g", "/etc", "/srv"]).output
        assert after == before
        assert container.exec_run(["cat", "/etc/trust-upload.conf"]).output == b"x\n"
        # a directory that did not exist gets the mode it has on the controller
        assert container.exec_run(["stat", "-c", "%a", "/srv/app"]).output == b"750\n"
    finally:
        container.remove(force=True)


def overlay_archive(tmp_path):
    """A root overlay as Debian packages lay files out: a unit in lib/systemd/system, a program in bin/."""
    from ansible_collections.immutable.images.plugins.module_utils._common.inputs import write_files_archive
    src = tmp_path / "files"
    (src / "lib" / "systemd" / "system").mkdir(parents=True)
    (src / "lib" / "systemd" / "system" / "overlay-app.service").write_text("[Unit]\n")
    (src / "bin").mkdir()
    (src / "bin" / "overlay-hello").write_text("#!/bin/sh\necho hello\n")
    (src / "bin" / "overlay-hello").chmod(0o755)
    archive = tmp_path / "overlay.tar"
    write_files_archive([{"src": "files/", "dest": "/"}], str(archive), str(tmp_path))
    assert {"lib", "bin"} <= set(tarfile.open(archive).getnames())
    return archive


# What `cp -r files/. /` or Ansible's copy module would leave: the links stay, the files are reached through them.
LINKS_KEPT = "readlink /lib /bin; cat /usr/lib/systemd/system/overlay-app.service; /usr/bin/overlay-hello"


def test_a_link_to_a_directory_stays_a_link(docker_client, tmp_path):
    archive = overlay_archive(tmp_path)
    container = docker_client.containers.run(BASE_IMAGE, ["sleep", "120"], detach=True, name="trust-upload-links")
    try:
        DockerBuilder(get_client(None)).upload(container.name, str(archive))
        # before: /lib and /bin became directories holding only the overlay, and no program could start
        assert container.exec_run(["sh", "-c", LINKS_KEPT]).output == b"usr/lib\nusr/bin\n[Unit]\nhello\n"
    finally:
        container.remove(force=True)


def test_a_link_to_a_directory_stays_a_link_over_ssh(ssh_target, tmp_path):
    archive = overlay_archive(tmp_path)
    (tmp_path / "upload.yml").write_text("""
- hosts: instance
  gather_facts: false
  vars:
    image_target: {type: ec2}
  tasks:
    - immutable.images.builder_files:
        src: %s
""" % archive)
    (tmp_path / "hosts.ini").write_text(
        "instance ansible_host=127.0.0.1 ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s"
        " ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"
        % (ssh_target.port, ssh_target.key))
    proc = subprocess.run(["ansible-playbook", "-i", "hosts.ini", "upload.yml"], cwd=str(tmp_path), env=ansible_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # before: tar put directories in place of the links, and no program could start
    assert ssh_target.container.exec_run(["sh", "-c", LINKS_KEPT]).output == b"usr/lib\nusr/bin\n[Unit]\nhello\n"
