#!/usr/bin/env python3
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Side-by-side benchmark of workload W1 (see bench/README.md). Started by bench/run.

Every variant builds the same image (base + 200 files + 30 steps + CMD + tag) from the same
generated inputs; rounds are interleaved (round-robin, the order rotated every round) so that load
drift on the machine hits every variant alike; each result image is checked against one end-state
checksum. Everything created carries the run token (names `bench-*-<token>`, label
`bench.run=<token>`, image names `bench-w1-<token>`) and is removed at the end, also on Ctrl-C/TERM.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import w1  # noqa: E402

RESULTS = os.path.join(HERE, "results")
PAGE = os.sysconf("SC_PAGE_SIZE")
BASE_IMAGE = w1.BASE_IMAGE


def log(msg):
    print("[bench] %s" % msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Controller memory: sampled from /proc. The controller "tree" is every process whose environment
# carries this run's marker (BENCH_MARK=...): the launched command and everything it starts,
# including detached ones (the build guard, Packer's plugins). Containers and dockerd do not
# inherit it, so the engine's own memory is not counted for any variant.

def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ")[:200].decode("utf-8", "replace").strip()
    except OSError:
        return "?"


def _short_cmd(cmd):
    """A process's command line, short: the program (and the script it runs) by its base name."""
    words = cmd.split()[:3]
    if len(words) > 1 and words[1] in ("-I", "-S", "-c"):
        return "%s (%s)" % (os.path.basename(words[0]), "lease" if "lease" in cmd else "python -c")
    return " ".join(os.path.basename(w) for w in words[:2])


class TreeSampler(threading.Thread):
    def __init__(self, marker, interval=0.05):
        super().__init__(daemon=True)
        self.marker = ("BENCH_MARK=%s" % marker).encode()
        self.interval = interval
        self.known = {}          # pid -> ours?
        self.peak_pss = 0
        self.peak_rss = 0
        self.peak_procs = 0
        self.peak_split = []
        self.samples = 0
        self._halt = threading.Event()
        with open("/proc/uptime") as f:   # clock ticks since boot, the unit of /proc/PID/stat starttime
            self.start_ticks = float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK") - 1

    def _ours(self, pid):
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                return self.marker in f.read().split(b"\0")
        except OSError:
            return False

    def _started_before(self, pid):
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                start = int(f.read().rsplit(b")", 1)[1].split()[19])
        except (OSError, ValueError, IndexError):
            return False
        return start < self.start_ticks

    @staticmethod
    def _mem(pid):
        """(pss, rss) in bytes; smaps_rollup gives both."""
        pss = rss = 0
        try:
            with open("/proc/%d/smaps_rollup" % pid, "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        pss = int(line.split()[1]) * 1024
                    elif line.startswith(b"Rss:"):
                        rss = int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
        return pss, rss

    def sample(self):
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        alive = set(pids)
        for pid in list(self.known):
            if pid not in alive:
                del self.known[pid]
        pss = rss = n = 0
        split = []
        for pid in pids:
            ours = self.known.get(pid)
            if ours is None:
                ours = self._ours(pid)
                # A fresh fork shows its parent's environment until it execs: only remember "not
                # ours" for processes that were already running before this measurement began.
                if ours or self._started_before(pid):
                    self.known[pid] = ours
            if ours:
                p, r = self._mem(pid)
                if r:
                    pss += p
                    rss += r
                    n += 1
                    split.append((pid, p))
        self.samples += 1
        if pss > self.peak_pss:  # which processes made the peak: PSS MB and the start of each command line
            self.peak_split = sorted(((round(p / 1e6, 1), _cmdline(pid)) for pid, p in split), reverse=True)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_procs = max(self.peak_procs, n)

    def run(self):
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()
        self.sample()


def _cpu_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v) - idle) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------

class Interrupted(Exception):
    pass


