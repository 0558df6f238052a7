# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A registry that requires a login, where no `docker login` was made (an execution environment, a CI container): the
base image pulled from it with the target's base_image_auth, the result pushed to it with registry_auth."""

import base64
import json
import os
import shutil
import subprocess

import docker
from cryptography.hazmat.primitives.asymmetric import ed25519
import pytest
import requests
import yaml

from conftest import BASE_IMAGE, ansible_env, build_containers, free_port, run_build, sh_in_image, wait_for_port
from test_provenance import _keys

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# The user is named as the targets are: a user name is no secret, and when it was masked as the password is, the
# builder's name in the launch's result was masked too (immutable-privatebase-********-...) and the build failed.
USER, PASSWORD = "container", "pull-Very-Secret-6054"
# The registry also lets in moto's Amazon ECR token (GetAuthorizationToken: AWS and <account>-auth-token), as an ECR
# registry lets in AWS and the token ECR gave
ECR_USER, ECR_PASSWORD = "AWS", "123456789012-auth-token"
REGISTRY_LOG = []  # the registry's log of requests (the fixture's)


@pytest.fixture(scope="module")
def private_base(docker_client, tmp_path_factory):
    """Debian's docker-registry with an htpasswd login on 127.0.0.1, holding the base image; yields its reference."""
    bcrypt = pytest.importorskip("bcrypt")
    base = tmp_path_factory.mktemp("private-registry")
    (base / "htpasswd").write_text("".join("%s:%s\n" % (user, bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode())
                                           for user, password in ((USER, PASSWORD), (ECR_USER, ECR_PASSWORD))))
    port = free_port()
    (base / "config.yml").write_text(yaml.safe_dump({
        "version": 0.1, "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(base / "data")}},
        "http": {"addr": "127.0.0.1:%d" % port},
        "auth": {"htpasswd": {"realm": "test", "path": str(base / "htpasswd")}}}))
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    REGISTRY_LOG[:] = [str(base / "registry.log")]
    with open(REGISTRY_LOG[0], "wb") as log:
        proc = subprocess.Popen([binary, "serve", str(base / "config.yml")], stdout=log, stderr=log)
    repository = "127.0.0.1:%d/base/debian-python" % port
    try:
        wait_for_port(port)
        docker_client.images.get(BASE_IMAGE).tag(repository, "bookworm")
        pushed = docker_client.images.push(repository, "bookworm", auth_config={"username": USER, "password": PASSWORD})
        assert "error" not in pushed, pushed
        docker_client.images.remove(repository + ":bookworm")  # only the registry has that name: a build pulls it
        yield repository + ":bookworm"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        try:  # the name the build pulled (an untag: the image is the base image's)
            docker_client.images.remove(repository + ":bookworm")
        except docker.errors.ImageNotFound:
            pass


def definition(reference, name, password, **target):
    return {
        "image_name": name, "image_version": "1.0.0", "image_gather_facts": False, "image_cache": False,
        "image_roles": ["marker"],
        "image_targets": [dict({"name": "container", "type": "docker", "base_image": reference, "pull": "always",
                                "base_image_auth": {"username": USER, "password": password}}, **target)],
    }


