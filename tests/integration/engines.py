# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A second Docker engine for the tests, reachable over TCP with mutual TLS (a pytest plugin).

Made as /work/shared/notes/real-world-recipes.md says ("A second Docker engine with mutual TLS"):
its own data root, exec root, pid file, unix socket, a TCP port on 127.0.0.1 with certificates made
here with openssl (the CA carries keyUsage keyCertSign,cRLSign: Python's strict verification wants it)
and ITS OWN BRIDGE. Never `--bridge=none`: a second dockerd started so deletes the first engine's
docker0 and breaks every container on the machine. The base image is copied in with docker save | load.

Use: `pytest_plugins = ["engines"]` (conftest.py does), then the session fixture `tls_engine`.

Also a newer engine with the containerd image store (`containerd_store_engine`: Docker 26.1 with containerd-snapshotter,
what new installs of Docker 29 use by default), started the same way on a unix socket only.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

# Each engine gets a bridge of its own, iitls<n> on 172.31.<200+n>.0/24 (n < 50): the first n whose bridge and subnet
# do not exist yet. Two second engines on the machine (a targeted run of another checkout beside the suite, say) must
# not share one: starting the second deleted the first one's bridge. One that exists is never taken over: its engine
# may be stopped for a moment (test_engine_pool.py stops it); one left by a killed run goes with `ip link del`.
BRIDGE_PREFIX = "iitls"  # a name at most 15 characters long, after nothing else on the machine
BRIDGE_SUBNETS = 50


class Engine:
    """A running second dockerd: url and tls for a target, env for the docker CLI / SDK, client()."""

    def __init__(self, root, port, bridge):
        self.root, self.port, self.bridge = root, port, bridge
        self.certs = os.path.join(root, "certs")
        self.socket = os.path.join(root, "docker.sock")
        self.url = "tcp://127.0.0.1:%d" % port
        # also on its bridge's address: an engine reached at an address that is not loopback, as a build host's or
        # a CI job's dind service is (its certificate names that address too)
        self.network_url = "tcp://%s:%d" % (bridge_address(bridge), port)
        self.unix_url = "unix://" + self.socket
        self.tls = {"ca_cert": os.path.join(self.certs, "ca.pem"), "client_cert": os.path.join(self.certs, "cert.pem"),
                    "client_key": os.path.join(self.certs, "key.pem")}
        self.env = {"DOCKER_HOST": self.url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": self.certs}
        self.process = None

    def client(self):
        """An SDK client over the engine's own unix socket (what the tests inspect with, not what builds use)."""
        import docker

        return docker.DockerClient(base_url=self.unix_url, version="auto")

    def cli(self, *args, **kwargs):
        return subprocess.run(["docker", "-H", self.unix_url] + list(args), check=True, capture_output=True, **kwargs)

    def stop(self):
        """Stop the engine (its containers end with it); True if it was running."""
        if self.process is None or self.process.poll() is not None:
            return False
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return True

    def start(self):
        log = open(os.path.join(self.root, "dockerd.log"), "ab")
        self.process = subprocess.Popen(
            ["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=" + self.bridge,
             "--data-root", os.path.join(self.root, "data"), "--exec-root", os.path.join(self.root, "exec"),
             "--pidfile", os.path.join(self.root, "docker.pid"), "-H", self.unix_url, "-H", self.url, "-H", self.network_url,
             # registries on its bridge are insecure to it, as a CI job's registry service is to its dind
             "--insecure-registry", self.network_url.split("://", 1)[1].rsplit(".", 1)[0] + ".0/24",
             "--tlsverify", "--tlscacert", self.tls["ca_cert"], "--tlscert", os.path.join(self.certs, "server-cert.pem"),
             "--tlskey", os.path.join(self.certs, "server-key.pem")],
            stdout=log, stderr=log, start_new_session=True)
        self._wait_until_it_answers()

    def _wait_until_it_answers(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the second dockerd ended: see %s/dockerd.log" % self.root)
            if subprocess.run(["docker", "-H", self.unix_url, "info"], capture_output=True, check=False).returncode == 0:
                return
            time.sleep(0.5)
        raise RuntimeError("the second dockerd did not answer in 60s: see %s/dockerd.log" % self.root)


def make_certificates(certs, server_names="DNS:localhost,DNS:engine.test,IP:127.0.0.1"):
    """A CA (ca.pem), a server certificate for `server_names` (server-cert.pem, server-key.pem) and a client
    certificate (cert.pem, key.pem) in the new directory `certs`."""
    os.makedirs(certs)

    def openssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=certs, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "30",
            "-subj", "/CN=immutable-images-test-ca", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    with open(os.path.join(certs, "server.cnf"), "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % server_names +
                "keyUsage=digitalSignature,keyEncipherment\nauthorityKeyIdentifier=keyid\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server-key.pem", "-out", "server.csr", "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
            "-out", "server-cert.pem", "-days", "30", "-extfile", "server.cnf")
    with open(os.path.join(certs, "client.cnf"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\nauthorityKeyIdentifier=keyid\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "client.csr", "-subj", "/CN=client")
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
            "-out", "cert.pem", "-days", "30", "-extfile", "client.cnf")
    for key in ("ca-key.pem", "server-key.pem", "key.pem"):
        os.chmod(os.path.join(certs, key), 0o600)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bridge_address(name):
    """The IPv4 address add_bridge gave the bridge `name` (an address of this machine that is not loopback)."""
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", name], capture_output=True, text=True, check=True)
    return shown.stdout.split(" inet ", 1)[1].split("/", 1)[0]


def add_bridge():
    """Make a free bridge (see BRIDGE_PREFIX); its name."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
    for n in range(BRIDGE_SUBNETS):
        name, subnet = "%s%d" % (BRIDGE_PREFIX, n), "172.31.%d." % (200 + n)
        if subnet in routes:
            continue  # some other network of the machine, or another engine's bridge
        # `ip link add` fails when the name exists: another run has just taken it, or a killed run left it
        if subprocess.run(["ip", "link", "add", name, "type", "bridge"], capture_output=True, check=False).returncode:
            continue
        for cmd in (["ip", "addr", "add", subnet + "1/24", "dev", name], ["ip", "link", "set", name, "up"]):
            subprocess.run(cmd, check=True, capture_output=True)
        return name
    raise RuntimeError("no free bridge %s0..%d for a second engine" % (BRIDGE_PREFIX, BRIDGE_SUBNETS - 1))


@pytest.fixture(scope="session")
def tls_engine(tmp_path_factory):
    """A second Docker engine on 127.0.0.1 with mutual TLS and the base image, for the whole session."""
    if not shutil.which("dockerd") or os.geteuid() != 0:
        pytest.skip("a second engine needs dockerd and root (for its bridge)")
    # Short: the engine's unix sockets (its own and containerd's) must stay under 107 bytes.
    root = str(tmp_path_factory.mktemp("e2"))
    bridge = add_bridge()
    try:
        make_certificates(os.path.join(root, "certs"), "DNS:localhost,DNS:engine.test,IP:127.0.0.1,IP:" + bridge_address(bridge))
    except BaseException:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
        raise
    with _running_with_the_base_image(Engine(root, _free_port(), bridge)) as engine:
        yield engine


@contextlib.contextmanager
def _running_with_the_base_image(engine):
    """The engine started, with the first engine's base image loaded into it; stopped and its bridge removed after."""
    from conftest import BASE_IMAGE

    try:
        engine.start()
        save = subprocess.Popen(["docker", "save", BASE_IMAGE], stdout=subprocess.PIPE)
        engine.cli("load", stdin=save.stdout)
        save.wait()
        yield engine
    finally:
        engine.stop()
        subprocess.run(["ip", "link", "del", engine.bridge], capture_output=True, check=False)


class ContainerdStoreEngine(Engine):
    """A newer Docker engine (Debian 13's 26.1, unpacked by scripts/setup-env into .deps/docker-c8d) with the containerd
    image store, which new installs of Docker use by default since Docker 29: an image's id there is the digest of a
    manifest the engine writes, not of the image's config. Only its unix socket; its own bridge and containerd."""

    def __init__(self, root, bridge, binaries):
        super().__init__(root, 0, bridge)
        self.binaries = binaries
        self.port = self.tls = None
        self.url = self.unix_url
        self.env = {"DOCKER_HOST": self.unix_url}

    def start(self):
        config = os.path.join(self.root, "daemon.json")
        with open(config, "w") as f:
            f.write('{"features": {"containerd-snapshotter": true}}\n')
        env = dict(os.environ, PATH="%s:%s" % (os.path.join(self.binaries, "usr", "bin"), os.environ["PATH"]))
        log = open(os.path.join(self.root, "dockerd.log"), "ab")
        self.process = subprocess.Popen(
            [os.path.join(self.binaries, "usr", "sbin", "dockerd"), "--config-file", config, "--iptables=false",
             "--ip6tables=false", "--bridge=" + self.bridge, "--data-root", os.path.join(self.root, "data"),
             "--exec-root", os.path.join(self.root, "exec"), "--pidfile", os.path.join(self.root, "docker.pid"),
             "-H", self.unix_url],
            stdout=log, stderr=log, start_new_session=True, env=env)
        self._wait_until_it_answers()


@pytest.fixture(scope="session")
def containerd_store_engine(tmp_path_factory):
    """A second Docker engine with the containerd image store and the base image, for the whole session."""
    from conftest import ROOT

    binaries = os.environ.get("IMMUTABLE_NEWER_DOCKER") or os.path.join(ROOT, ".deps", "docker-c8d")
    assert os.path.exists(os.path.join(binaries, "usr", "sbin", "dockerd")), "no newer dockerd: run scripts/setup-env"
    if os.geteuid() != 0:
        pytest.skip("a second engine needs root (for its bridge)")
    root = str(tmp_path_factory.mktemp("c8d"))  # short: containerd's socket path must stay under 107 bytes
    with _running_with_the_base_image(ContainerdStoreEngine(root, add_bridge(), binaries)) as engine:
        yield engine


class SshEngine:
    """The TLS engine again, reached as ssh://root@127.0.0.1:<port>: an sshd container (on the first engine) with the
    docker CLI and the second engine's socket. env puts an `ssh` first on PATH that uses this key and config only."""

    def __init__(self, url, env):
        self.url, self.env = url, env


@pytest.fixture(scope="session")
def ssh_engine(tls_engine, tmp_path_factory):
    """ssh:// to the second engine. Needs paramiko importable: the Docker SDK imports it for every ssh:// engine."""
    import docker

    from conftest import SSH_BASE_IMAGE

    pytest.importorskip("paramiko", reason="the Docker SDK needs paramiko for ssh:// engines")
    base = tmp_path_factory.mktemp("sshengine")
    key = base / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    pub = (base / "key.pub").read_text().strip()
    script = ("mkdir -p /run/sshd /root/.ssh && chmod 700 /root/.ssh && echo '%s' > /root/.ssh/authorized_keys"
              " && ssh-keygen -A && exec /usr/sbin/sshd -D -e" % pub)
    client = docker.from_env()
    container = client.containers.run(
        SSH_BASE_IMAGE, ["-c", script], entrypoint=["/bin/sh"], detach=True, name="remote-sshd-%s" % uuid.uuid4().hex[:8],
        ports={"22/tcp": ("127.0.0.1", None)},
        volumes={shutil.which("docker"): {"bind": "/usr/local/bin/docker", "mode": "ro"},
                 tls_engine.socket: {"bind": "/var/run/docker.sock", "mode": "rw"}})
    try:
        container.reload()
        port = int(container.ports["22/tcp"][0]["HostPort"])
        (base / "config").write_text("Host 127.0.0.1\n  User root\n  IdentityFile %s\n  StrictHostKeyChecking no\n"
                                     "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n" % key)
        wrapper = base / "bin" / "ssh"
        wrapper.parent.mkdir()
        wrapper.write_text('#!/bin/sh\nexec %s -F %s "$@"\n' % (shutil.which("ssh"), base / "config"))
        wrapper.chmod(0o755)
        env = {"PATH": "%s:%s" % (wrapper.parent, os.environ["PATH"])}
        url = "ssh://root@127.0.0.1:%d" % port
        deadline = time.monotonic() + 30
        while subprocess.run(["ssh", "-p", str(port), "root@127.0.0.1", "docker", "version"], capture_output=True, check=False,
                             env=dict(os.environ, **env)).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("no docker over ssh at %s" % url)
            time.sleep(0.5)
        yield SshEngine(url, env)
    finally:
        container.remove(force=True)
