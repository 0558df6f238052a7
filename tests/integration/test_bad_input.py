# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Malformed definitions are rejected before anything exists, each with a message naming the variable."""

import copy
import hashlib
import io
import json
import os
import socket
import struct
import tarfile
import uuid

import pytest

from conftest import BASE_IMAGE, build_containers, engine_state, new_resources, run_build

pytestmark = [pytest.mark.docker, pytest.mark.slow]

VALID = {
    "image_name": "badinput",
    "image_version": "1.0.0",
    "image_files": [{"src": "files/", "dest": "/app"}],
    "image_roles": ["ok"],
    "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never"}],
}
EC2 = {"name": "aws", "type": "ec2", "region": "us-east-1", "source_ami": "ami-0123456789abcdef0",
       "ssh_username": "admin", "allowed_cidrs": ["127.0.0.1/32"]}


def without(key):
    return lambda d: d.pop(key)


def setting(key, value):
    return lambda d: d.__setitem__(key, value)


def target(**changes):
    return lambda d: d["image_targets"][0].update(changes)


def config(**changes):
    return lambda d: d["image_targets"][0].setdefault("config", {}).update(changes)


def ec2(**changes):
    return lambda d: d["image_targets"].append(dict(EC2, **changes))


# (case id, how to break the valid definition, text the error must contain)
CASES = [
    ("missing-name", without("image_name"), "image_name"),
    ("bad-name", setting("image_name", "Web App"), "image_name: 'Web App' is not a valid image name"),
    ("short-version", setting("image_version", "1.4"), "image_version: '1.4' is not a semantic version"),
    ("version-v-prefix", setting("image_version", "v1.4.2"), "image_version: 'v1.4.2'"),
    ("missing-targets", without("image_targets"), "image_targets"),
    ("empty-targets", setting("image_targets", []), "image_targets: at least one target is required"),
    ("unknown-type", target(type="lxc"), "image_targets"),
    ("duplicate-names", lambda d: d["image_targets"].append(dict(d["image_targets"][0])),
     "image_targets[1].name: 'container' is used by more than one target"),
    ("shared-tags", lambda d: d["image_targets"].append(dict(d["image_targets"][0], name="other")),
     "image_targets[1] (other): tags "),
    ("bad-target-name", target(name="My Target"), "image_targets[0].name"),
    ("missing-base-image", lambda d: d["image_targets"][0].pop("base_image"), "image_targets[0].base_image: required"),
    ("bad-base-image", target(base_image="Debian:Book worm"), "image_targets[0].base_image"),
    ("bad-tag", target(tags=["ok", "not a tag!"]), "image_targets[0].tags: 'not a tag!' is not a valid Docker tag"),
    ("tags-not-list", target(tags="latest"), "image_targets[0].tags"),
    ("bad-repository", target(repository="Registry/Upper"), "image_targets[0].repository"),
    ("bad-push-repo", target(push=["registry.example.com/a:tag"]), "image_targets[0].push"),
    ("bad-pull", target(pull="sometimes"), "pull"),
    # a string would be one program's name (an image that cannot start), a health check that never runs
    ("cmd-string", config(cmd="nginx -g 'daemon off;'"),
     "image_targets[0].config.cmd: \"nginx -g 'daemon off;'\" is a string, and the image's CMD is a list (exec form): "
     'give ["nginx", "-g", "daemon off;"], or ["/bin/sh", "-c", "nginx -g \'daemon off;\'"]'),
    ("healthcheck-string", config(healthcheck={"test": "curl -f http://127.0.0.1/"}),
     'to run it through the image\'s shell: ["CMD-SHELL", "curl -f http://127.0.0.1/"]'),
    # share_with_accounts: [001234567012] in YAML: the octal number 175304202
    ("account-id-read-as-a-number", ec2(share_with_accounts=[175304202]),
     "image_targets[1].share_with_accounts: 175304202 is a number, not a 12-digit account id: quote account ids"),
    # PYTHON_VERSION: 3.10 unquoted set 3.1 in the image
    ("env-number-read-as-other-text", config(env={"PYTHON_VERSION": 3.1}),
     "image_targets[0].config.env.PYTHON_VERSION: 3.1 is a number, which YAML may have read from other text"),
    # Packer's ami_name = "webapp-{{timestamp}}", copied
    ("packer-timestamp", ec2(ami_name="webapp-{{timestamp}}"),
     "'timestamp' is undefined (Packer's {{timestamp}} is not a variable here: the build id carries the build's time"),
    ("only-names-nothing", setting("image_only", ["nope"]), "image_only: 'nope' names no target"),
    ("missing-file", setting("image_files", [{"src": "nowhere/", "dest": "/app"}]), "image_files[0].src: 'nowhere/' does not exist"),
    ("relative-dest", setting("image_files", [{"src": "files/", "dest": "app"}]), "image_files[0].dest: 'app' must be an absolute path"),
    ("files-not-list", setting("image_files", "files/"), "image_files"),
    ("missing-role", setting("image_roles", ["ok", "no_such_role"]), "image_roles[1]: role 'no_such_role' not found"),
    ("role-without-name", setting("image_roles", [{"vars": {"a": 1}}]), "image_roles[0]"),
    ("role-vars-not-dict", setting("image_roles", [{"role": "ok", "vars": [1]}]), "image_roles[0].vars"),
    # a play parses its roles before it runs a task; a build included a broken file only once builders had started
    ("role-yaml-broken", setting("image_roles", ["ok", "broken"]),
     "image_roles[1] (broken): roles/broken/tasks/main.yml:4:4: while parsing a block mapping did not find expected key"),
    ("role-dependency-yaml-broken", setting("image_roles", ["needs_broken"]),
     "image_roles[0] (needs_broken): roles/broken/tasks/main.yml:4:4:"),
    ("role-keyword-elsewhere", setting("image_roles", [{"role": "ok", "delegate_to": "localhost"}]),
     "image_roles[0]: delegate_to: these keywords of a play's roles: entry would run the role elsewhere"),
    ("bad-on-error", setting("image_on_error", "explode"), "image_on_error"),
    ("bad-expose", config(expose=["http"]), "image_targets[0].config.expose"),
    ("bad-healthcheck", config(healthcheck={"test": ["CMD", "true"], "interval": "soon"}),
     "image_targets[0].config.healthcheck.interval"),
    ("config-not-dict", target(config=["user"]), "config"),
    ("foreign-key", target(region="us-east-1"), "image_targets[0]: region not valid for type docker"),
    ("manifest-dir-missing", setting("image_manifest", "no/such/dir/m.json"), "image_manifest: directory"),
    ("ec2-both-sources", ec2(source_ami_filter={"name": "x-*", "owners": ["self"]}),
     "image_targets[1]: give source_ami or source_ami_filter, not both"),
    ("ec2-bad-cidr", ec2(allowed_cidrs=["10.0.0.1/8"]), "image_targets[1].allowed_cidrs: '10.0.0.1/8' is not a CIDR"),
    ("ec2-bad-region", ec2(region="mars-north-1"), "image_targets[1].region: 'mars-north-1' is not an AWS region"),
    ("ec2-no-user", lambda d: d["image_targets"].append({k: v for k, v in EC2.items() if k != "ssh_username"}),
     "image_targets[1].ssh_username: required for type ec2"),
    ("ec2-bad-share", ec2(share_with_accounts=["12345"]), "image_targets[1].share_with_accounts"),
    # Found in review (issue 15, point 5): every class rejected before anything exists, the variable named.
    ("files-dangling-symlink", setting("image_files", [{"src": "dangling", "dest": "/app/x"}]),
     "image_files[0].src: 'dangling' does not exist"),
    ("files-socket-in-source", setting("image_files", [{"src": "withsocket/", "dest": "/app"}]),
     "image_files[0].src: 'withsocket/' contains control.sock, a socket"),
    ("files-dotdot-dest", setting("image_files", [{"src": "files/", "dest": "/app/../etc"}]),
     "image_files[0].dest: '/app/../etc' must not contain '..'"),
    ("files-home", setting("image_files", [{"src": "~", "dest": "/app"}]), "image_files[0].src: '~' is a home directory"),
    ("files-credentials-inside", setting("image_files", [{"src": "withcreds/", "dest": "/app"}]),
     "image_files[0].src: 'withcreds/' contains a credentials directory .aws"),
    ("files-credentials-path", setting("image_files", [{"src": "withcreds/.aws/credentials", "dest": "/app/c"}]),
     "image_files[0].src: 'withcreds/.aws/credentials' is in a credentials directory"),
    ("name-too-long", setting("image_name", "a" * 129), "image_name: '%s' is not a valid image name" % ("a" * 129)),
    ("name-dotdot", setting("image_name", "bad..name"), "image_name: 'bad..name' is not a valid image name"),
    ("name-trailing-dash", setting("image_name", "badinput-"), "image_name: 'badinput-' is not a valid image name"),
    ("tag-too-long", target(tags=["t" * 129]), "image_targets[0].tags: '%s' is not a valid Docker tag" % ("t" * 129)),
    ("ami-name-bad-char", ec2(ami_name="web*app"), "image_targets[1].ami_name: 'web*app'"),
    ("ami-name-newline", ec2(ami_name="webapp\n"), "image_targets[1].ami_name: 'webapp\\n'"),
    ("deprecate-zero", ec2(deprecate_after="0d"), "image_targets[1].deprecate_after: deprecate_after: '0d' is zero"),
    ("deprecate-past", ec2(deprecate_after="2020-01-01"), "image_targets[1].deprecate_after: deprecate_after: 2020-01-01"),
    ("keep-negative", setting("image_keep", {"count": -1}), "image_keep.count: -1 must not be negative"),
    ("manifest-is-dir", setting("image_manifest", "files"), "image_manifest: 'files' is a directory"),
    ("config-bad-stop-signal", config(stop_signal="SIGNOPE"), "image_targets[0].config.stop_signal: 'SIGNOPE'"),
    ("config-relative-workdir", config(workdir="app"), "image_targets[0].config.workdir: 'app' must be an absolute path"),
    ("config-env-name-with-equals", config(env={"A=B": "c"}), "image_targets[0].config.env: 'A=B' is not a variable name"),
    ("config-our-label", config(labels={"immutable.images.build-id": "x"}),
     "image_targets[0].config.labels: 'immutable.images.build-id' is in the namespace"),
    ("ec2-our-tag", ec2(tags={"immutable.images.kind": "artifact"}), "image_targets[1].tags: 'immutable.images.kind'"),
    ("volume-over-dev-shm", target(build_volumes=["./cache:/dev/shm"]), "image_targets[0].build_volumes: './cache:/dev/shm'"),
    ("interpreter-shell-meta", target(python_interpreter="/usr/bin/python3; touch /tmp/x"),
     "image_targets[0].python_interpreter: '/usr/bin/python3; touch /tmp/x'"),
    ("ami-filter-owners-string", lambda d: d["image_targets"].append(
        {**{k: v for k, v in EC2.items() if k != "source_ami"}, "source_ami_filter": {"name": "x-*", "owners": "self"}}),
     "image_targets[1].source_ami_filter.owners: must be a list"),
    ("ec2-open-ssh-v4", ec2(allowed_cidrs=["0.0.0.0/0"]), "image_targets[1].allowed_cidrs: '0.0.0.0/0' opens SSH"),
    ("ec2-open-ssh-v6", ec2(allowed_cidrs=["::/0"]), "image_targets[1].allowed_cidrs: '::/0' opens SSH"),
    # image_engines (issue 18): each entry checked before any engine is asked (more cases: unit tests)
    ("engines-no-scheme", setting("image_engines", ["build-1:2376"]), "image_engines[0].docker_host: 'build-1:2376' must start with"),
    ("engines-max-builds-zero", setting("image_engines", [{"docker_host": "tcp://127.0.0.1:1", "max_builds": 0}]),
     "image_engines[0].max_builds: 0 must be a whole number of at least 1"),
    ("engines-missing-ca", setting("image_engines", [{"docker_host": "tcp://127.0.0.1:1", "tls": {"ca_cert": "no/ca.pem"}}]),
     "image_engines[0].tls.ca_cert: no/ca.pem is not a readable file"),
]


