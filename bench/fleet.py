#!/usr/bin/env python3
"""Fleet wall time against the serial sum, measured in the same run (issue 18; figures in docs/scale-out.md).

Builds N small definitions (one role task each, no layer cache, as tests/integration/test_fleet.py) once with
`build_all -f FORKS` and once one by one with `build_image` (image_force: true, so each really builds), on
the same engines, and prints both wall times, the ratio and the machine's load average. With --pool two (the
default when dockerd can be started: root), a second dockerd with mutual TLS (tests/integration/engines.py) is
started for the run and the definitions use image_engines: [local engine, that engine]; --pool local builds on
the local engine only. Every image is named bench-fleet-<run>-<i> and removed at the end (on both engines).

    source .deps/env.sh && python bench/fleet.py [--definitions 6] [--forks 4] [--pool two|local]

Not a test: nothing here asserts a time.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
BASE_IMAGE = os.environ.get("IMMUTABLE_BASE_IMAGE", "immutable-images/debian-python:bookworm")
LOCAL = "unix:///var/run/docker.sock"
ROLE = """\
- name: Write the greeting the definition gives
  ansible.builtin.copy:
    dest: /etc/fleet-greeting
    content: "{{ fleet_greeting }}\\n"
    mode: "0644"
"""


def env():
    e = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
             ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_RETRY_FILES_ENABLED="0")
    e.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, ".deps", "collections"))
    return e


def make_project(path, names, engines):
    os.makedirs(os.path.join(path, "roles", "fleetrole", "tasks"))
    with open(os.path.join(path, "roles", "fleetrole", "tasks", "main.yml"), "w") as f:
        f.write(ROLE)
    os.makedirs(os.path.join(path, "images"))
    for name in names:
        definition = {"image_name": name, "image_version": "1.0.0", "image_gather_facts": False, "image_roles": ["fleetrole"],
                      "image_cache": False, "fleet_greeting": "hello from %s" % name,
                      "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never"}]}
        if engines:
            definition["image_engines"] = engines
        with open(os.path.join(path, "images", name + ".yml"), "w") as f:
            yaml.safe_dump(definition, f, sort_keys=False)
    with open(os.path.join(path, "fleet.definitions.yml"), "w") as f:
        f.write("plugin: immutable.images.definitions\npaths: [images]\n")


def timed(cmd, cwd):
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        sys.stderr.write((proc.stdout + proc.stderr)[-4000:])
        raise SystemExit("failed: %s" % " ".join(cmd))
    return wall, proc.stdout


def engines_used(output, urls):
    return {u: output.count("placed on %s " % u) for u in urls}


def remove_images(clients, names):
    for client in clients:
        for image in client.images.list():
            for tag in image.tags:
                if tag.rsplit(":", 1)[0] in names:
                    try:
                        client.images.remove(tag, force=True)
                    except Exception:  # noqa: BLE001 - gone already
                        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--definitions", type=int, default=6)
    parser.add_argument("--forks", type=int, default=4)
    parser.add_argument("--pool", choices=["two", "local"], default="two" if os.geteuid() == 0 and shutil.which("dockerd") else "local")
    args = parser.parse_args()

    import docker

    local = docker.from_env(version="auto")
    run = uuid.uuid4().hex[:6]
    names = ["bench-fleet-%s-%d" % (run, i) for i in range(1, args.definitions + 1)]
    work = tempfile.mkdtemp(prefix="bench-fleet-")
    second, clients, engines = None, [local], None
    try:
        if args.pool == "two":
            import engines as second_engine

            root = tempfile.mkdtemp(prefix="e2", dir="/tmp")
            second = second_engine.Engine(root, second_engine._free_port())
            second_engine.make_certificates(second.certs)
            second_engine._bridge("add")
            second.start()
            save = subprocess.Popen(["docker", "save", BASE_IMAGE], stdout=subprocess.PIPE)
            second.cli("load", stdin=save.stdout)
            save.wait()
            clients.append(second.client())
            engines = [LOCAL, {"docker_host": second.url, "tls": second.tls}]
        make_project(work, names, engines)
        load_before = os.getloadavg()
        fleet_wall, fleet_out = timed(["ansible-playbook", "-i", "fleet.definitions.yml", "immutable.images.build_all",
                                       "-f", str(args.forks)], work)
        remove_images(clients, names)
        serial = []
        for name in names:
            wall, _out = timed(["ansible-playbook", "immutable.images.build_image", "-e", "@images/%s.yml" % name,
                                "-e", "image_force=true"], work)
            serial.append(wall)
        load_after = os.getloadavg()
        result = {
            "definitions": args.definitions, "forks": args.forks, "pool": args.pool,
            "engines_used_by_the_fleet": engines_used(fleet_out, [LOCAL] + ([second.url] if second else [])) if engines else None,
            "build_all_wall_s": round(fleet_wall, 1), "serial_sum_s": round(sum(serial), 1),
            "serial_each_s": [round(s, 1) for s in serial], "ratio": round(fleet_wall / sum(serial), 2),
            "loadavg_before": [round(x, 1) for x in load_before], "loadavg_after": [round(x, 1) for x in load_after],
            "cpus": os.cpu_count(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        print(json.dumps(result, indent=1))
    finally:
        remove_images(clients, names)
        if second is not None:
            second.stop()
            second_engine._bridge("del")
            shutil.rmtree(second.root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
