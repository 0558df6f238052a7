# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for builds on a real Docker engine: projects, playbook runs, a local registry, leak checks.

Run scripts/setup-env first (the README's test command does): it starts an engine when none
answers and makes the base images, which cannot be pulled here.
"""

import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import textwrap
import time
from urllib.parse import parse_qs

import pytest
import yaml

docker = pytest.importorskip("docker")

# Fixtures of the second engine (mutual TLS, ssh) and of the newer engine with the containerd image store.
from engines import containerd_store_engine, ssh_engine, tls_engine  # noqa: E402,F401 pylint: disable=unused-import

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE_IMAGE = os.environ.get("IMMUTABLE_BASE_IMAGE", "immutable-images/debian-python:bookworm")
LABEL_BUILD_ID = "immutable.images.build-id"
LABEL_IMAGE_NAME = "immutable.images.image-name"


# The tests of one file run on one worker, one file after another: a file's tests share image names and projects.
# The tests that may use the second engine (engines.py) run on one worker too, so that one engine serves them all:
# every test of these files (test_job_container.py: its kill-remote case asks for the engine at run time).
SECOND_ENGINE_FILES = ("test_engine_pool.py", "test_job_container.py", "test_remote_engine.py")
SECOND_ENGINE = "second-engine"
# Started first, so that neither worker ends the run with a long file alone: the role corpus takes about 7 min.
STARTED_FIRST = ("test_role_corpus.py", SECOND_ENGINE)


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
    """A test that uses the second engine outside SECOND_ENGINE_FILES would start another one on its worker: refused."""
    strays = sorted({item.path.name for item in items if item.path.name not in SECOND_ENGINE_FILES
                     and set(getattr(item, "fixturenames", ())) & {"tls_engine", "ssh_engine"}})
    if strays:
        raise pytest.UsageError("%s use the second engine: add them to SECOND_ENGINE_FILES in %s"
                                % (", ".join(strays), __file__))


def _work_unit(nodeid):
    path = nodeid.split("::", 1)[0]
    return SECOND_ENGINE if os.path.basename(path) in SECOND_ENGINE_FILES else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """scripts/test runs this suite on two pytest-xdist workers with `--dist loadgroup`: the work units are files, and
    SECOND_ENGINE_FILES together, as _work_unit says. xdist's own loadgroup reads groups from test ids, which pytest
    9.2 no longer lets it change (pytest-xdist#1386): its groups were ignored, and a file's tests ran on both workers
    at once (one test's teardown removed the other's builder, both workers started a second engine on one bridge)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # pylint: disable=import-outside-toplevel

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return _work_unit(nodeid)

        def _assign_work_unit(self, node):
            for name in reversed(STARTED_FIRST):
                for unit in [u for u in self.workqueue if os.path.basename(u) == name]:
                    self.workqueue.move_to_end(unit, last=False)
            super()._assign_work_unit(node)

    return ByFile(config, log)


@pytest.fixture(scope="session")
def docker_client():
    client = docker.from_env(version="auto")
    try:
        client.ping()
    except Exception as e:  # noqa: BLE001 - any failure means the same thing here
        pytest.fail("no Docker engine answers (%s): run scripts/setup-env" % e)
    client.images.get(BASE_IMAGE)  # made by scripts/setup-env
    return client


class Project:
    """A user's project directory: roles/, files, and a definition, as a user would lay it out."""

    def __init__(self, path):
        self.path = path
        (path / "roles").mkdir()

    def role(self, name, tasks, defaults=None, handlers=None):
        base = self.path / "roles" / name
        (base / "tasks").mkdir(parents=True)
        (base / "tasks" / "main.yml").write_text(textwrap.dedent(tasks))
        if defaults:
            (base / "defaults").mkdir()
            (base / "defaults" / "main.yml").write_text(yaml.safe_dump(defaults))
        if handlers:
            (base / "handlers").mkdir()
            (base / "handlers" / "main.yml").write_text(textwrap.dedent(handlers))
        return base

    def file(self, relpath, content):
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        return target


def ansible_env(extra=None):
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, ".deps", "collections"))
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_DEPRECATION_WARNINGS="0",
               ANSIBLE_RETRY_FILES_ENABLED="0", PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


def recap(output, host):
    """The PLAY RECAP counts of one host ({"ok": 7, "changed": 0, ...}) in ansible-playbook's output."""
    for line in output.split("PLAY RECAP", 1)[1].splitlines()[1:]:
        if line.split(":", 1)[0].strip() == host:
            return {k: int(v) for k, v in (item.split("=") for item in line.split(":", 1)[1].split())}
    raise AssertionError("no PLAY RECAP line for %s in:\n%s" % (host, output))


