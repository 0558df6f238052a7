# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Docker target end to end on a real engine: build, run what was built, push, save, fail, keep."""

import json
import os
import re
import shutil
import time
import urllib.request

import pytest

from conftest import (ROOT, build_containers, controller_files_of, engine_state, new_resources, run_build, sh_in_image,
                      tags_of, wait_until)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

FAILING_ROLE = """
- name: Write a marker
  ansible.builtin.copy:
    content: "before the failure\\n"
    dest: /marker
    mode: "0644"
- name: Fail on purpose
  ansible.builtin.fail:
    msg: boom on purpose
- name: Never reached
  ansible.builtin.command: "true"
  changed_when: false
"""


def http_get(url, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status, resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def example_dir(tmp_path):
    """A copy of examples/webapp, so the test can write its manifest without touching the checkout."""
    dest = tmp_path / "webapp"
    shutil.copytree(os.path.join(ROOT, "examples", "webapp"), dest,
                    ignore=shutil.ignore_patterns("build-manifest.json"))
    return dest


def webapp_tags(client):
    """tag -> labels of the image, for the tags of the README's webapp images and of their cache."""
    return {t: summary.get("Labels") or {} for summary in client.api.images() for t in tags_of(summary)
            if t.split(":")[0] in ("webapp", "immutable-images-cache/webapp")}


def test_example_builds_runs_and_serves(docker_client, example_dir):
    """The example as shipped, under a name of its own: the README's webapp images are the user's."""
    with open(example_dir / "webapp.yml") as f:
        definition = f.read()
    proc = run_build(example_dir, definition, "-e", "image_name=webappbuild", "-e", "image_version=1.0.1",
                     "-e", "image_force=true")
    assert proc.returncode == 0, proc.output
    manifest = json.loads((example_dir / "build-manifest.json").read_text())
    # No webapp tag went to this build (not: the webapp tags are as before; test_docs_runnable may build the
    # README's webapp on the other worker meanwhile)
    assert [t for t, labels in webapp_tags(docker_client).items()
            if labels.get("immutable.images.build-id") == manifest["build_id"]] == []
    assert manifest["status"] == "succeeded"
    target = manifest["targets"][0]
    image = docker_client.images.get(target["artifact"]["image_id"])

    expected_tags = {"webappbuild:1.0.1", "webappbuild:1.0.1-%s" % manifest["build_hash"], "webappbuild:latest"}
    assert expected_tags <= set(image.tags)
    config = image.attrs["Config"]
    assert config["User"] == "appuser"
    assert "PORT=8080" in config["Env"] and "APP_VERSION=1.0.1" in config["Env"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Cmd"] == ["python3", "/app/server.py"]
    assert config["WorkingDir"] == "/app"
    assert not config.get("Entrypoint"), "the builder's keep-alive entrypoint leaked into the image"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == "1.0.1"
    assert labels["org.opencontainers.image.title"] == "webappbuild"
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["immutable.images.build-id"] == manifest["build_id"]
    assert config["Healthcheck"]["Interval"] == 30 * 10**9

    container = docker_client.containers.run(image.id, detach=True, ports={"8080/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])
        status, body = http_get("http://127.0.0.1:%d/api/info" % port)
        assert status == 200
        info = json.loads(body)
        assert info == {"app": "webapp", "greeting": "Hello from an immutable image", "user": "appuser",
                        "version": "1.0.1"}
        status, page = http_get("http://127.0.0.1:%d/" % port)
        assert "Baked by immutable.images" in page
    finally:
        container.remove(force=True)

    assert build_containers(docker_client, manifest["build_id"]) == []
    wait_until(lambda: controller_files_of(manifest["build_id"]) == [], 10, "the build's guard to leave nothing")
    dangling = docker_client.images.list(filters={"dangling": True, "label": "immutable.images.build-id=%s" % manifest["build_id"]})
    assert dangling == []


def test_push_pull_and_save(docker_client, project, docker_definition, registry, remove_images, tmp_path):
    project.role("motd", """
        - name: Write the message of the day
          ansible.builtin.copy:
            content: "pushed and saved\\n"
            dest: /etc/motd
            mode: "0644"
    """)
    remote = "%s/itest/pushsave" % registry
    definition = docker_definition("pushsave", roles=["motd"], push=[remote], save="out/pushsave.tar",
                                   tags=["1.0.0", "stable"])
    (project.path / "out").mkdir()
    remove_images("pushsave")
    remove_images(remote)
    proc = run_build(project.path, definition, "-e", "image_manifest=manifest.json")
    assert proc.returncode == 0, proc.output
    manifest = json.loads((project.path / "manifest.json").read_text())
    artifact = manifest["targets"][0]["artifact"]
    built_id = artifact["image_id"]
    assert set(artifact["digests"]) == {remote + ":1.0.0", remote + ":stable"}
    assert all(d.startswith("sha256:") for d in artifact["digests"].values())

    # The registry really has it: drop every local reference, pull back, same image.
    docker_client.images.remove(built_id, force=True)
    pulled = docker_client.images.pull(remote, tag="1.0.0")
    assert pulled.id == built_id
    assert pulled.attrs["RepoDigests"][0].endswith(artifact["digests"][remote + ":1.0.0"])

    # The saved tar loads back as the same image with its tags.
    docker_client.images.remove(built_id, force=True)
    with open(project.path / "out" / "pushsave.tar", "rb") as f:
        loaded = docker_client.images.load(f.read())
    assert {i.id for i in loaded} == {built_id}
    assert {"pushsave:1.0.0", "pushsave:stable"} <= set(loaded[0].tags)
    assert sh_in_image(docker_client, built_id, "cat /etc/motd") == "pushed and saved\n"


def test_failing_role_leaves_nothing_behind(docker_client, project, docker_definition):
    project.role("works", "- name: Do nothing\n  ansible.builtin.command: 'true'\n  changed_when: false\n")
    project.role("breaks", FAILING_ROLE)
    before = engine_state(docker_client)
    proc = run_build(project.path, docker_definition("failing", roles=["works", "breaks"]))
    assert proc.returncode != 0
    assert "target container: failed at stage provision in task 'Fail on purpose': boom on purpose" in proc.output
    assert "Never reached" not in proc.output
    assert new_resources(docker_client, before, "failing") == {"containers": [], "images": []}, "the failed build left something"
    assert docker_client.images.list(name="failing") == []
    build_id = re.search(r"\(build (\S+)\) failed", proc.output).group(1)
    wait_until(lambda: controller_files_of(build_id) == [], 10, "the build's guard to leave nothing")


def test_failing_role_with_keep_leaves_the_builder(docker_client, project, docker_definition):
    project.role("breaks", FAILING_ROLE)
    definition = dict(docker_definition("keepme", roles=["breaks"]), image_on_error="keep")
    before = engine_state(docker_client)
    proc = run_build(project.path, definition)
    kept = build_containers(docker_client)
    kept = [c for c in kept if c.labels.get("immutable.images.image-name") == "keepme"]
    try:
        assert proc.returncode != 0
        assert len(kept) == 1 and kept[0].status == "running"
        assert "builder kept for debugging: docker exec -it %s /bin/sh" % kept[0].name in proc.output
        # The kept builder is the failed one: the first task ran, the failing one stopped it.
        assert kept[0].exec_run(["cat", "/marker"]).output == b"before the failure\n"
        # Its lease ended with ansible-playbook (builder_lease.py): a kept builder stays all the same.
        time.sleep(3)
        kept[0].reload()
        assert kept[0].status == "running"
        assert new_resources(docker_client, before, "keepme")["images"] == [], "a failed build must not leave images"
    finally:
        for c in kept:
            c.remove(force=True)


def test_files_roles_vars_handlers_and_only(docker_client, project, docker_definition, remove_images):
    """image_files as one archive (tree, contents, single file), role vars templated on the builder,
    handlers run, build_env seen by the roles' tasks, their handlers and the checks but not baked in, and
    image_only builds just the named target."""
    for i in range(50):
        project.file("payload/dir%d/file%d.conf" % (i % 5, i), "value %d\n" % i)
    project.file("dist/app.txt", "app\n")
    project.file("single.conf", "single\n")
    project.role("configure", """
        - name: Write a file from role vars
          ansible.builtin.copy:
            content: "{{ greeting }} {{ build_flavour }}\\n"
            dest: /etc/greeting
            mode: "0644"
          notify: Record the handler

        - name: Record the build environment
          ansible.builtin.shell: echo "task $BUILD_MARK" > /etc/build-mark
          changed_when: true
    """, defaults={"greeting": "default"}, handlers="""
        - name: Record the handler
          ansible.builtin.shell: echo "handled $BUILD_MARK" > /etc/handled
          changed_when: true
    """)
    definition = docker_definition("filesvars", roles=[{"role": "configure", "vars": {
        "greeting": "hello from {{ inventory_hostname }}"}}],
        build_env={"BUILD_SECRET": "not-in-image", "BUILD_MARK": "from-build-env"})
    definition["image_verify"] = [{"name": "The checks see the build_env",
                                   "ansible.builtin.command": "test \"$BUILD_MARK\" = from-build-env"}]
    definition["image_files"] = [{"src": "payload", "dest": "/opt"}, {"src": "dist/", "dest": "/srv/app"},
                                 {"src": "single.conf", "dest": "/etc/app/"}]
    definition["image_targets"][0]["config"] = {"cmd": ["sleep", "1"]}
    definition["image_targets"].append(dict(definition["image_targets"][0], name="other"))
    definition["image_only"] = ["container"]
    remove_images("filesvars")
    proc = run_build(project.path, definition, "-e", "build_flavour=plain")
    assert proc.returncode == 0, proc.output
    assert "filesvars-other" not in proc.output
    # build_image checks no role's argument spec again: image_definition checked the definition and made the plan
    assert "Validating arguments against arg spec" not in proc.output

    def run(cmd):
        return sh_in_image(docker_client, "filesvars:latest", cmd)

    assert run("cat /etc/greeting /etc/handled /etc/build-mark") == (
        "hello from filesvars-container plain\nhandled from-build-env\ntask from-build-env\n")
    assert run("ls /opt/payload | sort | tr '\\n' ' '") == "dir0 dir1 dir2 dir3 dir4 "
    assert run("find /opt/payload -type f | wc -l").strip() == "50"
    assert run("cat /opt/payload/dir3/file13.conf /srv/app/app.txt /etc/app/single.conf") == "value 13\napp\nsingle\n"
    env = docker_client.images.get("filesvars:latest").attrs["Config"]["Env"] or []
    assert not any("BUILD_SECRET" in e or "BUILD_MARK" in e for e in env)
    assert docker_client.images.get("filesvars:latest").attrs["Config"]["Cmd"] == ["sleep", "1"]


def test_a_large_layer_is_committed_however_long_the_engine_takes(docker_client, project, docker_definition,
                                                                  remove_images):
    """A role that writes 2 GB: the commit of its layer takes the engine about ten seconds here, minutes for larger
    layers on slower disks. With the engine calls' answer timeout at 4 s (DOCKER_TIMEOUT), the build waits for the
    commits as `docker commit` does (before: it failed at the cache's store with 'Read timed out', while the engine
    went on committing)."""
    remove_images("largelayer")
    before = engine_state(docker_client)
    project.role("big", """
- name: Write a large file
  ansible.builtin.command: sh -c 'head -c 2000000000 /dev/zero > /big'
  args:
    creates: /big
""")
    proc = run_build(project.path, docker_definition("largelayer", ["big"]), env={"DOCKER_TIMEOUT": "4"})
    assert proc.returncode == 0, proc.output[-3000:]
    assert sh_in_image(docker_client, "largelayer:1.0.0", "stat -c %s /big") == "2000000000\n"
    assert new_resources(docker_client, before, "largelayer")["containers"] == []