class Bench:
    def __init__(self, args):
        self.args = args
        self.token = args.token or secrets.token_hex(3)
        self.name = "bench-w1-%s" % self.token          # image_name of our builds, repository prefix
        # Not under /tmp: other people's clean-ups on this shared machine must not pull it away mid-run.
        self.results = os.path.abspath(args.results or RESULTS)
        os.makedirs(self.results, exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix="tmp-%s-" % self.token, dir=self.results)
        self.work = os.path.join(self.tmp, "work")
        self.logs = os.path.join(self.results, "logs")
        self.seq = 0
        self.current = None                              # the running Popen, for interrupts
        self.interrupted = False
        self.records = []                                # one dict per run
        self.checks = {}                                 # variant -> set of end-state checksums
        self.groups = {}                                 # variant -> workload whose end states must agree
        self.config_checks = {}
        self.base_env = dict(os.environ)
        self.base_env.pop("ANSIBLE_CALLBACKS_ENABLED", None)

    # --- commands ------------------------------------------------------------------------

    def measure(self, steps, label, env=None, cwd=None):
        """Run `steps` (a list of (argv, stdin file or None)) one after the other, as one measured run.

        Returns wall seconds (whole sequence), per-step walls, controller CPU seconds (wait4 rusage
        of each step's process tree), the largest single process's max RSS (wait4 ru_maxrss, what
        /usr/bin/time -v reports) and the sampled peak PSS/RSS sum of the whole controller tree.
        """
        if self.interrupted:
            raise Interrupted()
        self.seq += 1
        marker = "%s-%d" % (self.token, self.seq)
        env = dict(env or self.base_env, BENCH_MARK=marker)
        logpath = os.path.join(self.logs, "%03d-%s.log" % (self.seq, label))
        sampler = TreeSampler(marker, self.args.sample_interval)
        sampler.start()
        walls, cpu, maxrss, rc = [], 0.0, 0, 0
        busy0, load0 = _cpu_busy(), os.getloadavg()[0]
        t0 = time.time()
        try:
            with open(logpath, "w") as out:
                for argv, stdin in steps:
                    if self.interrupted:
                        break
                    out.write("$ %s\n" % " ".join(argv))
                    out.flush()
                    s0 = time.time()
                    fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
                    try:
                        self.current = subprocess.Popen(argv, stdin=fin, stdout=out, stderr=subprocess.STDOUT,
                                                        env=env, cwd=cwd, start_new_session=True)
                        _, status, ru = os.wait4(self.current.pid, 0)
                        self.current.returncode = rc = os.waitstatus_to_exitcode(status)
                    finally:
                        if stdin:
                            fin.close()
                        self.current = None
                    walls.append(time.time() - s0)
                    cpu += ru.ru_utime + ru.ru_stime
                    maxrss = max(maxrss, ru.ru_maxrss * 1024)
                    if rc != 0 or self.interrupted:
                        break
        finally:
            wall = time.time() - t0
            sampler.stop()
        busy = _cpu_busy() - busy0
        if self.interrupted:
            raise Interrupted()
        return {"wall": wall, "step_walls": walls, "rc": rc, "cpu": cpu, "max_proc_rss": maxrss,
                "tree_peak_pss": sampler.peak_pss, "tree_peak_rss": sampler.peak_rss,
                "tree_peak_procs": sampler.peak_procs, "tree_peak_split": sampler.peak_split, "samples": sampler.samples,
                "machine_busy_cpu": busy, "load1": load0, "start": t0, "log": logpath}

    def quiet(self, argv, check=False, **kw):
        """A helper command outside any measurement (checksums, cleanup)."""
        return subprocess.run(argv, capture_output=True, text=True, check=check, env=self.base_env, **kw)

    def interrupt(self, signum, _frame):
        if self.interrupted:
            return
        self.interrupted = True
        log("signal %d: stopping the running build and cleaning up" % signum)
        proc = self.current
        if proc is not None and proc.returncode is None:
            try:  # like a terminal's Ctrl-C: the whole process group of the build
                os.killpg(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            threading.Thread(target=self._escalate, args=(proc,), daemon=True).start()

    @staticmethod
    def _escalate(proc):
        for sig, delay in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            time.sleep(delay)
            if proc.returncode is not None:
                return
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return

    # --- set-up --------------------------------------------------------------------------

    def prepare(self):
        os.makedirs(self.logs, exist_ok=True)
        for f in os.listdir(self.logs):
            os.remove(os.path.join(self.logs, f))
        w1.generate(self.work, self.token)
        os.makedirs(os.path.join(self.tmp, "manifests"))
        for d in ("packer-home", "packer-cache", "packer-tmp", "timing"):
            os.makedirs(os.path.join(self.tmp, d))
        self.write_packer_templates()

    def write_packer_templates(self):
        run_command = ["-d", "-i", "-t", "--name", "{{user `name`}}", "--label", "bench.run=%s" % self.token,
                       "--", "{{.Image}}", "/bin/sh"]   # no --entrypoint: it would leak into the commit
        builder = {"type": "docker", "image": BASE_IMAGE, "pull": False, "commit": True,
                   "run_command": run_command,
                   "changes": ['CMD ["/bin/bash"]', "LABEL bench.run=%s" % self.token]}
        upload = {"type": "file", "source": "payload", "destination": "/opt/"}
        ansible = {
            "type": "ansible", "playbook_file": os.path.join(self.work, "packer-playbook.yml"), "user": "root",
            "extra_arguments": ["--extra-vars", "ansible_host={{build `ID`}} ansible_connection=community.docker.docker_api"
                                " ansible_python_interpreter=/usr/bin/python3"],
            "ansible_env_vars": ["ANSIBLE_COLLECTIONS_PATH=%s" % os.environ.get("ANSIBLE_COLLECTIONS_PATH", ""),
                                 "ANSIBLE_PIPELINING=1", "ANSIBLE_CONFIG=%s" % os.path.join(self.work, "ansible.cfg"),
                                 "ANSIBLE_ROLES_PATH=%s" % os.path.join(self.work, "roles"),
                                 "ANSIBLE_CALLBACK_PLUGINS=%s" % os.path.join(HERE, "callback_plugins"),
                                 "ANSIBLE_CALLBACKS_ENABLED=bench_timing",
                                 "BENCH_TIMING_FILE=%s" % os.path.join(self.tmp, "timing", "packer-ansible.json")],
        }
        for kind, prov in (("shell", {"type": "shell", "script": "steps.sh"}), ("ansible", ansible)):
            tpl = {"variables": {"name": "", "tag": "run"}, "builders": [builder], "provisioners": [upload, prov],
                   "post-processors": [{"type": "docker-tag", "repository": "%s/packer-%s" % (self.name, kind),
                                        "tags": ["{{user `tag`}}"]}]}
            with open(os.path.join(self.work, "packer-%s.json" % kind), "w") as f:
                json.dump(tpl, f, indent=1)

    # --- variants ------------------------------------------------------------------------

    def ours_definition(self, variant, bust, rev, cache=True, targets=1, facts=False, force=False, pkgs=False,
                        ec2=None):
        """Write the image definition of one of our runs; return its path.

        targets: that many docker targets (container, container2, ...), each tagged <variant>[-N];
        pkgs: the package-heavy role instead of W1 (network_mode host: the mirror is on the host's network);
        ec2: an ec2 target (dict) instead of the docker ones."""
        def docker_target(k):
            t = {"name": "container" if k == 1 else "container%d" % k, "type": "docker", "base_image": BASE_IMAGE,
                 "pull": "never", "tags": [variant if k == 1 else "%s-%d" % (variant, k)],
                 "config": {"cmd": ["/bin/bash"], "labels": {"bench.run": self.token}}}
            if pkgs:
                t["network_mode"] = "host"
            return t
        if pkgs:
            roles = [{"role": w1.PKG_ROLE, "vars": {"pkg_bust": bust}}]
        else:
            roles = [{"role": "w1_users", "vars": {"w1_bust": bust}}, "w1_config",
                     {"role": "w1_app", "vars": {"w1_rev": rev}}]
        d = {
            "image_name": self.name,
            "image_version": "1.0.0",
            "image_roles": roles,
            "image_gather_facts": facts,
            "image_cache": cache,
            "image_force": force,
            "image_manifest": os.path.join(self.tmp, "manifests", "%s.json" % variant),
            "image_targets": [ec2] if ec2 else [docker_target(k) for k in range(1, targets + 1)],
        }
        if not pkgs:
            d["image_files"] = [{"src": "payload/", "dest": "/opt/payload"}]
        path = os.path.join(self.work, "def-%s.yml" % variant)
        with open(path, "w") as f:
            json.dump(d, f, indent=1)
        return path

    def ansible_env(self, timing_file):
        # The environment variable replaces callbacks_enabled of ansible.cfg: keep the collection's
        # build_guard callback that the example's (and our generated) ansible.cfg enable.
        env = dict(self.base_env,
                   ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
                   ANSIBLE_CALLBACKS_ENABLED="immutable.images.build_guard,bench_timing", BENCH_TIMING_FILE=timing_file)
        return env

    def run_ours(self, variant, i, bust="fixed", rev="fixed", cache=True, extra=(), targets=1, facts=False,
                 force=False, pkgs=False, ec2=None, env=None):
        suffix, collection_env = getattr(self, "collection", ("", {}))
        variant, env = variant + suffix.replace("@", "-at-"), dict(env or {}, **collection_env)
        defn = self.ours_definition(variant, bust, rev, cache, targets=targets, facts=facts, force=force, pkgs=pkgs,
                                    ec2=ec2)
        timing = os.path.join(self.tmp, "timing", "%s-%d.json" % (variant, i))
        argv = ["ansible-playbook", "immutable.images.build_image", "-e", "@" + defn] + list(extra)
        if self.args.cprofile:   # profile ansible-playbook's own process (not its forked workers)
            os.makedirs(self.args.cprofile, exist_ok=True)
            argv = [sys.executable, "-m", "cProfile", "-o", os.path.join(os.path.abspath(self.args.cprofile), "%s-%d.prof" % (variant, i)),
                    shutil.which("ansible-playbook")] + argv[1:]
        r = self.measure([(argv, None)], variant, env=dict(self.ansible_env(timing), **(env or {})), cwd=self.work)
        r["timing"] = _load_json(timing)
        r["manifest"] = _load_json(os.path.join(self.tmp, "manifests", "%s.json" % variant))
        r["image"] = "%s:%s" % (self.name, variant)
        if targets > 1:
            r["images"] = [r["image"]] + ["%s:%s-%d" % (self.name, variant, k) for k in range(2, targets + 1)]
        if pkgs:
            r["group"] = "pkgs"
        return r

    def variants(self):
        unique = lambda v, i: "%s-%d-%s" % (v, i, secrets.token_hex(2))  # noqa: E731
        V = {}
        V["ours-cold"] = dict(
            run=lambda i: self.run_ours("ours-cold", i, bust=unique("cold", i)), drop=True,
            doc="our playbook; the first role's inputs changed every run (new build hash: nothing reusable)")
        V["ours-warm"] = dict(
            run=lambda i: self.run_ours("ours-warm", i), prime=True, drop=False,
            doc="our playbook rerun with nothing changed (primed once before the counted runs)")
        V["ours-lastrole"] = dict(
            run=lambda i: self.run_ours("ours-lastrole", i, rev=unique("rev", i)), prime=True, drop=False,
            doc="our playbook; only the last role's inputs changed every run")
        V["ours-cold-nowarm"] = dict(
            run=lambda i: self.run_ours("ours-cold-nowarm", i, bust=unique("nowarm", i),
                                        extra=["-e", "image_warm_interpreter=false"]), drop=True,
            doc="like ours-cold with image_warm_interpreter: false (a new Python per module, an exec per command: plain Ansible)")
        V["ours-nowarm-lastrole"] = dict(
            run=lambda i: self.run_ours("ours-nowarm-lastrole", i, rev=unique("nwrev", i),
                                        extra=["-e", "image_warm_interpreter=false"]), prime=True, drop=False,
            doc="like ours-lastrole with image_warm_interpreter: false: what the layer cache saves when every task "
                "costs what it costs in plain Ansible (compare with ours-cold-nowarm)")
        V["ours-nocache"] = dict(
            run=lambda i: self.run_ours("ours-nocache", i, bust=unique("nocache", i), cache=False), drop=True,
            doc="like ours-cold with image_cache: false")
        V["ours-cached"] = dict(
            run=lambda i: self.run_ours("ours-cached", i, force=True), prime=True, drop=True,
            doc="the same inputs every run with image_force: true: every role layer comes from the layer cache, "
                "but a new builder runs and a new image is committed (primed once)")
        V["ours-facts"] = dict(
            run=lambda i: self.run_ours("ours-facts", i, bust=unique("facts", i), facts=True), drop=True,
            doc="ours-cold with image_gather_facts: true (full fact gathering on the builder)")
        V["ours-cached-facts"] = dict(
            run=lambda i: self.run_ours("ours-cached-facts", i, force=True, facts=True), prime=True, drop=True,
            doc="ours-cached with image_gather_facts: true: are facts gathered for roles whose layer is cached?")
        V["ours-4targets"] = dict(
            run=lambda i: self.run_ours("ours-4targets", i, bust=unique("t4", i), targets=4), drop=True,
            doc="ours-cold with 4 docker targets in one definition (4 builders, 4 images; compare with ours-cold)")
        V["ours-ami"] = dict(
            run=lambda i: self.run_ours_ami(i), drop=False, needs="ami",
            doc="our playbook, one ec2 target on moto server (AWS_ENDPOINT_URL) with ssh_host/ssh_port pointing "
                "at a fresh sshd stand-in container; the 3 W1 roles and the payload; AWS API calls counted")
        V["packer-ami"] = dict(
            run=lambda i: self.run_packer_ami(i), drop=False, needs="ami",
            doc="Packer 1.6.6 amazon-ebs against the same moto server (custom_endpoint_ec2) and a fresh sshd "
                "stand-in (ssh_host/ssh_port): file provisioner + ansible provisioner (use_proxy false); AWS "
                "API calls counted")
        V["ours-pkgs"] = dict(
            run=lambda i: self.run_ours("ours-pkgs", i, bust=unique("pkgs", i), pkgs=True), drop=True,
            doc="package-heavy: one role installing %d Debian packages (apt, update_cache) with network_mode host; "
                "a new build every run" % len(w1.PACKAGES))
        V["plain-pkgs"] = dict(
            run=lambda i: self.run_plain_pkgs(i), drop=True,
            doc="the same role with plain ansible-playbook against a container (docker run --network host, "
                "community.docker.docker_api, pipelining) + one docker commit + docker rm")
        V["ansible-floor"] = dict(run=lambda i: self.run_floor(i, 1), drop=False, other_workload=True,
                                  doc="ansible-playbook running one set_fact on localhost: what starting and ending "
                                      "ansible-playbook costs, before any build")
        V["ansible-floor-50"] = dict(run=lambda i: self.run_floor(i, 50), drop=False, other_workload=True,
                                     doc="ansible-playbook running 50 set_fact tasks on localhost: with ansible-floor, "
                                         "what one task costs ansible-core when it does nothing")
        V["packer-shell"] = dict(run=lambda i: self.run_packer("shell", i), drop=True, prime=True,
                                 doc="Packer 1.6.6 docker builder: file provisioner + shell provisioner (steps.sh)")
        V["packer-ansible"] = dict(run=lambda i: self.run_packer("ansible", i), drop=True,
                                   doc="Packer 1.6.6 docker builder: file provisioner + ansible provisioner "
                                       "(the 3 roles, docker_api connection, pipelining)")
        V["docker-cold"] = dict(run=lambda i: self.run_docker(True), drop=True, prime=True,
                                doc="DOCKER_BUILDKIT=0 docker build --no-cache (COPY payload, COPY+RUN steps.sh)")
        V["docker-warm"] = dict(run=lambda i: self.run_docker(False), drop=False, prime=True,
                                doc="DOCKER_BUILDKIT=0 docker build, every step cached")
        V["raw"] = dict(run=lambda i: self.run_raw(i), drop=True, prime=True,
                        doc="docker run + docker cp payload + one docker exec of steps.sh + docker commit + rm")
        V["example"] = dict(run=lambda i: self.run_example(i), drop=False, other_workload=True,
                            doc="scripts/build-example (examples/webapp: 1 role, 3 tasks), image_name overridden; "
                                "its tags and layer cache removed after every run, so every run is a first build")
        V["example-rerun"] = dict(run=lambda i: self.run_example(i, rerun=True), drop=False, prime=True,
                                  other_workload=True,
                                  doc="scripts/build-example run again with nothing changed (primed once)")
        # --collection LABEL=PATH: each ours-* variant again as VARIANT@LABEL, with the collection found under
        # PATH (ANSIBLE_COLLECTIONS_PATH), interleaved with the others: two checkouts compared in one run.
        for label, path in getattr(getattr(self, "args", None), "collection", None) or []:
            for name in [n for n in V if n.startswith("ours-") and "@" not in n]:
                V["%s@%s" % (name, label)] = dict(V[name], run=self._with_collection(V[name]["run"], label, path),
                                                  doc="%s, with the collection under %s" % (name, path))
        return V

    def _with_collection(self, run, label, path):
        def run_there(i):
            self.collection = ("@" + label, {"ANSIBLE_COLLECTIONS_PATH": path})
            try:
                return run(i)
            finally:
                self.collection = ("", {})
        return run_there

    # --- the AMI path: moto server + an sshd stand-in per run ------------------------------

    def start_aws(self):
        """moto server on 127.0.0.1 (request recording on, to count API calls), a key pair for the stand-ins
        imported into it; returns the environment of an AWS client on it."""
        if getattr(self, "aws_env", None):
            return self.aws_env
        import socket
        import urllib.request
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            port = sk.getsockname()[1]
        self.moto_recording = os.path.join(self.tmp, "moto-recording.jsonl")
        env = dict(self.base_env, MOTO_ENABLE_RECORDING="True", MOTO_RECORDER_FILEPATH=self.moto_recording)
        self.moto_log = open(os.path.join(self.tmp, "moto.log"), "w")
        self.moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=self.moto_log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.moto_url = "http://127.0.0.1:%d" % port
        for _ in range(150):
            try:
                urllib.request.urlopen(self.moto_url + "/moto-api/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("moto server did not start (log: %s)" % self.moto_log.name)
        self.ssh_key = os.path.join(self.tmp, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.ssh_key], check=True)
        with open(self.ssh_key + ".pub") as f:
            self.ssh_pub = f.read().strip()
        self.aws_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.moto_url}
        import boto3
        boto3.client("ec2", region_name="us-east-1", endpoint_url=self.moto_url, aws_access_key_id="testing",
                     aws_secret_access_key="testing").import_key_pair(KeyName="bench-key",
                                                                     PublicKeyMaterial=self.ssh_pub.encode())
        return self.aws_env

    def _recorder(self, what):
        import urllib.request
        urllib.request.urlopen(urllib.request.Request("%s/moto-api/recorder/%s" % (self.moto_url, what),
                                                      method="POST"), timeout=10).read()

    def aws_calls(self):
        """The API calls moto recorded since reset: {action: count}."""
        from urllib.parse import parse_qs
        import base64
        calls = {}
        try:
            with open(self.moto_recording) as f:
                lines = f.readlines()
        except OSError:
            return calls
        for line in lines:
            e = json.loads(line)
            headers = {k.lower(): v for k, v in (e.get("headers") or {}).items()}
            action = headers.get("x-amz-target")
            if not action:
                body = e.get("body") or ""
                if e.get("body_encoded"):
                    body = base64.b64decode(body).decode("utf-8", "replace")
                q = parse_qs(body)
                q.update(parse_qs(e.get("url", "").partition("?")[2]))
                action = (q.get("Action") or ["%s %s" % (e.get("method"), e.get("url"))])[0]
            calls[action] = calls.get(action, 0) + 1
        return calls

    def ssh_stand_in(self):
        """A fresh sshd container on 127.0.0.1 trusting the run's key: the "instance" of one AMI build."""
        name = "bench-ssh-%s-%d" % (self.token, self.seq + 1)
        script = ("mkdir -p /run/sshd /root/.ssh && chmod 700 /root/.ssh && echo '%s' > /root/.ssh/authorized_keys"
                  " && ssh-keygen -A && exec /usr/sbin/sshd -D -e" % self.ssh_pub)
        self.quiet(["docker", "run", "-d", "--name", name, "--label", "bench.run=%s" % self.token, "-p", "127.0.0.1::22",
                    "--entrypoint", "/bin/sh", w1.SSH_BASE_IMAGE, "-c", script], check=True)
        port = int(self.quiet(["docker", "port", name, "22/tcp"], check=True).stdout.split(":")[-1])
        import socket
        for _ in range(150):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
                    if c.recv(64).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("the sshd stand-in %s did not answer" % name)
        return name, port

    def _ami_run(self, label, run):
        """Common frame of an AMI run: a fresh stand-in, the recorder around the measured command, the end
        state read from the stand-in afterwards, the stand-in removed."""
        self.start_aws()
        name, port = self.ssh_stand_in()
        try:
            self._recorder("reset-recording")
            self._recorder("start-recording")
            try:
                r = run(port)
            finally:
                self._recorder("stop-recording")
            r["aws_calls"] = self.aws_calls()
            r["container"] = name
            r["image"] = None
            if r["rc"] == 0:
                r["state_now"] = self.checksum_container(name)
        finally:
            self.quiet(["docker", "rm", "-f", "-v", name])
        return r

    def run_ours_ami(self, i):
        def run(port):
            ec2 = {"name": "aws", "type": "ec2", "region": "us-east-1",
                   "source_ami_filter": {"name": "amzn2-ami-hvm-*", "owners": ["amazon"], "most_recent": True},
                   "instance_type": "t3.micro", "ssh_username": "root", "ssh_host": "127.0.0.1", "ssh_port": port,
                   "ssh_keypair_name": "bench-key", "ssh_private_key_file": self.ssh_key,
                   "allowed_cidrs": ["127.0.0.1/32"], "tags": {"bench.run": self.token}}
            return self.run_ours("ours-ami", i, bust="ami-%d-%s" % (i, secrets.token_hex(2)), ec2=ec2,
                                 env=self.aws_env)
        return self._ami_run("ours-ami", run)

    def run_packer_ami(self, i):
        def run(port):
            tpl = os.path.join(self.work, "packer-ami.json")
            if not os.path.exists(tpl):
                self.write_packer_ami_template(tpl)
            env = dict(self.packer_env(), **self.aws_env)
            env.pop("AWS_ENDPOINT_URL")   # Packer 1.6.6 does not read it: custom_endpoint_ec2 in the template
            argv = ["packer", "build", "-color=false", "-var", "port=%d" % port,
                    "-var", "name=bench-w1-%s-packer-%d-%s" % (self.token, i, secrets.token_hex(2)), tpl]
            timing = os.path.join(self.tmp, "timing", "packer-ansible.json")
            if os.path.exists(timing):
                os.remove(timing)
            r = self.measure([(argv, None)], "packer-ami", env=env, cwd=self.work)
            r["timing"] = _load_json(timing)
            return r
        return self._ami_run("packer-ami", run)

    def write_packer_ami_template(self, path):
        builder = {
            "type": "amazon-ebs", "region": "us-east-1", "access_key": "testing", "secret_key": "testing",
            "custom_endpoint_ec2": self.moto_url, "skip_region_validation": True, "skip_metadata_api_check": True,
            "source_ami_filter": {"filters": {"name": "amzn2-ami-hvm-*"}, "owners": ["amazon"], "most_recent": True},
            "instance_type": "t3.micro", "ssh_username": "root", "ssh_host": "127.0.0.1", "ssh_port": "{{user `port`}}",
            "ssh_keypair_name": "bench-key", "ssh_private_key_file": self.ssh_key,
            "ami_name": "{{user `name`}}", "tags": {"bench.run": self.token},
            # the SDK's waiters default to 15 s between polls; moto answers at once, so poll every second
            "aws_polling": {"delay_seconds": 1, "max_attempts": 120},
        }
        ansible = {
            "type": "ansible", "playbook_file": os.path.join(self.work, "packer-playbook.yml"), "user": "root",
            "use_proxy": False,
            "extra_arguments": ["--extra-vars", "ansible_python_interpreter=/usr/bin/python3"],
            "ansible_env_vars": ["ANSIBLE_COLLECTIONS_PATH=%s" % os.environ.get("ANSIBLE_COLLECTIONS_PATH", ""),
                                 "ANSIBLE_PIPELINING=1", "ANSIBLE_CONFIG=%s" % os.path.join(self.work, "ansible.cfg"),
                                 "ANSIBLE_ROLES_PATH=%s" % os.path.join(self.work, "roles"),
                                 "ANSIBLE_HOST_KEY_CHECKING=False",
                                 "ANSIBLE_CALLBACK_PLUGINS=%s" % os.path.join(HERE, "callback_plugins"),
                                 "ANSIBLE_CALLBACKS_ENABLED=bench_timing",
                                 "BENCH_TIMING_FILE=%s" % os.path.join(self.tmp, "timing", "packer-ansible.json")],
        }
        tpl = {"variables": {"port": "22", "name": ""}, "builders": [builder],
               "provisioners": [{"type": "file", "source": "payload", "destination": "/opt/"}, ansible]}
        with open(path, "w") as f:
            json.dump(tpl, f, indent=1)

    # --- the package-heavy role with plain ansible-playbook ---------------------------------

    def run_plain_pkgs(self, i):
        name = "bench-plain-%s-%d" % (self.token, self.seq + 1)
        image = "%s/plain-pkgs:run" % self.name
        inv = os.path.join(self.work, "plain-inventory-%d.ini" % i)
        with open(inv, "w") as f:
            f.write("[all]\n%s ansible_connection=community.docker.docker_api ansible_python_interpreter=/usr/bin/python3\n"
                    % name)
        timing = os.path.join(self.tmp, "timing", "plain-pkgs-%d.json" % i)
        env = dict(self.ansible_env(timing), ANSIBLE_PIPELINING="1")
        steps = [
            (["docker", "run", "-d", "--network", "host", "--name", name, "--label", "bench.run=%s" % self.token,
              BASE_IMAGE, "sleep", "infinity"], None),
            (["ansible-playbook", "-i", inv, os.path.join(self.work, "pkg-playbook.yml"),
              "-e", "pkg_bust=plain-%d" % i], None),
            (["docker", "commit", "--change", 'CMD ["/bin/bash"]', "--change", "LABEL bench.run=%s" % self.token,
              name, image], None),
            (["docker", "rm", "-f", name], None),
        ]
        r = self.measure(steps, "plain-pkgs", env=env, cwd=self.work)
        r["timing"] = _load_json(timing)
        r["image"] = image
        r["steps"] = ["run", "ansible-playbook", "commit", "rm"]
        r["group"] = "pkgs"
        return r

    def packer_env(self):
        return dict(self.base_env, HOME=os.path.join(self.tmp, "packer-home"),
                    PACKER_CONFIG_DIR=os.path.join(self.tmp, "packer-home"),
                    PACKER_CACHE_DIR=os.path.join(self.tmp, "packer-cache"),
                    PACKER_TMP_DIR=os.path.join(self.tmp, "packer-tmp"), TMPDIR=os.path.join(self.tmp, "packer-tmp"),
                    CHECKPOINT_DISABLE="1", PACKER_LOG="0")

    def run_floor(self, i, tasks):
        """ansible-playbook with `tasks` set_fact tasks on localhost and nothing else (no image)."""
        path = os.path.join(self.work, "floor-%d.yml" % tasks)
        with open(path, "w") as f:
            f.write("- name: Ansible's floor\n  hosts: localhost\n  gather_facts: false\n  tasks:\n")
            for k in range(tasks):
                f.write("    - name: Task %d\n      ansible.builtin.set_fact:\n        floor_%d: \"{{ %d + 1 }}\"\n"
                        % (k, k, k))
        timing = os.path.join(self.tmp, "timing", "ansible-floor-%d-%d.json" % (tasks, i))
        r = self.measure([(["ansible-playbook", path], None)], "ansible-floor-%d" % tasks,
                         env=self.ansible_env(timing), cwd=self.work)
        r["present"] = r["rc"] == 0   # nothing is built
        r["image"] = None
        return r

    def run_packer(self, kind, i):
        name = "bench-pk-%s-%d" % (self.token, self.seq + 1)
        env = self.packer_env()
        argv = ["packer", "build", "-color=false", "-var", "name=%s" % name, "-var", "tag=run",
                os.path.join(self.work, "packer-%s.json" % kind)]
        timing = os.path.join(self.tmp, "timing", "packer-ansible.json")
        if os.path.exists(timing):
            os.remove(timing)
        r = self.measure([(argv, None)], "packer-%s" % kind, env=env, cwd=self.work)
        r["image"] = "%s/packer-%s:run" % (self.name, kind)
        if kind == "ansible":
            r["timing"] = _load_json(timing)
        return r

    def run_docker(self, cold):
        tag = "%s/dockerfile:%s" % (self.name, "cold" if cold else "warm")
        argv = ["docker", "build"] + (["--no-cache"] if cold else []) + ["-t", tag, self.work]
        env = dict(self.base_env, DOCKER_BUILDKIT="0")
        r = self.measure([(argv, None)], "docker-%s" % ("cold" if cold else "warm"), env=env)
        r["image"] = tag
        return r

    def run_raw(self, i):
        name = "bench-raw-%s-%d" % (self.token, self.seq + 1)
        image = "%s/raw:run" % self.name
        steps = [
            (["docker", "run", "-d", "--name", name, "--label", "bench.run=%s" % self.token, BASE_IMAGE,
              "sleep", "infinity"], None),
            (["docker", "cp", os.path.join(self.work, "payload"), "%s:/opt/payload" % name], None),
            (["docker", "exec", "-i", name, "sh", "-e"], os.path.join(self.work, "steps.sh")),
            (["docker", "commit", "--change", 'CMD ["/bin/bash"]', "--change", "LABEL bench.run=%s" % self.token,
              name, image], None),
            (["docker", "rm", "-f", name], None),
        ]
        r = self.measure(steps, "raw")
        r["image"] = image
        r["steps"] = ["run", "cp", "exec", "commit", "rm"]
        return r

    def run_example(self, i, rerun=False):
        name = "bench-example-%s%s" % (self.token, "-rerun" if rerun else "")
        label = "example-rerun" if rerun else "example"
        timing = os.path.join(self.tmp, "timing", "%s-%d.json" % (label, i))
        argv = [os.path.join(ROOT, "scripts", "build-example"), "-e", "image_name=%s" % name,
                "-e", "image_manifest=%s" % os.path.join(self.tmp, "manifests", "%s.json" % label)]
        r = self.measure([(argv, None)], label, env=self.ansible_env(timing))
        r["timing"] = _load_json(timing)
        r["image"] = "%s:1.0.0" % name
        r["present"] = r["rc"] == 0 and self.quiet(["docker", "image", "inspect", r["image"]]).returncode == 0
        if not rerun:   # a first build every time: its artifact tags and its layer cache go
            self.remove_refs(("%s:" % name, "immutable-images-cache/%s:" % name))
        return r

    def remove_refs(self, prefixes):
        out = self.quiet(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"])
        refs = [r for r in out.stdout.split() if r.startswith(tuple(prefixes))]
        if refs:
            self.quiet(["docker", "rmi"] + refs)

    # --- checks --------------------------------------------------------------------------

    def checksum_container(self, container, script="checksum.sh"):
        """The same end state, read from a running container (the AMI variants' stand-in)."""
        with open(os.path.join(self.work, script)) as f:
            out = self.quiet(["docker", "exec", container, "/bin/sh", "-c", f.read()])
        return out.stdout.strip() if out.returncode == 0 else "ERROR: %s" % out.stderr.strip()[-200:]

    def checksum(self, image, script="checksum.sh"):
        """End state (files, owners, modes, users) with one docker run; plus Cmd/Entrypoint from inspect."""
        name = "bench-chk-%s-%d" % (self.token, self.seq)
        with open(os.path.join(self.work, script)) as f:
            script = f.read()
        out = self.quiet(["docker", "run", "--rm", "--name", name, "--label", "bench.run=%s" % self.token,
                          "--entrypoint", "/bin/sh", image, "-c", script])
        state = out.stdout.strip() if out.returncode == 0 else "ERROR: %s" % out.stderr.strip()[-200:]
        ins = self.quiet(["docker", "image", "inspect", image, "--format",
                          "{{json .Config.Cmd}} {{json .Config.Entrypoint}}"])
        cfg = ins.stdout.strip().replace("null", "[]") if ins.returncode == 0 else "ERROR"
        return state, cfg

    def drop(self, image):
        self.quiet(["docker", "rmi", image])

    # --- the run -------------------------------------------------------------------------

    def run_one(self, vname, v, i, counted):
        try:
            r = v["run"](i)
        except Interrupted:
            raise
        except Exception as e:  # noqa: BLE001 - one broken run must not lose the others
            log("%s #%d raised %r" % (vname, i, e))
            r = {"wall": 0.0, "step_walls": [], "rc": -1, "cpu": 0.0, "max_proc_rss": 0, "tree_peak_pss": 0,
                 "tree_peak_rss": 0, "tree_peak_procs": 0, "samples": 0, "machine_busy_cpu": 0.0,
                 "load1": os.getloadavg()[0], "start": time.time(), "log": None, "image": None, "error": repr(e)}
        r.update(variant=vname, index=i, counted=counted)
        if r["rc"] != 0:
            if r.get("log") and not r.get("error"):
                r["error"] = _failure_line(r["log"])
            log("%s #%d FAILED rc=%s (log: %s): %s" % (vname, i, r["rc"], r["log"], r.get("error")))
            r["state"], r["config"] = None, None
        else:
            if v.get("other_workload"):
                ok = r["present"] if "present" in r else \
                    self.quiet(["docker", "image", "inspect", r["image"]]).returncode == 0
                r["state"], r["config"] = ("nothing to build" if r["image"] is None else
                                           "image present" if ok else "MISSING"), None
            elif r.get("container"):   # AMI variants: the stand-in's state, read right after the build
                r["state"], r["config"] = r.get("state_now"), None
                self.checks.setdefault(vname, set()).add(r["state"])
            else:
                script = "pkg-checksum.sh" if r.get("group") == "pkgs" else "checksum.sh"
                for image in r.get("images") or [r["image"]]:   # every target's image of a multi-target build
                    r["state"], r["config"] = self.checksum(image, script)
                    self.checks.setdefault(vname, set()).add(r["state"])
                    self.config_checks.setdefault(vname, set()).add(r["config"])
            self.groups[vname] = r.get("group", "w1")
            if v.get("drop"):
                for image in r.get("images") or [r["image"]]:
                    self.drop(image)
        log("%-15s %s #%d %7.2fs  cpu %6.2fs  peak %5.0f MB  state %s" % (
            vname, "run " if counted else "prime", i, r["wall"], r["cpu"], r["tree_peak_pss"] / 1e6, r["state"]))
        self.records.append(r)
        return r

    def main(self):
        allv = self.variants()
        names = self.args.variants or DEFAULT_VARIANTS
        unknown = [n for n in names if n not in allv]
        if unknown:
            sys.exit("unknown variants: %s (known: %s)" % (", ".join(unknown), ", ".join(allv)))
        self.prepare()
        self.skipped = {}
        active = []
        for n in names:
            if n.startswith("packer") and not shutil.which("packer"):
                self.skipped[n] = "packer is not installed"
                continue
            if allv[n].get("needs") == "ami" and not shutil.which("moto_server"):
                self.skipped[n] = "moto_server is not installed (scripts/setup-env installs it)"
                continue
            if allv[n].get("needs") == "ami" and self.quiet(["docker", "image", "inspect", w1.SSH_BASE_IMAGE]).returncode:
                self.skipped[n] = "the sshd stand-in's image %s is missing (scripts/setup-env makes it)" % w1.SSH_BASE_IMAGE
                continue
            active.append(n)
        log("token %s, variants %s, %d runs each (+ priming), tmp %s" % (self.token, ", ".join(active),
                                                                        self.args.runs, self.tmp))
        t0 = time.time()
        if self.args.warmup:
            for n in active:
                if allv[n].get("prime"):
                    self.run_one(n, allv[n], 0, counted=False)
        for rnd in range(self.args.runs):
            order = active[rnd % len(active):] + active[:rnd % len(active)]
            for n in order:
                for _attempt in range(1 + self.args.retries):
                    if self.run_one(n, allv[n], rnd + 1, counted=True)["rc"] == 0:
                        break
        self.elapsed = time.time() - t0
        return self.report(allv, active)

    # --- report --------------------------------------------------------------------------

    def report(self, allv, active):
        summary = summarize(self.records, active, allv)
        profiles = {n: profile([r for r in self.records if r["variant"] == n and r["counted"]]) for n in active}
        profiles = {n: p for n, p in profiles.items() if p}
        upload = upload_times(self.records)
        states = {v: sorted(s) for v, s in self.checks.items()}
        groups = {}
        for v, s in states.items():
            groups.setdefault(self.groups.get(v, "w1"), set()).update(s)
        reference = states.get("raw") or states.get("ours-cold") or next(iter(states.values()), [None])
        doc = {
            "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "token": self.token, "runs": self.args.runs, "sample_interval_ms": self.args.sample_interval * 1000, "elapsed_s": round(self.elapsed, 1),
            "machine": machine_info(),
            "workload": {"files": w1.DIRS * w1.FILES_PER_DIR, "payload_bytes": w1.DIRS * w1.FILES_PER_DIR * w1.FILE_BYTES,
                         "tasks": w1.task_counts(), "roles": w1.ROLE_ORDER},
            "variants": {n: dict(summary[n], doc=allv[n]["doc"]) for n in summary},
            "skipped": self.skipped,
            "end_state": {"per_variant": states, "config_per_variant": {v: sorted(s) for v, s in self.config_checks.items()},
                          "all_equal": all(len(s) <= 1 for s in groups.values()),   # per workload
                          "groups": {g: sorted(s) for g, s in groups.items()},
                          "group_of": dict(self.groups),
                          "reference": reference},
            "upload_200_files": upload,
            "profiles": profiles,
            "around_role": _around_role(self.records, ("ours-pkgs", "plain-pkgs")),
            "tree": git_state(),
            "raw_records": [{k: v for k, v in r.items() if k not in ("timing",)} for r in self.records],
        }
        md = render_markdown(doc)
        with open(os.path.join(self.results, "latest.json"), "w") as f:
            json.dump(doc, f, indent=1, default=str)
        with open(os.path.join(self.results, "latest.md"), "w") as f:
            f.write(md)
        print(md)
        return 0 if all(s["failures"] == 0 for s in summary.values()) and doc["end_state"]["all_equal"] else 1

    # --- cleanup -------------------------------------------------------------------------

    def cleanup(self):
        log("cleaning up (token %s)" % self.token)
        if getattr(self, "moto", None) is not None:
            self.moto.terminate()
            try:
                self.moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.moto.kill()
        labels = ["bench.run=%s" % self.token, "immutable.images.image-name=%s" % self.name,
                  "immutable.images.image-name=bench-example-%s" % self.token,
                  "immutable.images.image-name=bench-example-%s-rerun" % self.token]
        ids = set()
        for lab in labels:
            out = self.quiet(["docker", "ps", "-aq", "--filter", "label=%s" % lab])
            ids.update(out.stdout.split())
        for pat in ("bench-pk-%s-" % self.token, "bench-raw-%s-" % self.token, "bench-chk-%s-" % self.token,
                    "bench-ssh-%s-" % self.token, "bench-plain-%s-" % self.token):
            out = self.quiet(["docker", "ps", "-aq", "--filter", "name=%s" % pat])
            ids.update(out.stdout.split())
        if ids:
            self.quiet(["docker", "rm", "-f", "-v"] + sorted(ids))
        # images: everything labelled with the token or our image names, and every tag under our names
        for _ in range(3):   # children before parents (legacy build intermediates)
            imgs = set()
            for lab in labels:
                imgs.update(self.quiet(["docker", "images", "-aq", "--filter", "label=%s" % lab]).stdout.split())
            out = self.quiet(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"])
            refs = [r for r in out.stdout.split() if r.startswith((self.name, "bench-example-%s" % self.token,
                                                                    "immutable-images-cache/%s:" % self.name,
                                                                    "immutable-images-cache/bench-example-%s:" % self.token))]
            if refs:
                self.quiet(["docker", "rmi"] + refs)
            if imgs:
                self.quiet(["docker", "rmi", "-f"] + sorted(imgs))
            if not imgs and not refs:
                break
        shutil.rmtree(self.tmp, ignore_errors=True)


DEFAULT_VARIANTS = ["ours-cold", "ours-warm", "ours-lastrole", "ours-cached", "ours-facts", "ours-cached-facts",
                    "ours-4targets", "ours-cold-nowarm", "ours-nowarm-lastrole", "packer-shell", "packer-ansible",
                    "ours-ami", "packer-ami", "docker-cold", "docker-warm", "raw", "example", "example-rerun",
                    "ansible-floor", "ansible-floor-50"]
# Not in the default set: ours-nocache; ours-pkgs and plain-pkgs (they download from Debian's mirror, about a minute
# each per run: `bench/run --variants ours-pkgs,plain-pkgs`).


def _failure_line(path):
    """The most telling line of a failed run's log."""
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for pat in ("failed at stage", "FAILED!", "Error", "error"):
        hits = [l for l in lines if pat in l]
        if hits:
            return hits[-1].strip()[:400]
    return (lines[-1].strip()[:400]) if lines else None


def _load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def git_state():
    """HEAD and the uncommitted files of the collection (read-only git commands)."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=all", "--", "plugins", "roles",
                                "playbooks", "meta"], capture_output=True, text=True).stdout.split("\n")
    except OSError:
        return {}
    return {"head": head, "dirty": sorted({l[3:] for l in dirty if l.strip() and "__pycache__" not in l})}


def machine_info():
    info = {"nproc": os.cpu_count()}
    try:
        info["docker_server"] = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                                               capture_output=True, text=True).stdout.strip()
        info["packer"] = subprocess.run(["packer", "version"], capture_output=True, text=True).stdout.split("\n")[0]
        info["ansible_core"] = subprocess.run(["ansible-playbook", "--version"], capture_output=True,
                                              text=True).stdout.split("\n")[0]
    except OSError:
        pass
    return info


# ---------------------------------------------------------------------------------------------
# Summaries

def _stats(values):
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize(records, active, allv):
    out = {}
    for n in active:
        rs = [r for r in records if r["variant"] == n and r["counted"]]
        ok = [r for r in rs if r["rc"] == 0]
        s = _stats([r["wall"] for r in ok])
        s.update(failures=len(rs) - len(ok),
                 cpu=_stats([r["cpu"] for r in ok])["median"],
                 peak_pss_mb=_stats([r["tree_peak_pss"] / 1e6 for r in ok])["median"],
                 peak_pss_mb_max=max([r["tree_peak_pss"] / 1e6 for r in ok], default=None),
                 peak_rss_mb=_stats([r["tree_peak_rss"] / 1e6 for r in ok])["median"],
                 max_proc_rss_mb=max([r["max_proc_rss"] / 1e6 for r in ok], default=None),
                 procs=max([r["tree_peak_procs"] for r in ok], default=None),
                 load1=_stats([r["load1"] for r in ok])["median"],
                 other_workload=bool(allv[n].get("other_workload")))
        calls = [r["aws_calls"] for r in ok if r.get("aws_calls") is not None]
        if calls:
            s["aws_calls"] = statistics.median([sum(c.values()) for c in calls])
            s["aws_calls_by_action"] = calls[0]
        if ok and ok[0].get("steps"):
            s["step_medians"] = dict(zip(ok[0]["steps"], [statistics.median(w) for w in
                                                          zip(*[r["step_walls"] for r in ok])]))
        out[n] = s
    base = out.get("ours-cold", {}).get("median")
    for n, s in out.items():
        s["ratio_to_ours_cold"] = (s["median"] / base) if base and s["median"] else None
    return out


def upload_times(records):
    """Wall time of the builder_files task that ran (start -> result) in our runs, per variant; a build whose
    first role came from the layer cache uploads nothing."""
    res = {}
    for r in records:
        t = r.get("timing")
        if not r["counted"] or not t or r["rc"] != 0:
            continue
        for task in t["tasks"]:
            if task["action"].endswith("builder_files") and task["results"] \
                    and task["results"][-1].get("status") != "skipped":
                res.setdefault(r["variant"], []).append(task["results"][-1]["end"] - task["start"])
    return {v: _stats(x) for v, x in res.items()}


def _slices(timing, end):
    """Each task's wall slice: from its start to the next task's (or play's, or the run's) start."""
    bounds = sorted([t["start"] for t in timing["tasks"]] + [p["start"] for p in timing["plays"]] + [end])
    out = []
    for t in timing["tasks"]:
        later = [b for b in bounds if b > t["start"]]
        out.append((t, (later[0] if later else end) - t["start"]))
    return out


def _is_w1(task):
    """A task of the image's own roles (W1's three roles; the example's webapp role)."""
    role = task.get("role") or ""
    return bool(role) and not role.startswith("immutable.images")


# Phases of one ansible build, from the timing callback. Slices of tasks are summed by kind.
PHASES = [
    ("wall", "wall (harness)"),
    ("outside", "outside ansible-playbook's run (exec, exit; Packer: its container, file upload, commit, tag)"),
    ("startup", "ansible-playbook start -> first play (imports, inventory, parsing)"),
    ("play0", "play 1 (launch on localhost)"),
    ("play1", "play 2 (provision on the builder)"),
    ("upload", "  of which: upload of the 200 files (builder_files)"),
    ("w1", "  of which: the image roles' tasks (W1: 30; example: 3 + its argument check)"),
    ("include", "  of which: role includes, handlers flush"),
    ("cache", "  of which: layer cache (lookup/store/sync)"),
    ("prov_other", "  of which: other provision tasks"),
    ("play2", "play 3 (finalize on localhost)"),
    ("commit", "  of which: commit + tag"),
    ("cleanup", "  of which: cleanup of temporary resources"),
    ("fin_other", "  of which: other finalize tasks"),
]


def _phase_row(r):
    t = r.get("timing")
    if not t or r["rc"] != 0 or not t.get("end") or not t.get("plays"):
        return None
    start = t.get("process_start") or r["start"]
    plays = [p["start"] for p in t["plays"]] + [t["end"]]
    row = {"wall": r["wall"], "startup": plays[0] - start, "outside": r["wall"] - (t["end"] - start)}
    for k in range(3):
        row["play%d" % k] = (plays[k + 1] - plays[k]) if k + 1 < len(plays) else 0.0
    for key in ("upload", "w1", "include", "cache", "prov_other", "commit", "cleanup", "fin_other"):
        row[key] = 0.0
    actions, w1n, tasks = {}, 0, []
    row["around"] = row["around_run"] = 0
    for task, d in _slices(t, t["end"]):
        a = task["action"]
        if _is_w1(task):
            row["w1"] += d
            w1n += 1
            actions.setdefault(a.split(".")[-1], []).append(d)
            continue
        tasks.append((task["name"], d))
        row["around"] += 1   # a task outside the image's roles; "run" = not skipped on every host
        if any(x.get("status") != "skipped" for x in task["results"]) or not task["results"]:
            row["around_run"] += 1
        if a.endswith("builder_files"):
            row["upload"] += d
        elif a.endswith("layer_cache"):
            row["cache"] += d
        elif a.endswith(("include_role", "include_tasks", "meta")) and task["play"] == 1:
            row["include"] += d
        elif a.endswith("docker_image_commit"):
            row["commit"] += d
        elif a.endswith("immutable.images.docker_cleanup"):
            row["cleanup"] += d
        elif task["play"] == 1:
            row["prov_other"] += d
        elif task["play"] == 2:
            row["fin_other"] += d
    row["w1_count"] = w1n
    return row, actions, tasks


def profile(records):
    """Where an ansible build's time goes: phases and per-task slices, medians over the given runs."""
    rows = [x for x in (_phase_row(r) for r in records) if x]
    if not rows:
        return None
    prof = {"n": len(rows), "phases": {k: statistics.median([r[0][k] for r in rows]) for k, _ in PHASES}}
    prof["w1_count"] = rows[0][0]["w1_count"]
    prof["around"] = statistics.median([r[0]["around"] for r in rows])
    prof["around_run"] = statistics.median([r[0]["around_run"] for r in rows])
    acts = {}
    for _, a, _ in rows:
        for k, v in a.items():
            acts.setdefault(k, []).append(sum(v) / len(v))
    prof["w1_per_module_mean"] = {k: statistics.median(v) for k, v in acts.items()}
    prof["w1_per_task_mean"] = prof["phases"]["w1"] / prof["w1_count"] if prof["w1_count"] else None
    # every other task by position (same playbook every run), median slice
    names = [n for n, _ in rows[0][2]]
    prof["tasks"] = []
    for k, n in enumerate(names):
        vals = [r[2][k][1] for r in rows if len(r[2]) > k and r[2][k][0] == n]
        prof["tasks"].append((n, statistics.median(vals)))
    return prof


def _f(x, digits=2):
    return "-" if x is None else ("%.*f" % (digits, x))


def _derived(variants, records=(), around_role=None):
    """Ratios between variants other than to ours-cold, and ansible-core's own floor, where both ends ran."""
    med = {n: s["median"] for n, s in variants.items() if s["median"]}
    out = []
    for num, den, what in (("ours-lastrole", "ours-cold", "only the last role changed, vs cold"),
                           ("ours-nowarm-lastrole", "ours-cold-nowarm", "the same without the warm interpreter "
                                                                        "(tasks at plain Ansible's cost)"),
                           ("ours-cold", "packer-ansible", "ours cold vs Packer + Ansible"),
                           ("ours-warm", "packer-ansible", "ours warm vs Packer + Ansible")):
        if num in med and den in med:
            out.append("- %s / %s = %.3f (%s)" % (num, den, med[num] / med[den], what))
    for num, den, what in (("ours-cached", "packer-ansible", "every role layer cached, new image, vs Packer + Ansible"),
                           ("ours-lastrole", "packer-ansible", "only the last role changed, vs Packer + Ansible"),
                           ("ours-4targets", "ours-cold", "4 docker targets vs 1"),
                           ("ours-ami", "packer-ami", "AMI on moto + sshd stand-in, ours vs Packer amazon-ebs + Ansible"),
                           ("ours-pkgs", "plain-pkgs", "package-heavy role, ours vs plain ansible-playbook + docker commit")):
        if num in med and den in med:
            out.append("- %s / %s = %.3f (%s)" % (num, den, med[num] / med[den], what))
    pkgs = around_role or {}
    if len(pkgs) == 2 and "plain-pkgs" in med:
        (ours_around, _ours_role), (plain_around, plain_role) = pkgs["ours-pkgs"], pkgs["plain-pkgs"]
        out.append("- package-heavy pair without the role's own task (the mirror and dpkg; medians s): ours %.2f, plain "
                   "%.2f (its docker run, commit and rm included), ours - plain %.2f; with the role's task at plain's "
                   "%.2f s in both: ours / plain = %.3f" % (ours_around, plain_around, ours_around - plain_around,
                                                            plain_role, (ours_around + plain_role) / med["plain-pkgs"]))
    for a, b, what in (("ours-warm", "ansible-floor", "identical rerun minus ansible-floor"),
                       ("ours-facts", "ours-cold", "full fact gathering, one builder (cold)"),
                       ("ours-cached-facts", "ours-cached", "full fact gathering, every layer cached")):
        if a in med and b in med:
            out.append("- %s - %s = %.2f s (%s)" % (a, b, med[a] - med[b], what))
    for a, b in (("ours-cold", "packer-ansible"), ("ours-ami", "packer-ami")):
        if a in variants and b in variants and variants[a].get("peak_pss_mb") and variants[b].get("peak_pss_mb"):
            out.append("- controller peak PSS: %s %.0f MB vs %s %.0f MB (largest process RSS %.0f vs %.0f MB)" % (
                a, variants[a]["peak_pss_mb"], b, variants[b]["peak_pss_mb"], variants[a]["max_proc_rss_mb"],
                variants[b]["max_proc_rss_mb"]))
    for name in ("ours-cold", "packer-ansible"):  # the processes of the run with the highest peak, at that moment
        runs = [r for r in records if r.get("variant") == name and r.get("tree_peak_split")]
        if runs:
            top = max(runs, key=lambda r: r["tree_peak_pss"])
            out.append("- %s at its highest peak (%.0f MB), PSS MB by process: %s" % (name, top["tree_peak_pss"] / 1e6, "; ".join(
                "%.1f %s" % (mb, _short_cmd(cmd)) for mb, cmd in top["tree_peak_split"])))
    for n, s in variants.items():
        if s.get("aws_calls") is not None:
            out.append("- AWS API calls per AMI build, %s: %g (%s)" % (n, s["aws_calls"], ", ".join(
                "%s %d" % kv for kv in sorted(s["aws_calls_by_action"].items(), key=lambda kv: (-kv[1], kv[0])))))
    if "ansible-floor" in med and "ansible-floor-50" in med:
        out.append("- ansible-core's floor on this machine: %.2f s to start and end ansible-playbook, %.3f s per task "
                   "that does nothing ((ansible-floor-50 - ansible-floor) / 49)"
                   % (med["ansible-floor"], (med["ansible-floor-50"] - med["ansible-floor"]) / 49))
    return out


def _around_role(records, names):
    """{variant: (median wall minus the image role's tasks, median of those tasks)} of the counted runs with a timing:
    a package-heavy role's own task is mostly the mirror and dpkg, whose spread hides what a build adds around it."""
    out = {}
    for name in names:
        rows = [(r["wall"], row[0]["w1"]) for r in records if r.get("variant") == name and r.get("counted")
                for row in [_phase_row(r)] if row]
        if rows:
            out[name] = (statistics.median([w - t for w, t in rows]), statistics.median([t for _w, t in rows]))
    return out


def render_markdown(doc):
    L = []
    m = doc["machine"]
    L.append("# W1 benchmark — %s" % doc["generated"])
    L.append("")
    L.append("Machine: %s cores; Docker engine %s; %s; %s. Token %s; %d counted runs per variant, interleaved; "
             "total %.0f s." % (m.get("nproc"), m.get("docker_server"), m.get("ansible_core"), m.get("packer"),
                                doc["token"], doc["runs"], doc["elapsed_s"]))
    wl = doc["workload"]
    L.append("Workload W1: %d files (%d bytes) to /opt/payload, %d tasks (%s) in roles %s, commit CMD [\"/bin/bash\"], tag."
             % (wl["files"], wl["payload_bytes"], sum(wl["tasks"].values()),
                ", ".join("%d %s" % (v, k.split(".")[-1]) for k, v in wl["tasks"].items()), ", ".join(wl["roles"])))
    L.append("")
    L.append("| variant | median s | min s | max s | n | fail | ratio to ours-cold | ctl CPU s | ctl peak PSS MB | "
             "max proc RSS MB | load1 |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, s in doc["variants"].items():
        name = n + (" (other workload)" if s["other_workload"] else "")
        L.append("| %s | %s | %s | %s | %d | %d | %s | %s | %s | %s | %s |" % (
            name, _f(s["median"]), _f(s["min"]), _f(s["max"]), s["n"], s["failures"],
            "-" if s["ratio_to_ours_cold"] is None or s["other_workload"] else "%.3f" % s["ratio_to_ours_cold"],
            _f(s["cpu"]), _f(s["peak_pss_mb"], 0), _f(s["max_proc_rss_mb"], 0), _f(s["load1"], 1)))
    for n, why in doc["skipped"].items():
        L.append("| %s | skipped: %s | | | 0 | | | | | | |" % (n, why))
    L.append("")
    L.append("- wall = whole command(s), measured by the harness. ctl CPU = user+sys of the controller processes "
             "(wait4 rusage of the command's process tree). ctl peak PSS = highest sum of PSS over every process "
             "carrying the run's marker in its environment (the command and everything it started, detached ones "
             "included), sampled from /proc every %.0f ms. max proc RSS = the largest single process's peak RSS "
             "(wait4 ru_maxrss, what `/usr/bin/time -v` calls Maximum resident set size). Docker engine processes "
             "are not counted for any variant. load1 = 1-minute load average at the start of the runs (median)."
             % (doc.get("sample_interval_ms", 50)))
    for n, s in doc["variants"].items():
        if s.get("step_medians"):
            L.append("- %s steps (median s): %s" % (n, ", ".join("%s %.3f" % kv for kv in s["step_medians"].items())))
    L.extend(_derived(doc["variants"], doc.get("raw_records") or (), doc.get("around_role") or {}))
    failed = [r for r in doc["raw_records"] if r["rc"] != 0]
    if failed:
        L.append("")
        L.append("Failed runs (retried; not in the medians):")
        for r in failed:
            L.append("- %s #%s: rc %s — %s (`%s`)" % (r["variant"], r["index"], r["rc"], r.get("error"),
                                                     os.path.relpath(r["log"], HERE) if r.get("log") else "-"))
    es = doc["end_state"]
    L.append("")
    L.append("End state (sha256 prefix over users, groups, paths/owners/modes/types/links and file contents; one "
             "`docker run` per result image, every run; the AMI variants: read from the sshd stand-in after the "
             "build; the package variants: the package database): **%s**." % (
                 "all variants of each workload identical" if es["all_equal"] else "DIFFERENT"))
    for v, s in es["per_variant"].items():
        L.append("- %s: %s; Cmd/Entrypoint %s%s" % (v, ", ".join(s), ", ".join(es["config_per_variant"].get(v, [])) or "-",
                                                   "" if es.get("group_of", {}).get(v, "w1") == "w1" else " (workload %s)"
                                                   % es["group_of"][v]))
    if doc["upload_200_files"]:
        L.append("")
        L.append("Upload of the 200 files in our builds (the `builder_files` task, start to result; median (min–max) s): " +
                 "; ".join("%s %s (%s–%s)" % (v, _f(s["median"], 3), _f(s["min"], 3), _f(s["max"], 3))
                           for v, s in doc["upload_200_files"].items()))
    profs = doc.get("profiles") or {}
    if profs:
        names = list(profs)
        L.append("")
        L.append("### Where the time of the Ansible builds goes (medians, s; a task's slice = its start to the next "
                 "task's start)")
        L.append("")
        L.append("| phase | " + " | ".join("%s (n=%d)" % (n, profs[n]["n"]) for n in names) + " |")
        L.append("|---|" + "---:|" * len(names))
        for key, title in PHASES:
            L.append("| %s | %s |" % (title, " | ".join(_f(profs[n]["phases"].get(key), 2) for n in names)))
        L.append("| tasks around the image's roles: started / not skipped | %s |" % " | ".join(
            "%g / %g" % (profs[n]["around"], profs[n]["around_run"]) for n in names))
        L.append("| image-role tasks seen / mean slice per task | %s |" % " | ".join(
            "%d / %s" % (profs[n]["w1_count"], _f(profs[n]["w1_per_task_mean"], 3)) for n in names))
        mods = sorted({m for n in names for m in profs[n]["w1_per_module_mean"]})
        for m in mods:
            L.append("| mean slice of a `%s` task | %s |" % (m, " | ".join(
                _f(profs[n]["w1_per_module_mean"].get(m), 3) for n in names)))
        for n in ("ours-cold", "ours-lastrole", "ours-warm", "ours-ami"):
            if n in profs:
                L.append("")
                L.append("Every task of %s outside the image's roles (median slice, s):" % n)
                L.append("")
                L.append("| task | s |")
                L.append("|---|---:|")
                for name, v in profs[n]["tasks"]:
                    L.append("| %s | %s |" % (name.replace("|", "/"), _f(v, 3)))
    tree = doc.get("tree") or {}
    if tree:
        L.append("")
        L.append("Collection tree measured: %s%s" % (tree.get("head"), ", with uncommitted changes in: " +
                                                     ", ".join(tree["dirty"]) if tree.get("dirty") else " (clean)"))
    return "\n".join(L) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", 5)), help="counted runs per variant")
    ap.add_argument("--variants", type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                    help="comma-separated (default: %s)" % ",".join(DEFAULT_VARIANTS))
    ap.add_argument("--no-warmup", dest="warmup", action="store_false",
                    help="skip the uncounted priming runs (warm variants then measure their first run)")
    ap.add_argument("--retries", type=int, default=1,
                    help="run a failed run again this many times (failures stay in the 'fail' column)")
    ap.add_argument("--sample-interval", type=float, default=0.05, help="memory sampling interval, s")
    ap.add_argument("--token", help=argparse.SUPPRESS)
    ap.add_argument("--results", help="write latest.md/latest.json and the logs here (default: bench/results)")
    ap.add_argument("--cprofile", metavar="DIR",
                    help="run ansible-playbook of our variants under cProfile, one .prof per run in DIR")
    ap.add_argument("--collection", action="append", default=[], metavar="LABEL=PATH",
                    type=lambda s: tuple(s.split("=", 1)) if "=" in s else ap.error("--collection LABEL=PATH"),
                    help="also run each ours-* variant as VARIANT@LABEL with ANSIBLE_COLLECTIONS_PATH=PATH (another "
                         "checkout's ansible_collections parent), interleaved: name them in --variants")
    ap.add_argument("--list", action="store_true", help="list the variants and exit")
    args = ap.parse_args(argv)
    if args.list:
        b = Bench.__new__(Bench)
        for n, v in Bench.variants(b).items():
            print("%-15s %s%s" % (n, v["doc"], "" if n in DEFAULT_VARIANTS else "  [not in the default set]"))
        return 0
    bench = Bench(args)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, bench.interrupt)
    try:
        return bench.main()
    except Interrupted:
        log("interrupted")
        return 130
    finally:
        bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
