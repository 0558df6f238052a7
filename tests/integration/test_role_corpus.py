# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Role compatibility corpus: real, unchanged third-party roles (DebOps, from PyPI, and community.zabbix's agent role,
from the `ansible` wheel) give the same system in an image as in a plain play.

The roles of tests/integration/corpus/debops.yml run two or three times: (a) by a plain `ansible-playbook` against a
container started exactly as a docker builder is (DockerBuilder.launch: same base image, entrypoint/PID 1,
network mode, mounts), (b) by the collection with its defaults (warm interpreter), and with IMMUTABLE_CORPUS=full
(c) with `image_warm_interpreter: false` (about 150 s more; test_warm_interpreter.py compares the two paths on every
CI run, on smaller roles). The installed packages and a manifest of every file under /etc /usr /opt /srv
/var (path, type, sha256 or link target, mode, owner) must be equal, apart from VOLATILE below; then each image
must start its main services. The roles reach Debian's mirror, which needs `network_mode: host` here; apt's
package lists and .deb files are shared between the runs through bind mounts of /var/lib/apt/lists and
/var/cache/apt/archives (`build_volumes` entries: not in the image, not compared), so each is downloaded once.

The runs take turns: on the host's network the services they start (nginx on port 80, memcached on
11211, the Zabbix agent on 10050) would take each other's ports. All have the same inventory name (`<image_name>-container`, the
builder's), as roles may write it into files. In the default run; IMMUTABLE_CORPUS=0 leaves it out.
"""

import json
import os
import resource
import subprocess
import time
import uuid

import pytest
import yaml

from conftest import BASE_IMAGE, ROOT, ansible_env, free_port, run_build, wait_for_sshd
from test_ec2_become import SUDO_USER_SCRIPT, ensure_sudo_image
from ansible_collections.immutable.images.plugins.module_utils._docker.builder import DockerBuilder

pytestmark = [pytest.mark.docker, pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("IMMUTABLE_CORPUS") == "0", reason="IMMUTABLE_CORPUS=0 leaves the role corpus out")]

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "debops.yml")
CORPUS_COLLECTIONS = os.environ.get("IMMUTABLE_CORPUS_COLLECTIONS", os.path.join(ROOT, ".deps", "corpus"))
# Far above what the runs take on an idle 2-core machine: on a shared, overloaded one they take several times longer.
TIMEOUT = 2400
APT_SHARED = ("/var/lib/apt/lists", "/var/cache/apt/archives")

# What may differ between two runs of the same roles, and why. Prefixes; everything else must be equal.
VOLATILE = {
    "/var/log/": "logs: timestamps and durations (dpkg.log, apt/term.log, alternatives.log, ...)",
    "/var/lib/apt/lists/": "apt's package lists: a bind mount shared by the runs",
    "/var/cache/apt/": "apt's binary caches (pkgcache.bin, rebuilt from the lists) and the shared .deb archive (a bind mount)",
    "/var/cache/debconf/": "debconf's database: its -old backups and the order of its entries",
    "/var/cache/ldconfig/aux-cache": "ldconfig's cache of file times",
    "/etc/ld.so.cache": "written by ldconfig in whatever order it reads directories",
    "/etc/hostname": "the engine's bind mount in every running container (the play's and the images' alike), not image content",
    "/etc/hosts": "the engine's bind mount in every running container, not image content",
    "/etc/resolv.conf": "the engine's bind mount in every running container, not image content",
    "/srv/www/sites/localhost/public/index.html": "DebOps nginx's welcome page picks its status line at random (`| random`)",
    "/var/lib/dpkg/": "dpkg's status file backups (status-old) and its triggers' state",
}

# Runs inside the container (python3 is in the base image): one JSON line per file system object.
MANIFEST_SCRIPT = r"""
import hashlib, json, os, stat, sys
out = []
for top in ("/etc", "/usr", "/opt", "/srv", "/var"):
    for dirpath, dirnames, filenames in os.walk(top):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            entry = {"path": path, "mode": oct(stat.S_IMODE(st.st_mode)), "owner": "%d:%d" % (st.st_uid, st.st_gid)}
            if stat.S_ISLNK(st.st_mode):
                entry["link"] = os.readlink(path)
            elif path in ("/etc/shadow", "/etc/shadow-"):
                # without each account's last password change (days since 1970): runs on both sides of midnight differ
                with open(path) as f:
                    lines = [":".join(l.split(":")[:2] + l.split(":")[3:]) for l in f.read().splitlines()]
                entry["sha256"] = hashlib.sha256("\n".join(lines).encode()).hexdigest()
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    entry["sha256"] = hashlib.file_digest(f, "sha256").hexdigest() if hasattr(hashlib, "file_digest") \
                        else hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISDIR(st.st_mode):
                entry["type"] = "dir"
            else:
                entry["type"] = "other"
            out.append(entry)