def test_a_private_base_image_is_pulled_with_base_image_auth(docker_client, project, private_base, remove_images, tmp_path):
    project.role("marker", "- name: Mark\n  ansible.builtin.copy:\n    dest: /marker\n    content: private base\n")
    remove_images("privatebase")
    # no docker login: a Docker client configuration with no credentials
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config")}
    os.makedirs(env["DOCKER_CONFIG"])

    # and pushed to the same registry with registry_auth, signed: the attestations go there too
    registry = private_base.split("/", 1)[0]
    remove_images("%s/acme/privatebase" % registry)
    _keys(project.path, ed25519.Ed25519PrivateKey.generate())
    signed = dict(definition(private_base, "privatebase", PASSWORD, push=["%s/acme/privatebase" % registry],
                             registry_auth={"username": USER, "password": PASSWORD}),
                  image_sign={"key": "signing-key.pem", "builder_id": "ci.example.test/private"})
    proc = run_build(project.path, signed, "-vvv", env=env)
    assert proc.returncode == 0, proc.output[-4000:]
    assert PASSWORD not in proc.output
    # the signing's credentials go with each request: the registry answered 401 once, to the question which
    # authentication it wants (before: once for every request, sent again after it)
    with open(REGISTRY_LOG[0]) as log:
        refused = [line for line in log if '"python-requests/' in line and '" 401 ' in line]  # its access log
    assert len(refused) == 1 and '"GET /v2/ HTTP' in refused[0], refused
    tags = requests.get("http://%s/v2/acme/privatebase/tags/list" % registry, auth=(USER, PASSWORD), timeout=10)
    assert tags.status_code == 200 and "1.0.0" in tags.json()["tags"], tags.text
    assert [t for t in tags.json()["tags"] if t.startswith("sha256-")], tags.text  # the attestations' index
    verify = ["ansible-playbook", "immutable.images.verify_image", "-e", "verify_image=%s/acme/privatebase:1.0.0" % registry,
              "-e", "verify_public_key=signing-key.pub", "-e", "verify_username=" + USER]
    verified = subprocess.run(verify + ["-e", "verify_password=" + PASSWORD], cwd=str(project.path), env=ansible_env(env),
                              capture_output=True, text=True, timeout=300, check=False)
    assert verified.returncode == 0, verified.stdout[-3000:]
    base_layers = docker_client.images.get(private_base).attrs["RootFS"]["Layers"]  # pulled by the build
    assert docker_client.images.get("privatebase:1.0.0").attrs["RootFS"]["Layers"][:len(base_layers)] == base_layers
    assert sh_in_image(docker_client, "privatebase:1.0.0", "cat /marker") == "private base"

    # a wrong password: refused by that registry, said at the launch, and nothing of the build is left
    proc = run_build(project.path, definition(private_base, "privatebase", "not-the-password"), env=env)
    assert proc.returncode != 0
    assert "cannot pull base image %s" % private_base in proc.output and "unauthorized" in proc.output, proc.output[-3000:]
    assert "not-the-password" not in proc.output
    assert [c for c in build_containers(docker_client) if c.labels.get("immutable.images.image-name") == "privatebase"] == []


def test_with_a_docker_login_alone_the_image_and_its_attestations_reach_the_registry(docker_client, project, private_base,
                                                                                     remove_images, tmp_path):
    """A CI job that ran `docker login` and gives no credentials in the definition: the pull and the push use the
    login (the engine's way), and so do the signing's attachments and the verifier (before: 401 at the attachment)."""
    project.role("marker", "- name: Mark\n  ansible.builtin.copy:\n    dest: /marker\n    content: logged in\n")
    registry = private_base.split("/", 1)[0]
    remove_images("loggedin")
    remove_images("%s/acme/loggedin" % registry)
    config = tmp_path / "docker-config"
    config.mkdir()
    login = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {registry: {"auth": login}}}))  # as docker login writes it
    env = {"DOCKER_CONFIG": str(config)}
    _keys(project.path, ed25519.Ed25519PrivateKey.generate())
    built = definition(private_base, "loggedin", PASSWORD, push=["%s/acme/loggedin" % registry])
    del built["image_targets"][0]["base_image_auth"]
    built["image_sign"] = {"key": "signing-key.pem", "builder_id": "ci.example.test/private"}

    proc = run_build(project.path, built, env=env)
    assert proc.returncode == 0, proc.output[-4000:]
    tags = requests.get("http://%s/v2/acme/loggedin/tags/list" % registry, auth=(USER, PASSWORD), timeout=10).json()
    assert "1.0.0" in tags["tags"] and [t for t in tags["tags"] if t.startswith("sha256-")], tags
    verified = subprocess.run(["ansible-playbook", "immutable.images.verify_image",
                               "-e", "verify_image=%s/acme/loggedin:1.0.0" % registry, "-e", "verify_public_key=signing-key.pub"],
                              cwd=str(project.path), env=ansible_env(env), capture_output=True, text=True, timeout=300,
                              check=False)
    assert verified.returncode == 0, verified.stdout[-3000:]


