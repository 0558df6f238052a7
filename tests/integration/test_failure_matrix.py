# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A failure injected at each stage: non-zero exit, one message naming target, stage and cause, and
zero leftovers, checked by asking Docker and the moto server directly."""

import json
import os
import re
import subprocess

import pytest

from conftest import BASE_IMAGE, ansible_env, engine_state, new_resources, run_build
from test_ec2_build import assert_no_builder_left, ec2_target, import_key

pytestmark = [pytest.mark.docker, pytest.mark.slow]

OK_ROLE = "- name: Do nothing\n  ansible.builtin.command: 'true'\n  changed_when: false\n"
BREAKS = "- name: Fail on purpose\n  ansible.builtin.fail:\n    msg: injected failure\n"
# An include that fails to load: ansible-core rescues it without ansible_failed_result, and kept the builder among the
# play's failed hosts, which skipped the finalize play (no manifest) and exited 0.
# A role that ends the play for its host, as roles do on a platform they do not support: no image with the later
# roles missing.
ENDS_HOST = "- name: End the play for this host\n  ansible.builtin.meta: end_host\n"
INCLUDES_MISSING = "- name: Include a role that is not there\n  ansible.builtin.include_role:\n    name: not_there\n"
# The builder's container removed under the build's feet (as the kernel's out-of-memory killer or an engine restart
# would end it): the next task fails the target, and the finalize play still runs and reports it. Before, the builder
# was unreachable, and ansible-playbook stopped before the finalize play: no summary, exit code 4.
REMOVES_BUILDER = """- name: Remove the builder
  ansible.builtin.command: docker rm -f {{ image_target.builder.name }}
  delegate_to: localhost
  changed_when: true
- name: Run something on it
  ansible.builtin.command: 'true'
  changed_when: false
"""
# Stand-ins for a vulnerability scanner (the scan gate runs right before the commit). One makes the
# builder disappear under the build's feet at that moment and reports nothing; one reports a critical finding.
RENAMING_SCANNER = """#!/bin/sh
for id in $(docker ps -q --filter label=immutable.images.image-name=matrix-commit --filter label=immutable.images.kind=builder); do
  docker rename "$id" "matrix-commit-renamed-$id" >&2
