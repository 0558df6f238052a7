# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A build run the way AWX or a CI runner runs it: `ansible-playbook` inside a container (an execution
environment) with the engine socket mounted, cancelled by stopping that container, or lost by killing it.

The controller's Python (the venv and the pyenv Python it links to) and the collections are mounted
read-only at their own paths into a Debian container; `--init` forwards `docker stop`'s SIGTERM to
ansible-playbook as AWX's and CI runners' init processes do. Every process of the job dies with the
container, the detached build guard included: what removes the builder is the handler in ansible-playbook's
own process (stop) and the builder's own lease (kill).
"""

import json
import os
import sys
import time

import pytest

from conftest import BASE_IMAGE, ROOT, ansible_env, build_containers, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SLOW_ROLE = """
- name: Take a long time
  ansible.builtin.command: sleep 300
  changed_when: false
"""


def mounts():
    """Host paths the job needs, each at its own path: the venv, the Python it links to, the collections
    (with the targets of their links: the collection under test is this worktree)."""
    venv = os.path.dirname(os.path.dirname(sys.executable))
    paths = {venv,
             os.path.realpath(venv),  # a venv that is a link (a worktree's): its scripts' #! name the real path
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))),  # the Python it links to
             os.path.realpath(ROOT)}
    collections = ansible_env()["ANSIBLE_COLLECTIONS_PATH"]
    paths.add(os.path.realpath(collections))
    for root, dirs, _files in os.walk(collections):
        paths.update(os.path.realpath(os.path.join(root, d)) for d in dirs if os.path.islink(os.path.join(root, d)))
    paths = sorted(paths)
    return [p for p in paths if not any(p.startswith(q + os.sep) for q in paths)]  # one mount covers its subpaths


def start_job(docker_client, project, name, engine=None):
    """The job's container; with `engine` (engines.Engine) an EE without a socket: the builder is on that engine,
    reached over TCP with mutual TLS (the job shares the host's network, as a pod reaching a build host)."""
    project.role("slow", SLOW_ROLE)
    target = {"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never"}
    if engine is not None:
        target.update(docker_host=engine.url, tls=engine.tls)
    (project.path / "slow.yml").write_text(
        "image_name: %s\nimage_version: 1.0.0\nimage_gather_facts: false\nimage_roles: [slow]\n"
        "image_targets:\n  - %s\n" % (name, json.dumps(target)))
    env = {k: v for k, v in ansible_env().items() if k.startswith("ANSIBLE_") or k == "PYTHONUNBUFFERED"}
    env.update(HOME="/tmp", PATH="%s:/usr/bin:/bin" % os.path.dirname(sys.executable))
    volumes = {p: {"bind": p, "mode": "ro"} for p in mounts()}
    volumes[str(project.path)] = {"bind": str(project.path), "mode": "rw"}
    if engine is None:
        volumes["/var/run/docker.sock"] = {"bind": "/var/run/docker.sock", "mode": "rw"}
    else:
        volumes[engine.certs] = {"bind": engine.certs, "mode": "ro"}
    return docker_client.containers.run(
        BASE_IMAGE, [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "immutable.images.build_image",
                     "-e", "@slow.yml"],
        name="guard-job-" + name, detach=True, init=True, network_mode="host", working_dir=str(project.path),
        environment=env, volumes=volumes, labels={"guard-test": name})


def ours(client, name):
    return [c for c in build_containers(client) if c.labels.get("immutable.images.image-name") == name]


def wait_for_provisioning(docker_client, job, name):
    def sleeping():
        for c in ours(docker_client, name):
            try:
                return any("sleep 300" in " ".join(p) for p in c.top()["Processes"])
            except Exception:  # noqa: BLE001 - not started yet
                return False
        job.reload()
        assert job.status == "running", job.logs().decode(errors="replace")[-3000:]
        return False
    wait_until(sleeping, 180, "the builder to be provisioning")


@pytest.mark.parametrize("how", ["stop", "kill", "kill-remote"])
def test_cancelled_or_lost_job_leaves_no_builder(docker_client, project, how, request):
    """kill-remote: an EE without a Docker socket whose builder is on the second engine (over TCP with mutual
    TLS), lost by SIGKILL: the builder's lease, held over TCP, ends with the job, and that engine removes it."""
    name = "guard-job" + how.replace("-", "")
    engine = request.getfixturevalue("tls_engine") if how == "kill-remote" else None
    builders_client = engine.client() if engine else docker_client
    job = start_job(docker_client, project, name, engine)
    try:
        wait_for_provisioning(builders_client, job, name)
        if how == "stop":  # AWX's cancel, a CI timeout: SIGTERM, SIGKILL after the grace period
            job.stop(timeout=10)
        else:  # a lost node: SIGKILL at once, for every process of the job
            job.kill()
        status = job.wait(timeout=60)
        ended = time.monotonic()
        logs = job.logs().decode(errors="replace")
        if how == "stop":
            assert status["StatusCode"] != 0, logs[-3000:]
            assert "removing the temporary resources of build" in logs, logs[-3000:]
            # Cleaned before the job's main process exited: nothing to wait for.
            wait_until(lambda: ours(docker_client, name) == [], 30, "the builder to be gone")
        else:
            wait_until(lambda: ours(builders_client, name) == [], 60, "the builder to remove itself")
        took = time.monotonic() - ended
        print("%s: builder gone %.1f s after the job ended" % (how, took))
    finally:
        job.remove(force=True)
        for c in ours(builders_client, name):
            c.remove(force=True)
