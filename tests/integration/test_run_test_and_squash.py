# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The run test (docker_run_test) and squashed commits (docker_image_commit squash=true) on a real engine,
called through ansible-playbook as the roles call them."""

import json
import os
import subprocess
import threading
import time
import uuid

import pytest
import yaml

from conftest import BASE_IMAGE, LABEL_BUILD_ID, LABEL_IMAGE_NAME, ansible_env, build_containers, sh_in_image, wait_until

docker = pytest.importorskip("docker")

pytestmark = [pytest.mark.docker]

LABEL_KIND = "immutable.images.kind"
CONFIG_KEYS = ("Cmd", "Entrypoint", "User", "WorkingDir", "Env", "ExposedPorts", "Labels", "Volumes", "Healthcheck",
               "StopSignal")


def new_build_id():
    return time.strftime("%Y%m%dT%H%MZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def play(tmp_path, tasks, name="play"):
    """Run tasks on localhost with the playbook's own Python (it has the Docker SDK); return
    (process, {register name: result}) - every task registers `r_<n>` and the results are dumped."""
    tasks = [dict(task, register="r_%d" % i, ignore_errors=True) for i, task in enumerate(tasks)]
    out = tmp_path / ("%s-results.json" % name)
    tasks.append({"name": "Dump the results", "ansible.builtin.copy": {
        "content": "{{ {%s} | to_json }}" % ", ".join("'r_%d': r_%d" % (i, i) for i in range(len(tasks))),
        "dest": str(out), "mode": "0600"}})
    playbook = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
                 "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}, "tasks": tasks}]
    path = tmp_path / ("%s.yml" % name)
    path.write_text(yaml.safe_dump(playbook, sort_keys=False))
    remote_tmp = tmp_path / "remote-tmp"
    remote_tmp.mkdir(exist_ok=True)
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", str(path)], cwd=str(tmp_path),
                          env=ansible_env({"ANSIBLE_REMOTE_TMP": str(remote_tmp)}), capture_output=True, text=True,
                          timeout=600, check=False)
    proc.output = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.output[-4000:]
    results = json.loads(out.read_text())
    return proc, [results["r_%d" % i] for i in range(len(tasks) - 1)]


def commit_candidate(client, labels, cmd, script=None, **conf):
    """An untagged image from the base image: `script` run in a builder-like container, then committed
    with `cmd` as its command (the way a build makes its candidate)."""
    builder = client.containers.run(BASE_IMAGE, entrypoint=["/bin/sh"], detach=True, tty=True, stdin_open=True,
                                    labels=labels)
    try:
        if script:
            result = builder.exec_run(["sh", "-c", script])
            assert result.exit_code == 0, result.output
        conf = dict({"Cmd": cmd, "Entrypoint": [], "Labels": labels}, **conf)
        return client.api.commit(builder.id, conf=conf)["Id"]
    finally:
        builder.remove(force=True)


@pytest.fixture
def run_test_images(docker_client):
    """Two untagged candidates of one build: one serves a known page over HTTP as nobody, one exits at once."""
    build_id = new_build_id()
    token = uuid.uuid4().hex[:8]
    labels = {LABEL_BUILD_ID: build_id, LABEL_IMAGE_NAME: "itest-runtest-" + token, "immutable.images.target": "c",
              LABEL_KIND: "artifact"}
    body = "hello from the immutable run test %s" % token
    serving = commit_candidate(
        docker_client, labels, ["python3", "-m", "http.server", "8080", "--directory", "/srv/www"],
        script="mkdir -p /srv/www && echo '%s' > /srv/www/index.html" % body,
        User="nobody", ExposedPorts={"8080/tcp": {}})
    exiting = commit_candidate(docker_client, labels, ["sh", "-c", "echo 'cannot start: /etc/app.conf is missing' >&2;"
                                                                   " false"])

    class Images:
        pass
    images = Images()
    images.build_id, images.body, images.serving, images.exiting = build_id, body, serving, exiting
    images.name = labels[LABEL_IMAGE_NAME]
    yield images
    for c in build_containers(docker_client, build_id):
        c.remove(force=True)
    for image in (serving, exiting):
        try:
            docker_client.images.remove(image, force=True)
        except docker.errors.ImageNotFound:
            pass


def test_run_test_passes_fails_and_never_leaves_a_container(docker_client, run_test_images, tmp_path):
    images = run_test_images
    common = {"build_id": images.build_id}
    start = time.monotonic()
    _proc, (check, passing, mismatch, exiting) = play(tmp_path, [
        {"name": "Check mode does nothing", "check_mode": True,
         "immutable.images.docker_run_test": dict(common, image=images.serving, port=8080)},
        # the words of a run entry of image_verify: {run: {port: ..., http: {...}, command: {...}}}
        {"name": "Run test that passes", "immutable.images.docker_run_test": dict(
            common, image=images.serving, port=8080, timeout=60,
            http={"path": "/", "status": 200, "body_contains": images.body},
            command={"cmd": ["id", "-un"], "stdout_contains": "nobody"})},
        {"name": "Run test with the wrong body", "immutable.images.docker_run_test": dict(
            common, image=images.serving, port=8080, timeout=5, http={"body_contains": "something else"})},
        {"name": "Run test of an image that exits", "immutable.images.docker_run_test": dict(
            common, image=images.exiting, port=8080, timeout=60, http={})},
    ])
    took = time.monotonic() - start

    assert check.get("failed") is not True and check["changed"] is False
    assert not check.get("passed")

    assert passing.get("failed") is not True, passing
    assert passing["changed"] is False
    assert passing["passed"][0] == "started"
    assert passing["passed"][1].startswith("port 8080/tcp open (127.0.0.1:")
    assert passing["passed"][2] == "http GET /: status 200, body contains %r" % images.body
    assert passing["passed"][3] == "command ['id', '-un']: rc 0, stdout contains 'nobody'"  # USER of the image
    assert passing["image_id"] == images.serving
    assert passing["container"].startswith("immutable-itest-runtest-")

    assert mismatch["failed"] is True and mismatch["stage"] == "verify" and mismatch["failed_check"] == "http"
    assert "expected the body to contain 'something else', got %r" % (images.body + "\n") in mismatch["msg"]
    assert any('"GET / HTTP/1.1" 200' in line for line in mismatch["logs"])  # the server's own log

    assert exiting["failed"] is True and exiting["stage"] == "verify" and exiting["failed_check"] == "exited"
    assert exiting["exit_code"] == 1
    assert "the container exited with code 1" in exiting["msg"]
    assert "cannot start: /etc/app.conf is missing" in exiting["msg"]
    assert exiting["logs"] == ["cannot start: /etc/app.conf is missing"]
    # the exit failed the test at once, not at its 60 s deadline
    assert took < 50, "the playbook took %.0fs" % took

    # every test container was removed, whatever the outcome
    assert build_containers(docker_client, images.build_id) == []
    assert docker_client.containers.list(all=True, filters={"ancestor": images.serving}) == []
    assert docker_client.containers.list(all=True, filters={"ancestor": images.exiting}) == []


def test_the_janitor_leaves_a_run_test_that_still_runs(docker_client, run_test_images, tmp_path):
    """A janitor run (any age, limited to this image name) while a run test waits: the test container is a live
    build's (its lease: the test's timeout), so the run test passes and then removes it. Before, the janitor removed
    it mid-test, as a nightly janitor would during a long verify."""
    images, outcome = run_test_images, {}
    go = ["test", "-f", "/tmp/go"]

    def run_test():
        outcome["result"] = play(tmp_path, [{"name": "Run test that waits for a file", "immutable.images.docker_run_test": {
            "build_id": images.build_id, "image": images.serving, "timeout": 120, "wait_for_command": go}}], name="waits")[1][0]
    worker = threading.Thread(target=run_test)
    worker.start()
    try:
        wait_until(lambda: [c for c in build_containers(docker_client, images.build_id) if c.status == "running"], 60,
                   "the run test's container")
        container = build_containers(docker_client, images.build_id)[0]
        assert container.labels[LABEL_IMAGE_NAME] == images.name  # the janitor's scope below includes it
        janitor = subprocess.run(["ansible-playbook", "immutable.images.cleanup", "-e", json.dumps(
            {"cleanup_max_age": "0s", "cleanup_image_names": [images.name]})], cwd=str(tmp_path), env=ansible_env(),
            capture_output=True, text=True, timeout=300, check=False)
        assert janitor.returncode == 0, janitor.stdout + janitor.stderr
        assert [c.id for c in build_containers(docker_client, images.build_id)] == [container.id], janitor.stdout
    finally:
        for c in build_containers(docker_client, images.build_id):
            c.exec_run(["touch", "/tmp/go"], user="root")  # the run test passes now (or ends at once)
        worker.join(180)
    result = outcome["result"]
    assert result.get("failed") is not True, result
    assert result["passed"] == ["started", "wait_for_command %s succeeded" % go]
    assert build_containers(docker_client, images.build_id) == []


@pytest.fixture
def squash_builder(docker_client):
    """A builder (as docker_builder starts one) on a two-layer base, with files written in two steps,
    one of them removing a file of the base."""
    build_id = new_build_id()
    repo = "itest-squash-" + uuid.uuid4().hex[:8]
    labels = {LABEL_BUILD_ID: build_id, LABEL_IMAGE_NAME: repo, "immutable.images.target": "c", LABEL_KIND: "builder"}
    # the two-layer base carries no build id: it is not an image of this build
    base = commit_candidate(docker_client, {"itest.squash-base": repo}, None,
                            script="echo base-layer > /base-layer.txt && echo doomed > /removed-later.txt",
                            Env=["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"])
    builder = docker_client.containers.run(base, name="immutable-%s-c-%s" % (repo, build_id), entrypoint=["/bin/sh"],
                                           detach=True, tty=True, stdin_open=True, labels=labels)
    for step in ("mkdir -p /app && echo one > /app/one.txt",
                 "echo two > /app/two.txt && rm /removed-later.txt && chmod 0751 /app"):
        result = builder.exec_run(["sh", "-c", step])
        assert result.exit_code == 0, result.output

    class Builder:
        pass
    b = Builder()
    b.build_id, b.repo, b.base, b.container = build_id, repo, base, builder
    yield b
    builder.remove(force=True)
    for image in docker_client.images.list(name=repo) + docker_client.images.list(
            filters={"dangling": True, "label": "%s=%s" % (LABEL_BUILD_ID, build_id)}):
        try:
            docker_client.images.remove(image.id, force=True)
        except docker.errors.ImageNotFound:
            pass
    try:
        docker_client.images.remove(base, force=True)
    except docker.errors.APIError:
        pass


def test_squashed_commit_has_one_layer_and_the_config_of_a_normal_commit(docker_client, squash_builder, tmp_path):
    b = squash_builder
    options = {
        "container": b.container.name,
        "config": {"user": "nobody", "workdir": "/app", "env": {"GREETING": "hi", "LANG": "en_US.UTF-8"},
                   "cmd": ["sh", "-c", "cat /app/one.txt /app/two.txt /base-layer.txt;"
                                       " test -e /removed-later.txt || echo removed-is-gone; echo \"$GREETING\"; id -un"],
                   "expose": ["8080/tcp"], "labels": {"team": "itest"}, "stop_signal": "SIGINT",
                   "healthcheck": {"test": ["CMD", "true"], "interval": 30 * 10 ** 9, "retries": 3}},
        "labels": {LABEL_BUILD_ID: b.build_id, LABEL_KIND: "artifact", LABEL_IMAGE_NAME: b.repo},
    }
    _proc, (plain, squashed) = play(tmp_path, [
        {"name": "Normal commit", "immutable.images.docker_image_commit": dict(options, tags=[b.repo + ":plain"])},
        {"name": "Squashed commit", "immutable.images.docker_image_commit": dict(
            options, tags=[b.repo + ":squashed", b.repo + ":latest"], squash=True, message="squashed by itest")},
    ])
    assert plain.get("failed") is not True, plain
    assert squashed.get("failed") is not True, squashed
    assert squashed["changed"] is True and squashed["squashed"] is True and plain["squashed"] is False
    assert squashed["tags"] == [b.repo + ":squashed", b.repo + ":latest"]
    assert squashed["previous"] == {b.repo + ":squashed": None, b.repo + ":latest": None}

    plain_image = docker_client.images.get(b.repo + ":plain")
    squashed_image = docker_client.images.get(b.repo + ":squashed")
    assert squashed_image.id == squashed["image_id"] == docker_client.images.get(b.repo + ":latest").id
    assert len(plain_image.attrs["RootFS"]["Layers"]) == 3  # base image, the two-layer base's, the build's
    assert len(squashed_image.attrs["RootFS"]["Layers"]) == 1
    assert squashed_image.attrs["Parent"] == ""
    # the build's own comment first (what tells our images from images built FROM them), then the message
    assert squashed_image.attrs["Comment"].split("\n") == [plain_image.attrs["Comment"].split("\n")[0], "squashed by itest"]
    assert plain_image.attrs["Comment"].startswith("made by immutable.images build ")
    for key in CONFIG_KEYS:
        assert squashed_image.attrs["Config"].get(key) == plain_image.attrs["Config"].get(key), key
    assert squashed_image.attrs["Config"] == plain_image.attrs["Config"]  # every other field too
    assert squashed_image.attrs["Config"]["Labels"][LABEL_KIND] == "artifact"  # not the builder's
    assert squashed_image.attrs["Config"]["Entrypoint"] == []  # not the builder's keep-alive
    assert squashed_image.attrs["Architecture"] == plain_image.attrs["Architecture"]
    assert squashed_image.attrs["Os"] == plain_image.attrs["Os"]

    # The files of both steps and of the base are there, the removed one is not; the CMD runs as nobody.
    container = docker_client.containers.run(squashed_image.id, detach=True, labels={LABEL_BUILD_ID: b.build_id})
    try:
        assert container.wait(timeout=60)["StatusCode"] == 0
        for _attempt in range(20):
            output = container.logs().decode()
            if output:
                break
            time.sleep(0.1)
    finally:
        container.remove(force=True)
    assert output.split() == ["one", "two", "base-layer", "removed-is-gone", "hi", "nobody"]
    listing = sh_in_image(docker_client, squashed_image.id, "stat -c '%a %U %n' /app /app/one.txt /app/two.txt")
    assert listing.splitlines() == ["751 root /app", "644 root /app/one.txt", "644 root /app/two.txt"]

    # Nothing dangling of this build, and the temporary export is gone.
    assert docker_client.images.list(filters={"dangling": True, "label": "%s=%s" % (LABEL_BUILD_ID, b.build_id)}) == []
    leftovers = [os.path.join(d, f) for d, _dirs, files in os.walk(tmp_path / "remote-tmp") for f in files]
    assert leftovers == []

    # Undone as any commit (a later stage failed): the squashed image and its tags go, the rest stays.
    _proc, (undo,) = play(tmp_path, [
        {"name": "Undo the squashed commit", "immutable.images.docker_image_commit": {
            "state": "absent", "image_id": squashed["image_id"], "previous": squashed["previous"]}},
    ], name="undo")
    assert undo["changed"] is True
    assert sorted(t for i in docker_client.images.list(name=b.repo) for t in i.tags) == [b.repo + ":plain"]
    assert docker_client.images.list(filters={"dangling": True, "label": "%s=%s" % (LABEL_BUILD_ID, b.build_id)}) == []


def test_squash_with_a_refused_tag_leaves_no_image(docker_client, squash_builder, tmp_path):
    """The engine refuses a malformed tag after the squashed image was loaded: no image may stay."""
    b = squash_builder
    _proc, (bad_tag,) = play(tmp_path, [
        {"name": "Squash with a tag the engine refuses", "immutable.images.docker_image_commit": {
            "container": b.container.name, "config": {"cmd": ["true"]}, "squash": True,
            "tags": [b.repo + ":ok", b.repo + ":Not_A_Valid+Tag"],
            "labels": {LABEL_BUILD_ID: b.build_id, LABEL_KIND: "artifact", LABEL_IMAGE_NAME: b.repo}}},
    ])
    assert bad_tag["failed"] is True and bad_tag["stage"] == "tag", bad_tag
    assert "invalid reference format" in bad_tag["msg"]
    assert docker_client.images.list(name=b.repo) == []
    assert docker_client.images.list(filters={"dangling": True, "label": "%s=%s" % (LABEL_BUILD_ID, b.build_id)}) == []