def run_build(cwd, definition, *args, env=None, timeout=900):
    """ansible-playbook immutable.images.build_image -e @definition.yml, in cwd, as a user runs it."""
    def_file = os.path.join(str(cwd), "definition-under-test.yml")
    with open(def_file, "w") as f:
        if isinstance(definition, str):
            f.write(definition)
        else:
            yaml.safe_dump(definition, f, sort_keys=False)
    _BUILT_NAMES.update(_image_names(definition, args))
    cmd = ["ansible-playbook", "immutable.images.build_image", "-e", "@" + def_file] + list(args)
    proc = subprocess.run(cmd, cwd=str(cwd), env=ansible_env(env), capture_output=True, text=True, timeout=timeout)
    proc.output = proc.stdout + proc.stderr
    return proc


# Image names run_build built during the current test: what remove_what_builds_left removes afterwards.
_BUILT_NAMES = set()


class _AnyTagLoader(yaml.SafeLoader):
    """Safe YAML that reads ansible-core's tags (!vault, !unsafe) as the plain values they tag."""


_AnyTagLoader.add_multi_constructor("!", lambda loader, tag, node: loader.construct_scalar(node)
                                    if isinstance(node, yaml.ScalarNode) else None)


def _image_names(definition, args):
    """The image name the build has: an `-e image_name=...` after the definition replaces the definition's, so only
    that one is the test's (the definition's may be another test's: test_docs_runnable builds the example's `webapp`
    on the other worker meanwhile, which a test building a copy of the example under a name of its own must leave)."""
    data = yaml.load(definition, Loader=_AnyTagLoader) if isinstance(definition, str) else definition
    name = str(data["image_name"]) if isinstance(data, dict) and data.get("image_name") else None
    for flag, value in zip(args, list(args)[1:]):
        if flag == "-e" and value.startswith("image_name="):
            name = value.split("=", 1)[1]
        elif flag == "-e" and value.startswith("{"):
            extra = yaml.safe_load(value)
            if isinstance(extra, dict) and extra.get("image_name"):
                name = str(extra["image_name"])
    return {name} if name else set()


@pytest.fixture(autouse=True)
def remove_what_builds_left():
    """After every test, remove the images (artifacts and layer cache) that its builds made, whatever happened:
    by the build labels, image name and a build start after the test started, so nothing made before (or by
    other builds on the same engine) is touched."""
    _BUILT_NAMES.clear()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    yield
    if not _BUILT_NAMES:
        return
    client = docker.from_env(version="auto")  # not the docker_client fixture: fixtures cannot be requested in teardown
    for name in sorted(_BUILT_NAMES):
        made = [i for i in _settled(lambda: client.images.list(all=True, filters={"label": LABEL_IMAGE_NAME + "=" + name}))
                if (i.labels or {}).get("immutable.images.created", "") >= started]
        for image in sorted(made, key=lambda i: i.attrs.get("Created") or "", reverse=True):  # children first
            try:
                client.images.remove(image.id, force=True)
            except docker.errors.APIError:  # gone already, or a kept builder still uses it
                pass
    _BUILT_NAMES.clear()


def build_containers(client, build_id=None):
    """Containers carrying our build-id label (of one build, or of any)."""
    label = LABEL_BUILD_ID + ("=%s" % build_id if build_id else "")
    for _ in range(10):
        try:
            return client.containers.list(all=True, filters={"label": label})
        except docker.errors.NotFound:  # one was removed between listing and inspecting it
            time.sleep(0.1)
    return client.containers.list(all=True, filters={"label": label})


def engine_state(client):
    """What a leak check compares: every container id and every image id on the engine."""
    return ({c.id for c in _settled(lambda: client.containers.list(all=True))},
            {i.id for i in _settled(lambda: client.images.list(all=True))})


