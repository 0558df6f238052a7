# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Behind a company proxy set up the way Docker documents it (the `proxies` of the docker CLI's config.json), a role
reaches the network from the builder as it does from a container started with `docker run`, and the image does not
carry the proxy. A proxy on this machine answers for a name that resolves nowhere, so only a request through it
succeeds."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading

import pytest

from conftest import BASE_IMAGE, ansible_env, run_build

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROLE = """
- name: Fetch a file that only the proxy serves
  ansible.builtin.get_url:
    url: http://packages.immutable.test/motd
    dest: /etc/motd.proxied
    mode: "0644"
- name: Keep what the role's tasks see of the proxy
  ansible.builtin.shell: env | grep -i _proxy= | sort > /etc/proxy-env
  changed_when: true
"""


class _Proxy(http.server.BaseHTTPRequestHandler):
    """A forward proxy that answers every request itself: the request line of a client that uses a proxy carries the
    whole URL."""
    seen = []

    def do_GET(self):  # noqa: N802 - http.server's name
        self.seen.append(self.path)
        body = ("served by the proxy for %s\n" % self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Proxy.seen = []
    yield "http://127.0.0.1:%d" % server.server_address[1], _Proxy.seen
    server.shutdown()
    server.server_close()


def test_a_role_reaches_the_network_through_the_docker_clients_proxies_which_the_image_does_not_keep(
        docker_client, project, docker_definition, remove_images, proxy, tmp_path):
    url, seen = proxy
    url = url.replace("http://", "http://builder:Pr0xy-Secret@")  # a company proxy's login, which nothing may show
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"proxies": {"default": {"httpProxy": url, "noProxy": "localhost"}}}))
    env = {"DOCKER_CONFIG": str(config)}
    project.role("proxied", ROLE)
    remove_images("proxied")
    # host networking: the builder reaches the proxy on this machine's loopback; the session's way, then the way of
    # one docker exec per command (community.docker's docker_api) that a builder without a session takes
    outputs = []
    for version, options in (("1.0.0", {}), ("1.0.1", {"image_warm_interpreter": False, "image_cache": False})):
        definition = dict(docker_definition("proxied", ["proxied"], network_mode="host"), image_version=version,
                          **options)
        proc = run_build(project.path, definition, "-vvvv", env=env)
        assert proc.returncode == 0, proc.output[-3000:]
        assert "Pr0xy-Secret" not in proc.output
        image = docker_client.images.get("proxied:" + version)
        assert not [e for e in image.attrs["Config"]["Env"] or [] if "proxy" in e.lower()], image.attrs["Config"]["Env"]
        outputs.append(docker_client.containers.run(image.id, ["-c", "cat /etc/motd.proxied /etc/proxy-env"],
                                                    entrypoint=["/bin/sh"], remove=True).decode())
    assert seen == ["http://packages.immutable.test/motd"] * 2
    built = outputs[0]
    assert outputs[1] == built

    # the same role in a plain play against a container the docker CLI started with the same configuration
    name = "immutable-test-proxied-plain"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(["docker", "run", "-d", "--name", name, "--network", "host", "--entrypoint", "/bin/sh",
                    "--label", "immutable.images.test=proxied", BASE_IMAGE, "-c", "sleep 600"],
                   env=ansible_env(env), capture_output=True, check=True)
    try:
        (tmp_path / "inventory.json").write_text(json.dumps({"all": {"hosts": {name: {
            "ansible_connection": "community.docker.docker_api", "ansible_python_interpreter": "/usr/bin/python3"}}}}))
        (project.path / "plain.yml").write_text(json.dumps([{"hosts": "all", "gather_facts": False,
                                                             "roles": ["proxied"]}]))
        plain = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inventory.json"), "plain.yml"],
                               cwd=str(project.path), env=ansible_env(env), capture_output=True, text=True,
                               timeout=300, check=False)
        assert plain.returncode == 0, plain.stdout + plain.stderr
        played = subprocess.run(["docker", "exec", name, "cat", "/etc/motd.proxied", "/etc/proxy-env"],
                                capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    assert played == built
    assert built.splitlines() == ["served by the proxy for http://packages.immutable.test/motd",
                                  "HTTP_PROXY=" + url, "NO_PROXY=localhost", "http_proxy=" + url, "no_proxy=localhost"]
