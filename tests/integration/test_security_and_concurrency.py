# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secrets never reach the output, safe defaults hold, and concurrent builds of one image do not collide."""

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import uuid

import pytest
import requests

from conftest import BASE_IMAGE, ansible_env, build_containers, run_build, sh_in_image
from test_ec2_build import ec2_target, import_key

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REGISTRY_PASSWORD = "pw-Very-Secret-4711"
AWS_SECRET = "aws-Very-Secret-0815"
BUILD_ENV_SECRET = "be-Very-Secret-2231"
USER_DATA_SECRET = "ud-Very-Secret-7719"
RUN_ENV_SECRET = "rt-Very-Secret-5502"


def digest(secret):
    """What the build checks the secret against: its own value would show in the task's arguments."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def run(project, definition, *args, env=None):
    def_file = project.path / "def.yml"
    def_file.write_text(json.dumps(definition))
    cmd = ["ansible-playbook", "immutable.images.build_image", "-e", "@%s" % def_file] + list(args)
    proc = subprocess.run(cmd, cwd=str(project.path), env=ansible_env(env), capture_output=True, text=True,
                          timeout=900)
    proc.output = proc.stdout + proc.stderr
    return proc


@pytest.mark.aws
def test_secrets_never_appear_even_at_vvvv(docker_client, aws, ssh_target, registry, project, remove_images):
    import_key(aws, ssh_target)
    # the role proves build_env reached it (and that the build still works with the secret hidden)
    project.role("ok", "- name: Use the build secret\n  ansible.builtin.command: sh -c 'test \"$(printf %%s \"$BUILD_SECRET\""
                       " | sha256sum | cut -c1-16)\" = %s'\n  changed_when: false\n" % digest(BUILD_ENV_SECRET))
    remove_images("secrets")
    remove_images("%s/itest/secrets" % registry)
    definition = {
        "image_name": "secrets", "image_version": "1.0.0", "image_gather_facts": False, "image_roles": ["ok"],
        "image_manifest": "manifest.json",
        "image_targets": [
            {"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never",
             "push": ["%s/itest/secrets" % registry],
             "registry_auth": {"username": "itest", "password": REGISTRY_PASSWORD},
             "build_env": {"BUILD_SECRET": BUILD_ENV_SECRET}, "config": {"cmd": ["sleep", "600"]}},
            ec2_target(ssh_target, build_env={"BUILD_SECRET": BUILD_ENV_SECRET},
                       user_data="#!/bin/sh\necho %s > /root/token\n" % USER_DATA_SECRET),
        ],
        "image_verify": [{"run": {"command": {"cmd": "test \"$(printf %%s \"$RUN_SECRET\" | sha256sum | cut -c1-16)\" = %s"
                                              % digest(RUN_ENV_SECRET)},
                                  "env": {"RUN_SECRET": RUN_ENV_SECRET}}}],
    }
    env = dict(aws.env, AWS_SECRET_ACCESS_KEY=AWS_SECRET, LEAKY_CONTROLLER_VAR="controller-only-value")
    proc = run(project, definition, "-vvvv", env=env)
    (project.path.parent / "vvvv-output.txt").write_text(proc.output)  # kept for a look after a failure
    assert proc.returncode == 0, proc.output[-4000:]
    private_key_lines = [line for line in open(ssh_target.key).read().splitlines() if "PRIVATE KEY" not in line]
    secrets = [REGISTRY_PASSWORD, AWS_SECRET, BUILD_ENV_SECRET, USER_DATA_SECRET, RUN_ENV_SECRET]
    for secret in secrets + private_key_lines:
        assert secret not in proc.output, "a secret appeared in the -vvvv output: %s" % secret
    # the plan (check mode prints it, at -vvvv too)
    plan = run(project, definition, "--check", "-vvvv", env=env)
    assert plan.returncode == 0, plan.output[-4000:]
    assert not [s for s in secrets if s in plan.output]
    # manifest and SBOMs
    written = [project.path / "manifest.json"] + list(project.path.glob("*.cdx.json"))
    assert len(written) >= 3
    for path in written:
        assert not [s for s in secrets if s in path.read_text()], path
    # image config (Env, labels), container config and history of the artifact
    image = docker_client.images.get("secrets:1.0.0")
    baked = json.dumps(image.attrs) + json.dumps(image.history())
    assert not [s for s in secrets if s in baked] and "BUILD_SECRET" not in baked and "RUN_SECRET" not in baked

    # Nothing from the controller's environment is baked into the image.
    config = docker_client.images.get("secrets:1.0.0").attrs["Config"]
    assert not any("LEAKY_CONTROLLER_VAR" in e or "AWS_" in e for e in config.get("Env") or [])

    # The ec2 builder required IMDSv2.
    instances = [i for r in aws.client("ec2").describe_instances()["Reservations"] for i in r["Instances"]]
    assert instances and all(i["MetadataOptions"]["HttpTokens"] == "required" for i in instances)


VAULT_PASSWORD = "vault-Pass-6620"
VAULTED = {"entry": "ve-Very-Secret-1187", "group_vars": "vg-Very-Secret-3094", "extra": "vx-Very-Secret-4528",
           "check": "vc-Very-Secret-8361"}


def vaulted(project, *args):
    """ansible-vault with the project's password file."""
    subprocess.run(["ansible-vault"] + list(args) + ["--vault-password-file", str(project.path / "vault-pass")],
                   cwd=str(project.path), env=ansible_env(), capture_output=True, text=True, check=True)