def new_resources(client, before, image_name):
    """Containers and images that exist now but did not before and belong to builds of image_name:
    by label, by container name (every builder is named after its image) or by tag - so that other
    builds running on the same engine at the same time do not count."""
    def mine(labels, names):
        # A labelled resource says whose it is: by its name, `runtest` would also claim another test's
        # `itest-runtest-...` container that happens to run at the same time.
        if (labels or {}).get(LABEL_IMAGE_NAME):
            return labels[LABEL_IMAGE_NAME] == image_name
        return any(("-%s-" % image_name) in n or n.split(":")[0].split("/")[-1] == image_name for n in names)
    containers = [c for c in _settled(lambda: client.containers.list(all=True))
                  if c.id not in before[0] and mine(c.labels, [c.name])]
    # Layer cache images are kept on purpose (tagged, pruned by the janitor): not leftovers.
    images = [i for i in _settled(lambda: client.images.list(all=True)) if i.id not in before[1] and mine(i.labels, i.tags)
              and (i.labels or {}).get("immutable.images.kind") != "cache"]
    return {"containers": sorted(c.name for c in containers), "images": sorted(i.id for i in images)}


def tags_of(summary):
    """The tags of an image as the engine's image list gives it (an untagged image may show `<none>:<none>`)."""
    return [tag for tag in summary.get("RepoTags") or () if tag != "<none>:<none>"]


def image_tags(client):
    """{tag: image id} of the engine's tagged images, in one listing: the SDK's images.list() inspects each image
    after listing them all, and fails when a build running beside the test removes one in between."""
    return {tag: summary["Id"] for summary in client.api.images() for tag in tags_of(summary)}


def remove_named_images(client, names):
    """Remove every tag whose repository's last part is one of names (a registry's prefix or the layer cache's)."""
    for tag in image_tags(client):
        if tag.rsplit(":", 1)[0].split("/")[-1] in names:
            try:
                client.images.remove(tag, force=True)
            except docker.errors.APIError:  # removed meanwhile
                pass


def _settled(listing):
    for _ in range(10):
        try:
            return listing()
        except docker.errors.NotFound:  # one was removed between listing and inspecting it
            time.sleep(0.1)
    return listing()


@pytest.fixture
def project(tmp_path):
    return Project(tmp_path)


@pytest.fixture
def docker_definition():
    def make(name, roles=(), **target):
        spec = {"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never"}
        spec.update(target)
        return {"image_name": name, "image_version": "1.0.0", "image_gather_facts": False,
                "image_roles": list(roles), "image_targets": [spec]}
    return make


@pytest.fixture
def remove_images(docker_client):
    """Remove the repositories a test built, whatever happened."""
    repos = []
    yield repos.append
    repos += ["immutable-images-cache/" + r.split("/")[-1] for r in list(repos)]  # and their layer cache
    for tag in image_tags(docker_client):
        if tag.rsplit(":", 1)[0] in repos:
            try:
                docker_client.images.remove(tag, force=True)
            except docker.errors.APIError:  # removed meanwhile by another build on the engine
                pass
    # Only a build's own containers: a container run from an artifact inherits its labels, and the last part of a
    # registry repository (127.0.0.1:5000/prov/webapp) may be the name of someone else's image (the docs' webapp).
    for c in build_containers(docker_client):
        if c.labels.get("immutable.images.kind") in ("builder", "verify") and any(
                c.labels.get("immutable.images.image-name") == r.split("/")[-1] for r in repos):
            c.remove(force=True)


def sh_in_image(client, image, script):
    """stdout of `sh -c script` in a throwaway container of image (exec output, not logs: logs of a
    short-lived container can come back empty)."""
    container = client.containers.run(image, ["-c", "sleep 600"], entrypoint=["/bin/sh"], detach=True)
    try:
        result = container.exec_run(["sh", "-c", script])
        assert result.exit_code == 0, result.output
        return result.output.decode()
    finally:
        container.remove(force=True, v=True)  # with the volumes of an image's VOLUME


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError("nothing listens on 127.0.0.1:%d" % port)


def wait_until(predicate, timeout, what):
    """Wait until predicate() is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.2)


def controller_files_of(build_id):
    """What a build keeps on the controller while it runs: its guard's token and log. None is left after the build
    (the guard removes its empty log within a second of the disarm)."""
    from ansible_collections.immutable.images.plugins.plugin_utils._guard import build_guard, private_log

    return [p for p in (build_guard.token_path(build_id), private_log.log_path(build_id)) if os.path.exists(p)]


def wait_for_sshd(port, timeout=30.0):
    """Wait until sshd answers on 127.0.0.1:port with its banner (the port answers before sshd does)."""
    wait_for_port(port, timeout)
    deadline = time.monotonic() + timeout
    while True:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            if s.recv(64).startswith(b"SSH-"):
                return
        if time.monotonic() > deadline:
            raise TimeoutError("sshd did not answer on 127.0.0.1:%d" % port)
        time.sleep(0.2)


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """A real registry (Debian's docker-registry) on 127.0.0.1; the engine trusts loopback without TLS."""
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not os.path.exists(binary):
        pytest.fail("docker-registry is not installed: run scripts/setup-env")
    base = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = base / "config.yml"
    config.write_text(yaml.safe_dump({
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(base / "data")}, "delete": {"enabled": True}},
        "http": {"addr": "127.0.0.1:%d" % port},
    }))
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield "127.0.0.1:%d" % port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