@pytest.fixture
def bad_project(project):
    project.file("files/hello.txt", "hello\n")
    project.role("ok", "- name: Do nothing\n  ansible.builtin.command: 'true'\n  changed_when: false\n")
    project.role("broken", "- name: Copy\n  ansible.builtin.copy:\n    dest: /x\n   content: a bad indent\n")
    project.file("roles/needs_broken/meta/main.yml", "dependencies: [broken]\n")
    project.role("needs_broken", "- name: Do nothing\n  ansible.builtin.command: 'true'\n  changed_when: false\n")
    project.file("withcreds/app.conf", "x\n")
    project.file("withcreds/.aws/credentials", "[default]\n")
    project.file("withsocket/app.conf", "x\n")
    os.symlink("no-such-file", str(project.path / "dangling"))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(project.path / "withsocket" / "control.sock"))
    sock.close()
    return project


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rejected_before_anything_is_created(docker_client, bad_project, mutate, expected):
    definition = copy.deepcopy(VALID)
    mutate(definition)
    before = engine_state(docker_client)
    proc = run_build(bad_project.path, definition)
    assert proc.returncode != 0
    assert expected in proc.output, proc.output[-3000:]
    assert "Start the docker builders" not in proc.output or "skipping" in proc.output
    name = str(definition.get("image_name", "badinput"))
    assert new_resources(docker_client, before, name) == {"containers": [], "images": []}, \
        "a rejected definition created something"