def test_vaulted_values_are_never_on_the_controllers_disk_in_the_clear(docker_client, project, remove_images, request):
    # A definition's vault-encrypted values (an entry's vars, an inline check's) were written decrypted into the
    # build's task files in the controller's temporary directory (roles.yml, verify.yml), there for the whole build
    # and after it if the build was killed. They stay encrypted now; ansible-core decrypts them when a task reads
    # them, as in a play. The role checks the controller's TMPDIR while the build's files are there.
    remove_images("vaulted")
    (project.path / "vault-pass").write_text(VAULT_PASSWORD + "\n")
    # short: ansible-core's RPC host puts a socket there, whose path has a length limit
    controller_tmp = tempfile.mkdtemp(prefix="vt-")
    request.addfinalizer(lambda: shutil.rmtree(controller_tmp))
    project.role("vaulted", """
        - name: Write what it was given
          ansible.builtin.copy:
            dest: /secrets.txt
            content: "{{ vaulted_entry }} {{ vaulted_group_vars }} {{ vaulted_extra }}\\n"
            mode: "0600"

        - name: Nothing of the build on the controller holds a secret in the clear
          ansible.builtin.command: grep -rlF %s %s
          register: vaulted_found
          failed_when: vaulted_found.rc != 1
          changed_when: false
          delegate_to: localhost
        """ % (" ".join("-e " + v for v in VAULTED.values()), controller_tmp))
    (project.path / "group_vars" / "all").mkdir(parents=True)
    (project.path / "group_vars" / "all" / "vault.yml").write_text("vaulted_group_vars: %s\n" % VAULTED["group_vars"])
    vaulted(project, "encrypt", "group_vars/all/vault.yml")
    (project.path / "extra.yml").write_text("vaulted_extra: %s\n" % VAULTED["extra"])
    vaulted(project, "encrypt", "extra.yml")
    inline = {}
    for name in ("entry", "check"):
        (project.path / name).write_text(VAULTED[name])
        vaulted(project, "encrypt", name)
        inline[name] = "\n".join("          " + line for line in (project.path / name).read_text().splitlines())
    definition = """
image_name: vaulted
image_version: 1.0.0
image_gather_facts: false
image_roles:
  - role: vaulted
    vars:
      vaulted_entry: !vault |
%s
image_verify:
  - name: The check's own vaulted value is what the role baked in
    ansible.builtin.command: grep -qF "{{ vaulted_check }}" /secrets.txt
    changed_when: false
    vars:
      vaulted_check: !vault |
%s
image_targets:
  - {name: container, type: docker, base_image: %s, pull: never}
""" % (inline["entry"], inline["check"], BASE_IMAGE)
    # the check's value is the entry's: grep finds it in the image
    (project.path / "check").write_text(VAULTED["entry"])
    vaulted(project, "encrypt", "check")
    definition = definition.replace(inline["check"], "\n".join(
        "          " + line for line in (project.path / "check").read_text().splitlines()))
    proc = run_build(project.path, definition, "-e", "@extra.yml", "--vault-password-file", "vault-pass",
                     env={"TMPDIR": controller_tmp})
    assert proc.returncode == 0, proc.output[-4000:]
    assert sh_in_image(docker_client, "vaulted:1.0.0", "cat /secrets.txt") == "%s %s %s\n" % (
        VAULTED["entry"], VAULTED["group_vars"], VAULTED["extra"])
    assert not [v for v in VAULTED.values() if v in proc.output]