json.dump(out, sys.stdout)
"""
PACKAGES_CMD = ["dpkg-query", "-W", "-f", "${Package} ${Version} ${Architecture} ${db:Status-Abbrev}\\n"]


def load_corpus():
    with open(CORPUS) as f:
        return yaml.safe_load(f)


def volatile(path):
    return any(path == p.rstrip("/") or path.startswith(p) for p in VOLATILE)


def system_state(container):
    """(packages, manifest) of a running container: dpkg's view and every file under the compared trees."""
    result = container.exec_run(PACKAGES_CMD)
    assert result.exit_code == 0, result.output
    packages = sorted(result.output.decode().splitlines())
    result = container.exec_run(["python3", "-c", MANIFEST_SCRIPT])
    assert result.exit_code == 0, result.output[-2000:]
    manifest = {e.pop("path"): e for e in json.loads(result.output)}
    return packages, manifest


def differences(expected, actual):
    """(differences, volatile differences) between two (packages, manifest) pairs, human-readable."""
    (pkgs_a, files_a), (pkgs_b, files_b) = expected, actual
    out = ["package only in the play: %s" % p for p in sorted(set(pkgs_a) - set(pkgs_b))]
    out += ["package only in the image: %s" % p for p in sorted(set(pkgs_b) - set(pkgs_a))]
    ignored = []
    for path in sorted(set(files_a) | set(files_b)):
        a, b = files_a.get(path), files_b.get(path)
        if a != b:
            (ignored if volatile(path) else out).append("%s: play %s, image %s" % (path, a, b))
    return out, ignored


def image_state(client, image):
    container = client.containers.run(image, ["-c", "sleep 600"], entrypoint=["/bin/sh"], detach=True, network_mode="none")
    try:
        return system_state(container)
    finally:
        container.remove(force=True)


def check_services(client, image, services):
    """Start each service as root in a container of the image and probe it from inside (no network needed)."""
    container = client.containers.run(image, ["-c", "sleep 600"], entrypoint=["/bin/sh"], detach=True, network_mode="none")
    try:
        for svc in services:
            result = container.exec_run(["sh", "-c", svc["start"]])
            assert result.exit_code == 0, "%s: %s" % (svc["start"], result.output.decode())
            probe = ("import socket, time, urllib.request\n"
                     "for _ in range(100):\n"
                     "    try:\n"
                     "        socket.create_connection(('127.0.0.1', %d), 1).close(); break\n"
                     "    except OSError: time.sleep(0.1)\n"
                     "else: raise SystemExit('nothing listens on %d')\n" % (svc["port"], svc["port"]))
            if svc.get("http"):
                probe += "print(urllib.request.urlopen('http://127.0.0.1:%d%s', timeout=10).status)\n" % (
                    svc["port"], svc["http"])
            result = container.exec_run(["python3", "-c", probe])
            assert result.exit_code == 0, "%s does not answer in %s: %s" % (svc["name"], image, result.output.decode())
    finally:
        container.remove(force=True)


# community.docker's docker_api connection, under load, once lost the output of the `id -u && id -g` it runs before
# its first file transfer (CI, 2026-12-06): the reference play's connection failed, not a role. It runs once more.
DOCKER_API_LOST_OUTPUT = "Error while determining user and group ID of current user in container"


def run_plain_play(client, tmp_path, host, roles, apt_volumes):
    """A plain ansible-playbook run of the corpus roles against a container started as a builder is, whose
    inventory name is `host` (the builders'): (packages, manifest), wall seconds, controller CPU seconds."""
    outcome, log = _plain_play(client, tmp_path / "play", host, roles, apt_volumes)
    if outcome is None and DOCKER_API_LOST_OUTPUT in log:
        outcome, log = _plain_play(client, tmp_path / "play-again", host, roles, apt_volumes)
    assert outcome is not None, log[-6000:]
    return outcome