def test_valid_definition_is_accepted_in_check_mode(docker_client, bad_project):
    """The same set-up with the unbroken definition passes validation: the cases above fail for their reason."""
    before = engine_state(docker_client)
    proc = run_build(bad_project.path, copy.deepcopy(VALID), "--check")
    assert proc.returncode == 0, proc.output
    assert "badinput 1.0.0, build" in proc.output
    assert new_resources(docker_client, before, "badinput") == {"containers": [], "images": []}
    assert "Could not match supplied host pattern" not in proc.output  # the provision play has no hosts: no warning


def base_image_after(docker_client, name, script):
    """A base image of the test's own: the base image after the shell script `script` ran in it."""
    image = "%s-%s:1" % (name, uuid.uuid4().hex[:8])
    work = docker_client.containers.create(BASE_IMAGE, ["-c", script], entrypoint=["/bin/sh"])
    try:
        work.start()
        assert work.wait(timeout=60)["StatusCode"] == 0, work.logs()
        work.commit(*image.split(":"))
    finally:
        work.remove(force=True)
    return image


def test_plan_says_when_the_base_image_has_no_python(docker_client, bad_project):
    """Before anything starts, the plan names a base image without the target's Python; the build still goes on
    (a first role may install Python with ansible.builtin.raw). Looking costs one created, never started container."""
    image = base_image_after(docker_client, "nopython", "rm -f /usr/bin/python3*")
    try:
        definition = copy.deepcopy(VALID)
        definition["image_targets"][0]["base_image"] = image
        before = engine_state(docker_client)
        proc = run_build(bad_project.path, definition, "--check")
        assert proc.returncode == 0, proc.output
        assert "python: /usr/bin/python3 is NOT in the base image" in proc.output, proc.output[-3000:]
        assert new_resources(docker_client, before, "badinput") == {"containers": [], "images": []}

        definition["image_targets"][0]["base_image"] = BASE_IMAGE  # the same look finds Python where it is
        proc = run_build(bad_project.path, definition, "--check")
        assert proc.returncode == 0 and "is NOT in the base image" not in proc.output, proc.output[-3000:]
    finally:
        docker_client.images.remove(image, force=True)


