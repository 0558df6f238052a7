# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Uploading image_files to / never changes the mode or owner of a directory the builder already has."""

import tarfile

import pytest

from conftest import BASE_IMAGE

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
        # the collection's own client: its execs run on the collection's exec stream (exec_stream.exec_in)
        DockerBuilder(get_client(None)).upload(container.name, str(archive))
        after = container.exec_run(["stat", "-c", "%a %u %g", "/etc", "/srv"]).output
        assert after == before
        assert container.exec_run(["cat", "/etc/trust-upload.conf"]).output == b"x\n"
        # a directory that did not exist gets the mode it has on the controller
        assert container.exec_run(["stat", "-c", "%a", "/srv/app"]).output == b"750\n"
    finally:
        container.remove(force=True)