done
echo '{"Results": []}'
"""
CRITICAL_SCANNER = """#!/bin/sh
echo '{"Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-2099-0002", "PkgName": "bash", "Severity": "CRITICAL"}]}]}'
"""


def docker_case(project, name, roles=("ok",), files=None, cache=True, verify=(), **target):
    spec = {"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never"}
    spec.update(target)
    definition = {"image_name": name, "image_version": "1.0.0", "image_gather_facts": False,
                  "image_cache": cache, "image_roles": list(roles), "image_targets": [spec],
                  "image_verify": list(verify)}
    if files:
        definition["image_files"] = files
    return definition


DOCKER_CASES = [
    # (stage, definition changes, expected message)
    ("launch", dict(base_image="immutable-images/does-not-exist:1"),
     "target container: failed at stage launch: base image immutable-images/does-not-exist:1 is not present"),
    ("upload", dict(files=[{"src": "files/", "dest": "/etc/hostname/sub"}]),
     "target container: failed at stage upload"),
    ("role-2-of-3", dict(roles=["ok", "breaks", "ok"]),
     "target container: failed at stage provision in task 'Fail on purpose': injected failure"),
    ("include-fails-to-load", dict(roles=["ok", "includes_missing"]),
     "target container: failed at stage provision: stopped without a failed task of its own: an include "
     "(include_role, include_tasks) failed to load (its error is in the output above)"),
    ("role-ends-host", dict(roles=["ok", "ends_host", "ok"]),
     "target container: failed at stage provision: the builder never finished provisioning (unreachable, "
     "interrupted, or a role ended the play for it with meta end_host or end_play)"),
    ("builder-gone", dict(roles=["ok", "removes_builder", "ok"]),
     "target container: failed at stage provision in task 'Run something on it': Task failed: the builder "
     "immutable-matrix-builder-gone-container-"),
    ("verify", dict(verify=[{"ansible.builtin.assert": {"that": ["false"], "fail_msg": "injected check failure"}}]),
     "target container: failed at stage verify in task 'Verify 1: ansible.builtin.assert': injected check failure"),
    ("scan", dict(scanner=CRITICAL_SCANNER), "target container: failed at stage scan"),
    ("commit", dict(scanner=RENAMING_SCANNER), "target container: failed at stage commit"),
    ("push", dict(push=["127.0.0.1:9/nowhere/image"]), "target container: failed at stage push"),
    ("save", dict(save="out"), "target container: failed at stage save"),
]


@pytest.mark.parametrize("stage,changes,expected", DOCKER_CASES, ids=[c[0] for c in DOCKER_CASES])
def test_docker_stage_failure_leaves_nothing(docker_client, project, stage, changes, expected):
    project.role("ok", OK_ROLE)
    project.role("breaks", BREAKS)
    project.role("includes_missing", INCLUDES_MISSING)
    project.role("ends_host", ENDS_HOST)
    project.role("removes_builder", REMOVES_BUILDER)
    changes = dict(changes)
    env = None
    if changes.get("scanner"):
        bindir = project.path / "bin"
        bindir.mkdir()
        (bindir / "trivy").write_text(changes.pop("scanner"))
        (bindir / "trivy").chmod(0o755)
        env = {"PATH": "%s:%s" % (bindir, os.environ["PATH"])}
    project.file("files/a.txt", "a\n")
    (project.path / "out").mkdir()
    name = "matrix-" + stage
    # An earlier version of the image: its tags must be where they were after the failed build.
    docker_client.images.get(BASE_IMAGE).tag(name, "latest")
    try:
        definition = docker_case(project, name, **changes)
        before = engine_state(docker_client)
        proc = run_build(project.path, definition, env=env)
        assert proc.returncode != 0
        assert expected in proc.output, proc.output[-4000:]
        assert new_resources(docker_client, before, name) == {"containers": [], "images": []}
        assert docker_client.images.get(name + ":latest").id == docker_client.images.get(BASE_IMAGE).id
        assert [t for i in docker_client.images.list(name=name) for t in i.tags if t.startswith(name + ":")] \
            == [name + ":latest"]
    finally:
        docker_client.images.remove(name + ":latest")


def test_one_of_several_docker_targets_failing_at_launch_leaves_nothing(docker_client, project):
    """The builders of a definition's docker targets start at once: the one that cannot start is named, and the
    others, started meanwhile with their sessions, are removed with it."""
    project.role("ok", OK_ROLE)
    name = "matrix-launch-some"
    definition = docker_case(project, name)
    good = dict(definition["image_targets"][0])
    definition["image_targets"] = [dict(good, name="first", tags=["first"]),
                                   dict(good, name="broken", tags=["broken"], base_image="immutable-images/does-not-exist:1"),
                                   dict(good, name="third", tags=["third"])]
    before = engine_state(docker_client)
    proc = run_build(project.path, definition)
    assert proc.returncode != 0
    assert "target broken: failed at stage launch: base image immutable-images/does-not-exist:1 is not present" in proc.output, \
        proc.output[-4000:]
    assert "target first:" not in proc.output.split("Report why the builders could not be started", 1)[-1]
    # the other two had started (at once with it): the launch's rescue removed them
    assert re.search(r"TASK \[immutable.images.launch : Remove every builder this build started\] \**\nchanged:",
                     proc.output), proc.output[-4000:]
    assert new_resources(docker_client, before, name) == {"containers": [], "images": []}


OWN_PLAYBOOK = """
- name: Launch
  hosts: localhost
  gather_facts: false
  roles: [immutable.images.launch]
- name: Provision
  hosts: image_builders
  gather_facts: false
  roles: [immutable.images.provision]
- name: Finalize
  hosts: localhost
  gather_facts: false
  roles: [immutable.images.finalize]