def test_amazon_ecr_credentials_pull_push_and_sign_without_a_login(docker_client, project, private_base, aws,
                                                                   remove_images, tmp_path):
    """base_image_auth and registry_auth of {ecr: true} (Packer's ecr_login): the job has AWS credentials and no
    `docker login` (an AWX job with an AWS credential); the pull, the push and the signatures' attachments use the
    token Amazon ECR gives (moto, through AWS_ENDPOINT_URL; the registry is not named as ECR's, so the token is of
    the AWS settings' region). Without it the registry refuses them all."""
    project.role("marker", "- name: Mark\n  ansible.builtin.copy:\n    dest: /marker\n    content: from ecr\n")
    registry = private_base.split("/", 1)[0]
    remove_images("ecrlogin")
    remove_images("%s/acme/ecrlogin" % registry)
    env = dict(aws.env, DOCKER_CONFIG=str(tmp_path / "docker-config"))
    os.makedirs(env["DOCKER_CONFIG"])
    _keys(project.path, ed25519.Ed25519PrivateKey.generate())
    built = definition(private_base, "ecrlogin", None, push=["%s/acme/ecrlogin" % registry], registry_auth={"ecr": True})
    built["image_targets"][0]["base_image_auth"] = {"ecr": True}
    built["image_sign"] = {"key": "signing-key.pem", "builder_id": "ci.example.test/ecr"}
    with open(REGISTRY_LOG[0]) as log:
        seen = len(log.readlines())

    proc = run_build(project.path, built, "-vvv", env=env)
    assert proc.returncode == 0, proc.output[-4000:]
    assert ECR_PASSWORD not in proc.output
    with open(REGISTRY_LOG[0]) as log:
        lines = log.readlines()[seen:]
    # let in, with no other credentials anywhere: the engine's pull and push, the signing's attachments
    access = [line for line in lines if line.startswith("127.0.0.1 - ")]  # its access log
    assert [line for line in access if ' /v2/base/debian-python/manifests/bookworm HTTP/1.1" 200 ' in line], access
    assert [line for line in access if '"PUT /v2/acme/ecrlogin/manifests/1.0.0 HTTP/1.1" 201' in line], access
    assert [line for line in access if '"PUT /v2/acme/ecrlogin/manifests/sha256' in line and '" 201 ' in line
            and "python-requests/" in line], access
    tags = requests.get("http://%s/v2/acme/ecrlogin/tags/list" % registry, auth=(ECR_USER, ECR_PASSWORD), timeout=10)
    assert "1.0.0" in tags.json()["tags"] and [t for t in tags.json()["tags"] if t.startswith("sha256-")], tags.text
    assert sh_in_image(docker_client, "ecrlogin:1.0.0", "cat /marker") == "from ecr"
    # and the deploy side's verifier reads the attestations with ECR's credentials too
    verify = ["ansible-playbook", "immutable.images.verify_image", "-e", "verify_image=%s/acme/ecrlogin:1.0.0" % registry,
              "-e", "verify_public_key=signing-key.pub"]
    verified = subprocess.run(verify + ["-e", "verify_ecr=true"], cwd=str(project.path), env=ansible_env(env),
                              capture_output=True, text=True, timeout=300, check=False)
    assert verified.returncode == 0, verified.stdout[-3000:]
    unverified = subprocess.run(verify, cwd=str(project.path), env=ansible_env(env), capture_output=True, text=True,
                                timeout=300, check=False)
    assert unverified.returncode != 0 and "asks for a login" in unverified.stdout, unverified.stdout[-3000:]

    # no region to ask ECR in (the registry is not named as ECR's): said at the launch, nothing of the build left
    del env["AWS_DEFAULT_REGION"]
    proc = run_build(project.path, built, env=env)
    assert proc.returncode != 0
    assert "cannot ask Amazon ECR for the credentials of %s" % registry in proc.output, proc.output[-3000:]
    assert [c for c in build_containers(docker_client) if c.labels.get("immutable.images.image-name") == "ecrlogin"] == []