def test_build_env_stays_out_of_the_output_when_facts_are_gathered(docker_client, project, remove_images):
    """With the defaults (facts gathered, at the first role that misses the layer cache), the facts hold the
    environment, build_env included, as a play's environment reaches its gathering: a role sees the value there,
    and no step shows it, at -vvvv either."""
    check = ("test \"$(printf %%s \"$BUILD_SECRET\" | sha256sum | cut -c1-16)\" = %s" % digest(BUILD_ENV_SECRET))
    project.role("facts", "\n".join([
        "- name: Use the build secret",
        "  ansible.builtin.command: sh -c '%s'" % check.replace("'", "'\\''"),
        "  changed_when: false",
        "- name: Find it in the facts, as a play's gathering under its environment has it",
        "  ansible.builtin.assert:",
        "    that: (ansible_facts.env.BUILD_SECRET | hash('sha256'))[:16] == '%s'" % digest(BUILD_ENV_SECRET),
        "    quiet: true",
        "# %s: a role of its own, so its layer is not in the cache and the facts are gathered" % uuid.uuid4(),
        ""]))
    remove_images("factsecrets")
    definition = {
        "image_name": "factsecrets", "image_version": "1.0.0", "image_roles": ["facts"], "image_force": True,
        "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never",
                           "build_env": {"BUILD_SECRET": BUILD_ENV_SECRET}}],
    }
    proc = run(project, definition, "-vvvv")
    assert proc.returncode == 0, proc.output[-4000:]
    assert "TASK [facts : Find it in the facts" in proc.output  # it ran, and held (the build succeeded)
    assert BUILD_ENV_SECRET not in proc.output, "build_env's value appeared in the -vvvv output"


def test_builder_is_not_privileged(docker_client, project):
    project.role("breaks", "- name: Fail on purpose\n  ansible.builtin.fail:\n    msg: stop here\n")
    definition = {"image_name": "unprivileged", "image_version": "1.0.0", "image_gather_facts": False,
                  "image_roles": ["breaks"], "image_on_error": "keep",
                  "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never"}]}
    proc = run(project, definition)
    kept = [c for c in build_containers(docker_client) if c.labels["immutable.images.image-name"] == "unprivileged"]
    try:
        assert proc.returncode != 0 and len(kept) == 1
        host_config = kept[0].attrs["HostConfig"]
        assert host_config["Privileged"] is False
        assert not host_config.get("CapAdd")
    finally:
        for c in kept:
            c.remove(force=True)