"""


def two_targets_one_failing(project, name):
    project.role("breaks_on_first", "- ansible.builtin.fail: {msg: injected failure}\n"
                                    "  when: image_target.name == 'first'\n")
    definition = docker_case(project, name, roles=["breaks_on_first"])
    good = dict(definition["image_targets"][0])
    definition["image_targets"] = [dict(good, name="first", tags=["first"]), dict(good, name="second", tags=["second"])]
    return definition


def test_with_any_errors_fatal_a_failing_target_does_not_stop_another(docker_client, project, remove_images):
    """build_image runs each target's roles as a play of its own would (the free strategy, with several builders): a
    failure on one under any_errors_fatal (ansible.cfg) is that target's, and the other target's image is made."""
    name = "matrix-fatal"
    remove_images(name)
    before = engine_state(docker_client)
    proc = run_build(project.path, two_targets_one_failing(project, name), env={"ANSIBLE_ANY_ERRORS_FATAL": "true"})
    assert proc.returncode != 0
    assert "target first: failed at stage provision: injected failure" in proc.output, proc.output[-4000:]
    assert "target second: failed" not in proc.output, proc.output[-4000:]
    assert docker_client.images.get(name + ":second").labels["immutable.images.target"] == "second"
    assert new_resources(docker_client, before, name)["containers"] == []


def test_with_any_errors_fatal_in_a_playbook_of_your_own_the_stopped_builder_says_why(docker_client, project):
    """In a playbook of one's own the provision play has the configured strategy (linear): any_errors_fatal fails
    every builder when one fails, as it does every host of a play. The others have no failed task of their own, and
    their record says what stopped them."""
    name = "matrix-fatal-own"
    (project.path / "own.yml").write_text(OWN_PLAYBOOK)
    (project.path / "own-definition.json").write_text(json.dumps(two_targets_one_failing(project, name)))
    before = engine_state(docker_client)
    proc = subprocess.run(["ansible-playbook", "own.yml", "-e", "@own-definition.json"], cwd=str(project.path),
                          env=ansible_env({"ANSIBLE_ANY_ERRORS_FATAL": "true"}), capture_output=True, text=True,
                          timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "target first: failed at stage provision: injected failure" in output, output[-4000:]
    assert "target second: failed at stage provision: stopped without a failed task of its own" in output
    assert "any_errors_fatal stopped it after another builder failed" in output
    assert new_resources(docker_client, before, name) == {"containers": [], "images": []}


EC2_CASES = [
    ("launch", dict(source_ami_filter={"name": "no-such-image-*", "owners": ["amazon"]}),
     "target aws: failed at stage launch"),
    ("scrub", dict(roles=["breaks_find"]), "target aws: failed at stage scrub"),
    ("publish", dict(publish_parameter="/aws/reserved/name", copy_to_regions=["eu-west-1"]),
     "target aws: failed at stage publish"),
]
BREAKS_FIND = """
- name: Break find (the scrub uses it)
  ansible.builtin.copy:
    content: "#!/bin/sh\\nexit 3\\n"
    dest: /usr/bin/find
    mode: "0755"
"""


@pytest.mark.aws
@pytest.mark.parametrize("stage,changes,expected", EC2_CASES, ids=[c[0] for c in EC2_CASES])
def test_ec2_stage_failure_leaves_nothing(aws, ssh_target, project, stage, changes, expected):
    import_key(aws, ssh_target, ("us-east-1", "eu-west-1"))
    project.role("ok", OK_ROLE)
    project.role("breaks_find", BREAKS_FIND)
    roles = changes.pop("roles", ["ok"])
    definition = {"image_name": "matrix-" + stage, "image_version": "1.0.0", "image_gather_facts": False,
                  "image_roles": roles, "image_manifest": "manifest.json",
                  "image_targets": [ec2_target(ssh_target, **changes)]}
    proc = run_build(project.path, definition, env=aws.env)
    assert proc.returncode != 0
    assert expected in proc.output, proc.output[-4000:]
    for region in ("us-east-1", "eu-west-1"):
        ec2 = aws.client("ec2", region)
        assert ec2.describe_images(Owners=["self"])["Images"] == [], "an AMI of the failed build is left in " + region
        ours = [{"Name": "tag-key", "Values": ["immutable.images.build-id"]}]
        assert ec2.describe_snapshots(OwnerIds=["self"], Filters=ours)["Snapshots"] == []
    manifest = project.path / "manifest.json"
    if manifest.exists():
        assert_no_builder_left(aws, json.loads(manifest.read_text())["build_id"], ("us-east-1", "eu-west-1"))
    ec2 = aws.client("ec2")
    live = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] not in ("terminated", "shutting-down")]
    assert live == []
    assert {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]} == {"itest-key"}
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == ["default"]
