# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleets: the inventory of definitions and build_all on the local engine, as a user runs them.

One run of eight definitions (six good, one whose role fails, one invalid) with forks 4; a rerun that reuses
everything and creates no container; a forced rebuild whose every layer is cached, which starts no builder; two
ansible-runner slices of a fleet at once. (The fleet against the
same builds one by one is a measurement, not a test: docs/scale-out.md has the figures.)
"""

import json
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest
import yaml

from conftest import BASE_IMAGE, ROOT, ansible_env, build_containers, engine_state, new_resources, remove_named_images

pytestmark = [pytest.mark.docker, pytest.mark.slow]

AWX_PROJECT = os.path.join(ROOT, "examples", "awx-project")
ROLE = """\
- name: Write the greeting the definition gives
  ansible.builtin.copy:
    dest: /etc/fleet-greeting
    content: "{{ fleet_greeting }}\\n"
    mode: "0644"
"""
FAILING_ROLE = """\
- name: Fail on purpose
  ansible.builtin.command: /bin/false
  changed_when: false
"""


def definition(name, role="fleetrole", **extra):
    # no layer cache: every build does its own work, as in the figures of docs/scale-out.md
    data = {"image_name": name, "image_version": "1.0.0", "image_gather_facts": False, "image_roles": [role],
            "image_cache": False,
            "image_manifest": "manifests/%s.json" % name, "fleet_greeting": "hello from %s" % name,
            "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never"}]}
    data.update(extra)
    return data


def make_project(path, definitions):
    (path / "roles" / "fleetrole" / "tasks").mkdir(parents=True)
    (path / "roles" / "fleetrole" / "tasks" / "main.yml").write_text(ROLE)
    (path / "roles" / "fleetboom" / "tasks").mkdir(parents=True)
    (path / "roles" / "fleetboom" / "tasks" / "main.yml").write_text(FAILING_ROLE)
    (path / "images").mkdir()
    (path / "manifests").mkdir()
    for d in definitions:
        (path / "images" / ("%s.yml" % d["image_name"])).write_text(yaml.safe_dump(d, sort_keys=False))
    (path / "fleet.definitions.yml").write_text("plugin: immutable.images.definitions\npaths: [images]\n")


def playbook(cwd, *args):
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook"] + list(args), cwd=str(cwd), env=ansible_env(), capture_output=True,
                          text=True, timeout=900, check=False)
    proc.wall = time.monotonic() - started
    proc.output = proc.stdout + proc.stderr
    return proc


def build_all(cwd, *args):
    return playbook(cwd, "-i", "fleet.definitions.yml", "immutable.images.build_all", "-f", "4", *args)


def recap(output):
    """host -> failed count, from the PLAY RECAP."""
    lines = output.split("PLAY RECAP", 1)[1].splitlines()[1:]
    return {line.split()[0]: int(line.split("failed=")[1].split()[0]) for line in lines if "failed=" in line}


def containers_created(client, since, until, names, event="create"):
    events = client.events(since=since, until=until, filters={"type": "container", "event": event}, decode=True)
    return [e["Actor"]["Attributes"].get("name") for e in events
            if any("-%s-" % n in e["Actor"]["Attributes"].get("name", "") for n in names)]


@pytest.fixture
def fleet_images(docker_client):
    names = []
    yield names
    remove_named_images(docker_client, names)
    for c in build_containers(docker_client):
        if c.labels.get("immutable.images.image-name") in names:
            c.remove(force=True)


def test_fleet(docker_client, tmp_path, fleet_images):
    uid = uuid.uuid4().hex[:6]
    good = ["fleet-%s-%d" % (uid, i) for i in range(1, 7)]
    bad, invalid = "fleet-%s-bad" % uid, "fleet-%s-invalid" % uid
    fleet_images += good + [bad, invalid] + ["immutable-images-cache/" + n for n in good + [bad]]
    definitions = [definition(n) for n in good] + [definition(bad, role="fleetboom"),
                                                   definition(invalid, image_version="not-semver")]
    make_project(tmp_path, definitions)
    before = engine_state(docker_client)

    # 1. all eight at once: the two bad ones fail alone
    run = build_all(tmp_path)
    assert run.returncode != 0, run.output[-4000:]
    failed_hosts = {h for h, n in recap(run.output).items() if n}
    assert failed_hosts == {bad, invalid}, run.output[-6000:]
    fleet = json.loads((tmp_path / "fleet-manifest.json").read_text())
    by_name = {e["name"]: e for e in fleet["definitions"]}
    assert fleet["status"] == "failed" and sorted(fleet["failed"]) == sorted([bad, invalid])
    assert fleet["counts"] == {"built": 6, "reused": 0, "failed": 2}
    assert by_name[bad]["error"]["stage"] == "provision" and "Fail on purpose" in by_name[bad]["error"]["message"]
    assert by_name[invalid]["error"]["stage"] == "validate" and "image_version" in by_name[invalid]["error"]["message"]
    for name in good:
        entry = by_name[name]
        assert entry["status"] == "built" and entry["manifest"] == str(tmp_path / "manifests" / ("%s.json" % name))
        own = json.loads((tmp_path / "manifests" / ("%s.json" % name)).read_text())
        assert own["status"] == "succeeded" and own["build_id"] == entry["build_id"]
        assert (tmp_path / "manifests" / ("%s-1.0.0-container.cdx.json" % name)).exists()  # SBOM, as build_image
    # each builder saw its own definition's variables (as extra vars of build_image)
    out = docker_client.containers.run("%s:1.0.0" % good[2], ["cat", "/etc/fleet-greeting"], remove=True)
    assert out.decode().strip() == "hello from %s" % good[2]
    assert len({by_name[n]["build_id"] for n in good}) == 6
    for name in good + [bad, invalid]:
        assert new_resources(docker_client, before, name)["containers"] == [], name
    assert not new_resources(docker_client, before, bad)["images"]

    # 2. a limit that leaves out the builders' group is refused before anything starts
    limited = build_all(tmp_path, "--limit", good[0])
    assert limited.returncode != 0 and "leaves out the builders" in limited.output, limited.output[-3000:]
    assert "TASK [" not in limited.output, "refused before the first task"
    for option in (["--start-at-task", "Provision the builders"], ["--step"]):  # as build_image refuses them
        refused = build_all(tmp_path, *option)
        assert refused.returncode != 0 and "do not support %s" % option[0] in refused.output, refused.output[-3000:]

    # 3. a rerun of the six rebuilds nothing: no container is created
    since = time.time() - 1
    limit = ",".join(good + ["image_builders"])  # a limit must let the builders through (build_all checks)
    rerun = build_all(tmp_path, "--limit", limit, "-e", "image_fleet_manifest=rerun-manifest.json")
    assert rerun.returncode == 0, rerun.output[-4000:]
    print("rerun, all reused: %.1f s" % rerun.wall)
    assert containers_created(docker_client, since, time.time() + 1, good) == []
    fleet = json.loads((tmp_path / "rerun-manifest.json").read_text())
    assert fleet["counts"] == {"built": 0, "reused": 6, "failed": 0}, fleet

    # 4. with the layer cache, a forced rebuild whose every layer is cached starts no builder (build_all, as
    # build_image, runs no play of its own on them): the provision play has no host
    two = ",".join(good[:2] + ["image_builders"])
    cached_args = ("--limit", two, "-e", "image_cache=true", "-e", "image_force=true",
                   "-e", "image_fleet_manifest=cached-manifest.json")
    stored = build_all(tmp_path, *cached_args)
    assert stored.returncode == 0, stored.output[-4000:]
    since = time.time() - 1
    cached = build_all(tmp_path, *cached_args)
    assert cached.returncode == 0, cached.output[-4000:]
    assert cached.output.count("builder: not started") == 2, cached.output[-6000:]
    assert re.search(r"PLAY \[Provision the builders\] \**\nskipping: no hosts matched", cached.output), cached.output
    assert containers_created(docker_client, since, time.time() + 1, good[:2], event="start") == []
    fleet = json.loads((tmp_path / "cached-manifest.json").read_text())
    assert fleet["counts"] == {"built": 2, "reused": 0, "failed": 0}, fleet

    for name in good + [bad, invalid]:
        assert new_resources(docker_client, before, name)["containers"] == [], name


def test_two_awx_slices_at_once(docker_client, tmp_path, fleet_images):
    """AWX job slicing: each slice is its own ansible-playbook run (here ansible-runner with its own private data
    directory and project checkout, as AWX gives every job) over part of the inventory's hosts."""
    ansible_runner = pytest.importorskip("ansible_runner")
    uid = uuid.uuid4().hex[:6]
    names = ["fleet-%s-s%d" % (uid, i) for i in range(1, 5)]
    fleet_images += names + ["immutable-images-cache/" + n for n in names]
    slices = [names[0::2], names[1::2]]  # AWX deals hosts out to slices in turn
    before = engine_state(docker_client)
    collections = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.path.join(ROOT, ".deps", "collections")
    runs = []
    for i, hosts in enumerate(slices):
        pdd = tmp_path / ("slice%d" % i)
        project = pdd / "project"
        project.mkdir(parents=True)
        make_project(project, [definition(n) for n in names])
        shutil.copy(os.path.join(AWX_PROJECT, "build_all.yml"), project / "build_all.yml")
        (pdd / "env").mkdir()
        (pdd / "env" / "envvars").write_text(yaml.safe_dump({
            "ANSIBLE_COLLECTIONS_PATH": collections, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0"}))
        # AWX gives a slice job the slice's hosts, with their variables, as its inventory: here a definitions
        # inventory of the slice's files
        (project / "slice.definitions.yml").write_text(yaml.safe_dump({
            "plugin": "immutable.images.definitions", "paths": ["images/%s.yml" % n for n in hosts]}))
        _thread, runner = ansible_runner.run_async(
            private_data_dir=str(pdd), playbook="build_all.yml", inventory=str(project / "slice.definitions.yml"),
            forks=2, quiet=True, timeout=900)
        runs.append((pdd, hosts, _thread, runner))
    for pdd, hosts, thread, runner in runs:
        thread.join(900)
        stdout = (pdd / "artifacts" / runner.config.ident / "stdout").read_text()
        assert runner.status == "successful", stdout[-6000:]
        fleet = json.loads((pdd / "project" / "fleet-manifest.json").read_text())
        assert sorted(e["name"] for e in fleet["definitions"]) == sorted(hosts)  # its share, and only that
        assert fleet["counts"]["built"] == 2
        stats = [e for e in runner.events if e["event"] == "playbook_on_stats"][0]["event_data"]
        assert stats["artifact_data"]["image_fleet"]["status"] == "succeeded"  # the job's artifacts in AWX
        for name in hosts:
            assert (pdd / "project" / "manifests" / ("%s.json" % name)).exists()
            assert not (pdd / "project" / "manifests" / ("%s.json" % [n for n in names if n not in hosts][0])).exists()
    for name in names:
        docker_client.images.get("%s:1.0.0" % name)
        assert new_resources(docker_client, before, name)["containers"] == [], name


def test_awx_example_has_the_fleet_wrapper_and_inventory_source():
    """The job template playbook and the inventory source docs/awx.md describes."""
    text = open(os.path.join(AWX_PROJECT, "images.definitions.yml")).read()
    assert yaml.safe_load(text) == {"plugin": "immutable.images.definitions", "paths": ["images"]}
    plays = yaml.safe_load(open(os.path.join(AWX_PROJECT, "build_all.yml")).read())
    assert plays[0]["ansible.builtin.import_playbook"] == "immutable.images.build_all"