def _plain_play(client, workdir, host, roles, apt_volumes):
    """One run of the plain play in a new container: ((state, took), log), or (None, log) when it failed."""
    name = "corpus-play-%s" % uuid.uuid4().hex[:8]
    DockerBuilder(client).launch(name, BASE_IMAGE, labels={"immutable.images.test": "corpus"}, pull="never",
                                 network_mode="host", volumes=apt_volumes)
    container = client.containers.get(name)
    # In a directory beside the builds' (their project directories, hence inventory_dir): DebOps' secret
    # role keeps its passwords in <inventory_dir>/../secret on the controller, the same store for every run.
    workdir.mkdir()
    try:
        # Pipelining, as the builders have it: one exec per task instead of four (no effect on what runs).
        (workdir / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {host: {
            "ansible_host": name, "ansible_connection": "community.docker.docker_api",
            "ansible_python_interpreter": "/usr/bin/python3", "ansible_pipelining": True}}}}))
        (workdir / "play.yml").write_text(yaml.safe_dump(
            [{"name": "Corpus roles, plain play", "hosts": "all", "roles": roles}], sort_keys=False))
        log = workdir / "play.log"
        with timed() as took, open(log, "w") as out:
            rc = subprocess.run(["ansible-playbook", "-i", "inventory.yml", "play.yml"], cwd=str(workdir),
                                env=corpus_env(), stdout=out, stderr=subprocess.STDOUT, timeout=TIMEOUT, check=False).returncode
        return ((system_state(container), took) if rc == 0 else None), log.read_text()
    finally:
        container.remove(force=True)


class timed:
    """Wall and controller CPU seconds (the children's: ansible-playbook and its workers) of a block."""
    def __enter__(self):
        self.wall, self.cpu = time.monotonic(), self._cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.monotonic() - self.wall, self._cpu() - self.cpu

    @staticmethod
    def _cpu():
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def __str__(self):
        return "%.0f s (controller CPU %.0f s)" % (self.wall, self.cpu)


def corpus_env():
    env = ansible_env()
    env["ANSIBLE_COLLECTIONS_PATH"] = CORPUS_COLLECTIONS + os.pathsep + env["ANSIBLE_COLLECTIONS_PATH"]
    # DebOps 3.3.2's nginx role has conditionals on strings (`when: nginx_default_name`), which ansible-core 2.19+
    # refuses unless told otherwise: the same setting for the play and the builds, as a user's ansible.cfg would have.
    env["ANSIBLE_ALLOW_BROKEN_CONDITIONALS"] = "true"
    # netaddr, for ansible.utils' ipaddr filters (nginx's defaults), installed there by scripts/setup-env
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.join(CORPUS_COLLECTIONS, "python"), env.get("PYTHONPATH")]))
    return env


def build(tmp_path, name, version, roles, apt_volumes, **options):
    workdir = tmp_path / ("build-" + version)
    workdir.mkdir()
    definition = {"image_name": name, "image_version": version, "image_roles": roles}
    definition.update(options)
    definition["image_targets"] = [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never",
                                    "network_mode": "host",
                                    "build_volumes": apt_volumes}]
    env = corpus_env()
    passed = {k: env[k] for k in ("ANSIBLE_COLLECTIONS_PATH", "PYTHONPATH", "ANSIBLE_ALLOW_BROKEN_CONDITIONALS")}
    with timed() as took:
        proc = run_build(workdir, definition, env=passed, timeout=TIMEOUT)
    return proc, took