@pytest.mark.parametrize("versions", [("1.0.0", "2.0.0"), ("3.0.0", "3.0.0")], ids=["different-versions", "same-version"])
def test_two_builds_of_one_image_at_once(docker_client, project, remove_images, versions):
    """Unique build ids and builder names; both succeed; with the same version the loser of the tag race says so."""
    project.role("slowish", "- name: Take a moment\n  ansible.builtin.command: sleep 2\n  changed_when: false\n")
    remove_images("concurrent")
    procs = []
    for i, version in enumerate(versions):
        def_file = project.path / ("def%d.yml" % i)
        def_file.write_text(json.dumps({
            "image_name": "concurrent", "image_version": version, "image_gather_facts": False,
            "image_roles": ["slowish"], "image_manifest": "manifest%d.json" % i,
            "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never",
                               "config": {"env": {"BUILD": str(i)}}}]}))
        procs.append(subprocess.Popen(
            ["ansible-playbook", "immutable.images.build_image", "-e", "@%s" % def_file], cwd=str(project.path),
            env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    manifests = [json.loads((project.path / ("manifest%d.json" % i)).read_text()) for i in range(2)]
    assert manifests[0]["build_id"] != manifests[1]["build_id"]
    assert manifests[0]["targets"][0]["builder"] != manifests[1]["targets"][0]["builder"]
    images = [m["targets"][0]["artifact"]["image_id"] for m in manifests]
    assert images[0] != images[1]
    assert build_containers(docker_client, manifests[0]["build_id"]) == []
    assert build_containers(docker_client, manifests[1]["build_id"]) == []
    if versions[0] != versions[1]:
        for version, image in zip(versions, images):
            assert docker_client.images.get("concurrent:%s" % version).id == image
        # Both tag `latest`, so one may lose that; never its own version tag.
        assert not any("concurrent:%s now points" % v in o for v in versions for o in outputs)
    else:
        # Whoever tagged last holds the tag. It says it took the tag from the other build when the other had tagged
        # before it read the tag (both may read it before either tags: then neither knows); the other says it lost it
        # if its final check runs after that (it may have finished before).
        winner = images.index(docker_client.images.get("concurrent:3.0.0").id)
        loser = 1 - winner
        noted = re.findall(r"concurrent:3\.0\.0 was taken over from build (\S+)", outputs[winner])
        assert noted in ([], [manifests[loser]["build_id"]]), outputs[winner]
        # Both tag `latest` too, each after its version tag, so the winner of 3.0.0 may lose `latest`.
        assert "concurrent:3.0.0 now points" not in outputs[winner]
        if "concurrent:3.0.0 now points" in outputs[loser]:
            assert "concurrent:3.0.0 now points at %s" % images[winner] in outputs[loser]
        # The loser's artifact is still there under its unique tag.
        unique = "concurrent:3.0.0-%s" % manifests[loser]["build_hash"]
        assert docker_client.images.get(unique).id == images[loser]


def test_a_double_trigger_leaves_one_truthful_artifact(docker_client, project, remove_images, registry):
    """Two identical builds started at once (a double CI trigger): both succeed, and both manifests tell the truth.
    The two builds agree on one artifact: the first to finish its commit makes it, the other waits for that build's
    outcome and reuses it. Every tag and the registry's reference point at the image each manifest names, with the
    digest it names (before: the second to tag took every tag, the first's image was deleted as superseded, and
    its manifest still said it had succeeded with it)."""
    name = "guard-double"
    remote = "%s/guard/double" % registry
    remove_images(name)
    remove_images(remote)
    # an artifact of an earlier run (pushed to another registry port) would be reused by both at plan time
    for image in docker_client.images.list(filters={"label": "immutable.images.image-name=" + name}):
        docker_client.images.remove(image.id, force=True)
    def_file = project.path / "def.yml"
    def_file.write_text(json.dumps({
        "image_name": name, "image_version": "1.0.0", "image_gather_facts": False, "image_cache": False,
        "image_roles": [],
        "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never",
                           "push": [remote]}]}))
    procs = [subprocess.Popen(["ansible-playbook", "immutable.images.build_image", "-e", "@%s" % def_file,
                               "-e", "image_manifest=manifest%d.json" % i], cwd=str(project.path), env=ansible_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    manifests = [json.loads((project.path / ("manifest%d.json" % i)).read_text()) for i in range(2)]
    artifacts = [m["targets"][0]["artifact"] for m in manifests]
    image = artifacts[0]["image_id"]
    assert artifacts[1]["image_id"] == image, "two images cannot both hold the same tags"
    made = [m for m, a in zip(manifests, artifacts) if not a.get("reused_from")]
    reused = [(m, a) for m, a in zip(manifests, artifacts) if a.get("reused_from")]
    assert len(made) == 1 and len(reused) == 1, artifacts
    assert reused[0][1]["reused_from"] == made[0]["build_id"]
    assert docker_client.images.get(image).labels["immutable.images.build-id"] == made[0]["build_id"]
    for artifact in artifacts:
        assert artifact["tags"]
        for ref in artifact["tags"]:
            assert docker_client.images.get(ref).id == image, ref
        assert sorted(artifact["digests"]) == sorted(["%s:1.0.0" % remote, "%s:1.0.0-%s" % (
            remote, manifests[0]["build_hash"]), "%s:latest" % remote])
    # the registry holds what both manifests say they pushed
    assert artifacts[0]["digests"] == artifacts[1]["digests"]
    for ref, digest in artifacts[0]["digests"].items():
        answer = requests.head("http://%s/v2/guard/double/manifests/%s" % (registry, ref.rsplit(":", 1)[1]), headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json"}, timeout=10)
        assert answer.headers["Docker-Content-Digest"] == digest, ref
    assert "(already built by build %s: reused)" % made[0]["build_id"] in outputs[manifests.index(reused[0][0])]
    for m in manifests:
        assert build_containers(docker_client, m["build_id"]) == []