def test_a_base_with_python_elsewhere_on_its_path_builds_as_a_play_finds_it(docker_client, bad_project, remove_images):
    """A base image whose Python is not /usr/bin/python3 but on its PATH (the official python:3.x images have
    /usr/local/bin/python3.x only): the plan finds it as ansible-core's interpreter discovery does in a play against
    such a container, and the modules run with it. Before, every module failed (the plan said NOT in the base image)."""
    image = base_image_after(docker_client, "pythonelsewhere",
                             "ln -s /usr/bin/python3.11 /usr/local/bin/python3.11 && rm /usr/bin/python3")
    remove_images("pythonelsewhere")
    try:
        definition = dict(copy.deepcopy(VALID), image_name="pythonelsewhere")
        definition["image_targets"][0]["base_image"] = image
        proc = run_build(bad_project.path, definition)
        assert proc.returncode == 0, proc.output[-3000:]
        assert ("python: /usr/bin/python3 is not in the base image; modules run with /usr/local/bin/python3.11"
                in proc.output), proc.output[-3000:]
        assert "no session with the builder" not in proc.output, "the warm interpreter runs with it too"
    finally:
        docker_client.images.remove(image, force=True)


def test_builder_side_values_are_not_templated_at_plan_time(docker_client, bad_project):
    """Inline image_verify tasks are templated on the builder (where the roles' facts are), so a check on a
    fact that only a role sets passes validation; a symlinked file source is followed, not refused."""
    definition = copy.deepcopy(VALID)
    definition["image_verify"] = [{"ansible.builtin.assert": {"that": ["fact_set_by_a_role == 'yes'"]},
                                   "name": "{{ fact_set_by_a_role }}"}]
    os.symlink("files/hello.txt", str(bad_project.path / "hello-link"))
    definition["image_files"].append({"src": "hello-link", "dest": "/app/hello-copy.txt"})
    proc = run_build(bad_project.path, definition, "--check")
    assert proc.returncode == 0, proc.output[-3000:]
    assert "badinput 1.0.0, build" in proc.output