def test_debops_roles_build_as_in_a_play(docker_client, tmp_path, remove_images):
    if not os.path.isdir(os.path.join(CORPUS_COLLECTIONS, "ansible_collections", "debops", "debops", "roles")):
        pytest.fail("debops.debops is not in %s: run scripts/setup-env" % CORPUS_COLLECTIONS)
    corpus = load_corpus()
    roles = corpus["roles"]
    apt_volumes = []
    for path in APT_SHARED:
        shared = tmp_path / ("shared" + path.replace("/", "-"))
        (shared / "partial").mkdir(parents=True)
        apt_volumes.append("%s:%s" % (shared, path))

    # One image name for both builds, so that the builders' inventory name is the same (the play's host gets it
    # too). The second build (IMMUTABLE_CORPUS=full) reuses neither the first one's image nor its layers.
    name = "corpus-debops-" + uuid.uuid4().hex[:6]
    remove_images(name)
    paths = {"session": ("1.0.0", {})}
    if os.environ.get("IMMUTABLE_CORPUS") == "full":
        paths["no-warm"] = ("1.0.1", {"image_warm_interpreter": False, "image_force": True, "image_cache": False})
    report = ["load average before: %.1f" % os.getloadavg()[0]]
    play_state, play_took = run_plain_play(docker_client, tmp_path, name + "-container", roles, apt_volumes)
    report.append("plain ansible-playbook: %s" % play_took)
    failures = []
    for path, (version, options) in paths.items():
        proc, took = build(tmp_path, name, version, roles, apt_volumes, **options)
        report.append("%s build: %s, rc %d" % (path, took, proc.returncode))
        if proc.returncode != 0:
            failures.append("%s build failed:\n%s" % (path, proc.output[-6000:]))
            continue
        # DebOps' <role>__<dependency>__dependent_* references to later roles' defaults: every role is loaded first
        if "TASK [Load every image role before the first runs, as a play does]" not in proc.output:
            failures.append("%s build did not load the roles before the first ran" % path)
        image = "%s:%s" % (name, version)
        diff, ignored = differences(play_state, image_state(docker_client, image))
        report.append("%s: %d volatile paths differ: %s" % (path, len(ignored), ", ".join(
            sorted({p for p in VOLATILE for d in ignored if d.startswith(p.rstrip("/"))}))))
        if diff:
            failures.append("%s image differs from the play (%d):\n%s" % (path, len(diff), "\n".join(diff[:80])))
            continue
        check_services(docker_client, image, corpus["services"])
    report.append("load average after: %.1f" % os.getloadavg()[0])
    print("\n".join(report))
    assert not failures, "\n".join(report + failures)


@pytest.mark.skipif(os.environ.get("IMMUTABLE_CORPUS") != "full", reason="IMMUTABLE_CORPUS=full runs it (about 150 s)")
def test_debops_roles_over_ssh_give_the_same_system_in_the_warm_interpreter(docker_client, tmp_path):
    """The ec2 builders' way: the corpus roles over SSH as a user with sudo (become root, as on a cloud image),
    through the collection's connection with and without its warm interpreter; the same system both times. In this
    file: the runs use the host's network and its ports, as the builds above do."""
    roles = load_corpus()["roles"]
    apt_volumes = []
    for path in APT_SHARED:
        shared = tmp_path / ("shared" + path.replace("/", "-"))
        (shared / "partial").mkdir(parents=True)
        apt_volumes.append("%s:%s" % (shared, path))
    image = ensure_sudo_image(docker_client, tmp_path)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    states, report = {}, []
    for warm in (False, True):
        port = free_port()
        script = SUDO_USER_SCRIPT % (tmp_path / "id_ed25519.pub").read_text().strip() + \
            " && exec /usr/sbin/sshd -D -e -p %d -o ListenAddress=127.0.0.1" % port
        container = docker_client.containers.run(image, ["-c", script], entrypoint=["/bin/sh"], detach=True,
                                                 network_mode="host", volumes=apt_volumes)
        try:
            wait_for_sshd(port)
            workdir = tmp_path / ("ssh-warm" if warm else "ssh-cold")
            workdir.mkdir()
            (workdir / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {"corpus-ssh": {
                "ansible_host": "127.0.0.1", "ansible_port": port, "ansible_user": "builder", "ansible_become": True,
                "ansible_connection": "immutable.images.ssh", "ansible_ssh_private_key_file": str(key),
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                "ansible_pipelining": True, "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_immutable_images_warm": warm}}}}))
            (workdir / "play.yml").write_text(yaml.safe_dump(
                [{"name": "Corpus roles over SSH", "hosts": "all", "roles": roles}], sort_keys=False))
            with timed() as took:
                proc = subprocess.run(["ansible-playbook", "-i", "inventory.yml", "play.yml"], cwd=str(workdir),
                                      env=corpus_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False)
            assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
            report.append("%s: %s" % ("warm" if warm else "cold", took))
            # the warm run's modules ran in the server, which keeps the code it compiled for them
            compiled = container.exec_run(["sh", "-c", "ls /dev/shm/immutable-images-warm/code 2>/dev/null | wc -l"]).output
            assert (int(compiled or 0) > 0) == warm, compiled
            states[warm] = system_state(container)
        finally:
            container.remove(force=True)
    diff, _ignored = differences(states[False], states[True])
    print("\n".join(report))
    assert diff == [], "\n".join(diff[:80])
