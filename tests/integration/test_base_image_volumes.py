# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A base image that declares a VOLUME (as the images of databases, CI servers and CMSs do): what a role writes there
is in the builder's volume, which no commit keeps. The build says so, naming what the image lacks, and only that."""

from __future__ import annotations

import re

import pytest

from conftest import BASE_IMAGE, run_build, sh_in_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROLE = """
- name: Write into the volume
  ansible.builtin.copy:
    dest: /data/site/config.ini
    content: "written by the role\\n"
    mode: "0644"
- name: Write elsewhere
  ansible.builtin.copy:
    dest: /srv/config.ini
    content: "written by the role\\n"
    mode: "0644"
"""


@pytest.fixture
def base_with_volume(docker_client):
    container = docker_client.containers.run(BASE_IMAGE, ["-c", "mkdir -p /data/site && echo base > /data/base.txt"],
                                             entrypoint=["/bin/sh"], detach=True)
    container.wait()
    image = container.commit("immutable-test-volume-base", "1", changes=["VOLUME /data"])
    container.remove()
    yield "immutable-test-volume-base:1"
    docker_client.images.remove(image.id, force=True)


def anonymous_volumes(client):
    return {v.name for v in client.volumes.list() if re.fullmatch(r"[0-9a-f]{64}", v.name)}


def test_what_a_role_writes_under_a_volume_of_the_base_image_is_named_as_missing_from_the_image(
        base_with_volume, docker_client, project, docker_definition, remove_images):  # the base removed last
    """Every container of such an image gets a volume of its own, which the engine keeps when the container is removed
    unless asked to remove it too: none stays (before, the build's short-lived containers of such an image - the
    plan's look for Python in the base image, a layer's pin, the artifact's claim, the commit's container of the last
    layer - left theirs, with a copy of the image's files: one to two per build here)."""
    project.role("writer", ROLE)
    remove_images("volumes")
    before = anonymous_volumes(docker_client)  # only this module's images declare a VOLUME
    proc = run_build(project.path, docker_definition("volumes", ["writer"], base_image=base_with_volume))
    assert proc.returncode == 0, proc.output[-3000:]
    warning = [line for line in proc.output.splitlines() if "declares as VOLUME" in line]
    assert len(warning) == 1, proc.output[-3000:]
    # what the role changed, not what the volume got from the image at the start
    assert "changed files under /data, " in warning[0] and "lacks these changes: /data/site/config.ini. " in warning[0]
    out = sh_in_image(docker_client, "volumes:1.0.0", "ls /data /data/site /srv")
    assert out.split() == ["/data:", "base.txt", "site", "/data/site:", "/srv:", "config.ini"], out
    assert anonymous_volumes(docker_client) - before == set()