def test_a_current_context_that_is_not_there_is_refused_before_anything_is_created(docker_client, bad_project, tmp_path):
    """No docker_host and no DOCKER_HOST: the engine is the docker CLI's current context, which the CLI refuses when
    it is not in its context store; so does the plan (before, it only noted it, and the launch failed)."""
    before = engine_state(docker_client)
    proc = run_build(bad_project.path, copy.deepcopy(VALID),
                     env={"DOCKER_HOST": "", "DOCKER_CONTEXT": "gone", "DOCKER_CONFIG": str(tmp_path / "cli")})
    assert proc.returncode != 0
    assert ("target container: the docker CLI's current context 'gone' (DOCKER_CONTEXT) is not in %s/contexts: set "
            "DOCKER_HOST, or a target's docker_host" % (tmp_path / "cli")) in proc.output, proc.output[-3000:]
    assert '"stage": "validate"' in proc.output and "Start the builders" not in proc.output, "refused by the plan"
    assert new_resources(docker_client, before, "badinput") == {"containers": [], "images": []}


def image_archive(tag, architecture, files):
    """A `docker save` archive of a one-layer image made of `files` ({name: text, or bytes of an executable}) whose
    configuration says it is of `architecture`: how an image of another architecture is made here, where none can be
    pulled or emulated."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644 if isinstance(content, str) else 0o755
            tar.addfile(info, io.BytesIO(data))
    layer = layer.getvalue()
    config = json.dumps({"architecture": architecture, "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}})
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in (("layer.tar", layer), ("config.json", config.encode()), ("manifest.json", json.dumps(
                [{"Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"]}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive.getvalue()


def test_the_plan_says_when_the_base_image_is_of_another_architecture(docker_client, bad_project):
    """A base image of another architecture than the engine's runs only where the engine emulates it, which an engine
    cannot be asked: the plan says so (without emulation, the builder stops as it starts). An image that only says it
    is of the other architecture stands in for one (none can be pulled here, and no emulation is needed to plan)."""
    engine_arch = docker_client.version()["Arch"]
    other = "arm64" if engine_arch != "arm64" else "amd64"
    name = "immutable-images-test/other-arch:" + other
    docker_client.images.load(image_archive(name, other, {"hello": "hello\n"}))
    try:
        assert docker_client.images.get(name).attrs["Architecture"] == other
        definition = copy.deepcopy(VALID)
        definition["image_targets"][0]["base_image"] = name
        proc = run_build(bad_project.path, definition, "--check")
        assert proc.returncode == 0, proc.output
        assert ("platform: the base image is linux/%s and the engine linux/%s: its builder runs only if the engine "
                "emulates %s" % (other, engine_arch, other)) in proc.output, proc.output
        # and not for a base image of the engine's own architecture
        assert "platform:" not in run_build(bad_project.path, copy.deepcopy(VALID), "--check").output
    finally:
        docker_client.images.remove(name, force=True)


def elf_header(architecture):
    """The 64-byte header of an ELF executable for `architecture` (arm64 or amd64): enough for the kernel to refuse
    to run it on another one (exec format error), as it refuses a real binary of that architecture."""
    machine = {"arm64": 183, "amd64": 62}[architecture]
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little-endian, version 1
    return ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, 0x400000, 64, 0, 0, 64, 56, 0, 64, 0, 0)


def test_a_builder_that_stops_as_it_starts_fails_the_launch_saying_why(docker_client, bad_project):
    """Without emulation, the builder of a base image of another architecture stops as soon as it starts (its /bin/sh:
    exec format error). The build's failure says so (before: only that the builder was gone), and leaves nothing."""
    engine_arch = docker_client.version()["Arch"]
    other = "arm64" if engine_arch != "arm64" else "amd64"
    name = "immutable-images-test/other-arch-shell:" + other
    docker_client.images.load(image_archive(name, other, {"bin/sh": elf_header(other)}))
    try:
        definition = copy.deepcopy(VALID)
        definition["image_targets"][0]["base_image"] = name
        proc = run_build(bad_project.path, definition)
        assert proc.returncode != 0
        # the launch sees it stopped (most often), or the first step that needs it finds it gone: both say why
        summary = proc.output.split("Build of badinput 1.0.0", 1)[-1]
        assert "has a base image (or layer) whose /bin/sh does not run on the engine" in summary, proc.output[-3000:]
        assert [c for c in build_containers(docker_client) if c.labels.get("immutable.images.image-name") == "badinput"] == []
    finally:
        docker_client.images.remove(name, force=True)
