"""A pool of engines (image_engines): the local engine and the second dockerd with mutual TLS (engines.py).

A fleet on the pool with forks 4 uses both engines, a failing role fails its definition alone, and a rerun creates
no container on either engine; an engine stopped while a build is in its roles fails that build naming the engine,
the build on the other engine succeeds and leaves nothing there, and the janitor cleans the stopped engine once it
is back (the base image of those builds is only on the local engine: copied to the other with `pull: never`).
Every image is named pool-*.
"""

import json
import subprocess
import threading
import time
import uuid

import pytest

from conftest import BASE_IMAGE, ansible_env, build_containers, engine_state, new_resources, remove_named_images
from test_fleet import build_all, containers_created, definition, make_project, recap

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LOCAL = "unix:///var/run/docker.sock"
SLEEPY_ROLE = """\
- name: Take a while
  ansible.builtin.command: sleep 20
  changed_when: false
"""


def pool_of(tls_engine, max_builds=2):
    # the local engine without a limit, the TLS engine with one: however busy the shared local engine is, the
    # TLS engine takes at most max_builds of the fleet and the local one the rest
    return [LOCAL, {"docker_host": tls_engine.url, "tls": tls_engine.tls, "max_builds": max_builds}]


def remove_images(clients, names):
    for client in clients:
        remove_named_images(client, names)


@pytest.fixture
def pool_images(docker_client, tls_engine):
    names = []
    yield names
    remove_images([docker_client, tls_engine.client()], names + ["immutable-images-cache/" + n for n in names])


def test_fleet_on_a_pool_of_two_engines(docker_client, tls_engine, tmp_path, pool_images):
    uid = uuid.uuid4().hex[:6]
    good = ["pool-%s-%d" % (uid, i) for i in range(1, 6)]
    bad = "pool-%s-bad" % uid
    pool_images += good + [bad]
    engines = pool_of(tls_engine)
    make_project(tmp_path, [definition(n, image_engines=engines) for n in good]
                 + [definition(bad, role="fleetboom", image_engines=engines)])
    remote = tls_engine.client()
    before, before_remote = engine_state(docker_client), engine_state(remote)

    run = build_all(tmp_path)
    assert run.returncode != 0, run.output[-4000:]
    assert {h for h, n in recap(run.output).items() if n} == {bad}, run.output[-6000:]
    fleet = json.loads((tmp_path / "fleet-manifest.json").read_text())
    assert fleet["counts"] == {"built": 5, "reused": 0, "failed": 1}, fleet
    assert "placed on" in run.output and "base image present on" in run.output
    used = {}
    for name in good:
        target = json.loads((tmp_path / "manifests" / ("%s.json" % name)).read_text())["targets"][0]
        assert target["engine"] in (LOCAL, tls_engine.url), target
        used.setdefault(target["engine"], []).append(name)
        # the artifact is on the engine the manifest names, and only there
        there, elsewhere = (remote, docker_client) if target["engine"] == tls_engine.url else (docker_client, remote)
        there.images.get("%s:1.0.0" % name)
        assert not elsewhere.images.list(name=name), name
    assert set(used) == {LOCAL, tls_engine.url}, used  # both engines used
    assert len(used[tls_engine.url]) <= 5
    for name in good + [bad]:
        assert new_resources(docker_client, before, name)["containers"] == [], name
        assert new_resources(remote, before_remote, name)["containers"] == [], name
    assert not new_resources(docker_client, before, bad)["images"] and not new_resources(remote, before_remote, bad)["images"]

    # a rerun reuses every artifact where it is: no container is created on either engine
    since = time.time() - 1
    rerun = build_all(tmp_path, "--limit", ",".join(good + ["image_builders"]), "-e", "image_fleet_manifest=rerun.json")
    assert rerun.returncode == 0, rerun.output[-4000:]
    assert json.loads((tmp_path / "rerun.json").read_text())["counts"] == {"built": 0, "reused": 5, "failed": 0}
    until = time.time() + 1
    assert containers_created(docker_client, since, until, good) == []
    assert containers_created(remote, since, until, good) == []


def test_engine_stopped_mid_build_fails_its_builds_alone_and_janitor_cleans_it(
        docker_client, tls_engine, tmp_path, pool_images):
    """Stops the TLS engine (and starts it again)."""
    uid = uuid.uuid4().hex[:6]
    names, base = ["pool-%s-a" % uid, "pool-%s-b" % uid], "pool-%s-base:1" % uid
    pool_images += names + [base.split(":", maxsplit=1)[0]]
    # a base image only on the local engine (pull: never): copied to the TLS engine for the build placed there
    docker_client.images.get(BASE_IMAGE).tag(base)
    # a stand-in for a build of someone else on the local engine: with it, the TLS engine (max_builds 1) is the
    # least busy for the first builder and full for the second, so one build goes to each engine
    busy = docker_client.containers.run(BASE_IMAGE, ["sleep", "600"], detach=True, name="pool-%s-busy" % uid,
                                        labels={"immutable.images.kind": "builder"})
    try:
        targets = [{"name": "container", "type": "docker", "base_image": base, "pull": "never"}]
        make_project(tmp_path, [definition(n, role="fleetsleep", image_engines=pool_of(tls_engine, max_builds=1),
                                           image_targets=targets) for n in names])
        (tmp_path / "roles" / "fleetsleep" / "tasks").mkdir(parents=True)
        (tmp_path / "roles" / "fleetsleep" / "tasks" / "main.yml").write_text(SLEEPY_ROLE)
        remote, before = tls_engine.client(), engine_state(docker_client)
        on_tls = []

        def stop_once_its_role_runs():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    for c in build_containers(remote):
                        if c.status == "running" and "sleep 20" in json.dumps(c.top()):
                            on_tls.append(c.labels["immutable.images.image-name"])
                            tls_engine.stop()
                            return
                except Exception:  # noqa: BLE001 - the engine may be busy; try again
                    pass
                time.sleep(0.5)

        stopper = threading.Thread(target=stop_once_its_role_runs)
        stopper.start()
        try:
            run = build_all(tmp_path, "-f", "2")
        finally:
            stopper.join()
            tls_engine.start()
        assert on_tls, run.output[-6000:]
        assert "base image copied from %s to %s" % (LOCAL, tls_engine.url) in run.output, run.output[-6000:]
        survivor = [n for n in names if n not in on_tls][0]
        assert (tmp_path / "fleet-manifest.json").exists(), "no fleet manifest (exit %d):\n%s" % (
            run.returncode, run.output[-8000:])
        fleet = {e["name"]: e for e in json.loads((tmp_path / "fleet-manifest.json").read_text())["definitions"]}
        assert fleet[on_tls[0]]["status"] == "failed", fleet
        assert tls_engine.url in fleet[on_tls[0]]["error"]["message"], run.output[-8000:]
        assert fleet[survivor]["status"] == "built", fleet
        docker_client.images.get("%s:1.0.0" % survivor)
        assert [c.name for c in build_containers(docker_client) if c.labels.get("immutable.images.image-name") in names] == []
        assert new_resources(docker_client, before, on_tls[0]) == {"containers": [], "images": []}
    finally:
        busy.remove(force=True)
    cleanup = subprocess.run(
        ["ansible-playbook", "immutable.images.cleanup", "-e", json.dumps(
            {"cleanup_max_age": "1s", "cleanup_docker_hosts": [{"docker_host": tls_engine.url, "tls": tls_engine.tls}],
             "cleanup_image_names": names})],
        cwd=str(tmp_path), env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert [c.name for c in build_containers(tls_engine.client()) if c.labels.get("immutable.images.image-name") in names] == []