SSH_BASE_IMAGE = os.environ.get("IMMUTABLE_SSH_BASE_IMAGE", "immutable-images/debian-python-ssh:bookworm")
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """A real HTTP EC2/SSM endpoint (moto server) on 127.0.0.1, reached through AWS_ENDPOINT_URL."""
    port = free_port()
    base = tmp_path_factory.mktemp("moto")
    # moto records the requests it gets while a test asks it to (Aws.start_recording): what went over the wire
    env = dict(os.environ, MOTO_ENABLE_RECORDING="True", MOTO_RECORDER_FILEPATH=str(base / "recording.jsonl"))
    with open(base / "moto.log", "w") as out:
        proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out, env=env)
    try:
        wait_for_port(port)
        MOTO_RECORDINGS["http://127.0.0.1:%d" % port] = str(base / "recording.jsonl")
        yield "http://127.0.0.1:%d" % port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def aws(moto_endpoint):
    """boto3 clients on the moto server, with its state wiped before the test."""
    import boto3
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(moto_endpoint + "/moto-api/reset", method="POST")).read()

    class Aws:
        endpoint = moto_endpoint
        env = dict(AWS_ENV, AWS_ENDPOINT_URL=moto_endpoint)

        def client(self, service, region="us-east-1"):
            return boto3.client(service, region_name=region, endpoint_url=moto_endpoint,
                                aws_access_key_id="testing", aws_secret_access_key="testing")

        def start_recording(self):
            for what in ("reset-recording", "start-recording"):
                urllib.request.urlopen(urllib.request.Request("%s/moto-api/recorder/%s" % (moto_endpoint, what),
                                                              method="POST")).read()

        def recorded(self, action):
            """[(region, parameters)] of every `action` request moto got since start_recording (query API calls)."""
            urllib.request.urlopen(urllib.request.Request(moto_endpoint + "/moto-api/recorder/stop-recording",
                                                          method="POST")).read()
            calls = []
            with open(MOTO_RECORDINGS[moto_endpoint]) as f:
                for line in f:
                    entry = json.loads(line)
                    body = entry.get("body") or ""
                    if entry.get("body_encoded"):
                        body = base64.b64decode(body).decode("utf-8", "replace")
                    params = {k: v[0] for k, v in parse_qs(body).items()}
                    if params.get("Action") == action:
                        auth = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}.get("authorization", "")
                        calls.append((re.search(r"Credential=[^/]+/[^/]+/([^/]+)/", auth).group(1), params))
            return calls
    return Aws()


MOTO_RECORDINGS = {}  # endpoint -> its recording file


@pytest.fixture
def ssh_target(docker_client, tmp_path):
    """The SSH side of an "instance": an sshd container on 127.0.0.1 trusting a fresh ED25519 key."""
    with sshd_container(docker_client, tmp_path) as target:
        yield target


@pytest.fixture
def second_ssh_target(docker_client, tmp_path):
    """Another instance's SSH side, for a definition of two ec2 targets."""
    with sshd_container(docker_client, tmp_path / "second") as target:
        yield target


@contextlib.contextmanager
def sshd_container(docker_client, directory):
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    pub = (directory / "id_ed25519.pub").read_text().strip()
    script = ("mkdir -p /run/sshd /root/.ssh && chmod 700 /root/.ssh && echo '%s' > /root/.ssh/authorized_keys"
              " && ssh-keygen -A && exec /usr/sbin/sshd -D -e" % pub)
    # Created, then started inside the try: a container that fails to start is removed too, not left "Created".
    container = docker_client.containers.create(SSH_BASE_IMAGE, ["-c", script], entrypoint=["/bin/sh"],
                                                ports={"22/tcp": ("127.0.0.1", None)},
                                                labels={"immutable.images.test": "ssh_target"})
    try:
        container.start()
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["22/tcp"][0]["HostPort"])
        wait_for_sshd(port)

        class Target:
            pass
        target = Target()
        target.container, target.port, target.key, target.public_key = container, port, str(key), pub
        yield target
    finally:
        container.remove(force=True)
