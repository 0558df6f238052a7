# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An ec2 builder reached through a bastion host (the target's ssh_bastion_* options).

One ssh command to the bastion serves twice: as the ProxyCommand of Ansible's connection to the builder
(`proxy_command`, which the builder's inventory entry puts in ansible_ssh_common_args), and, with `-W`, as the
probe that waits for the builder's SSH port from where the bastion stands (`probe`, for client.wait_for_port).
Nothing else reaches the builder, so nothing else needs to know about the bastion. OpenSSH's own client does the
work: the bastion's host keys, its user's ~/.ssh/config and agent are used as for any host of the controller's.
"""

from __future__ import annotations

import os
import select
import shlex
import subprocess
import time

# A probe waits this long for the builder's SSH banner through the bastion (a whole SSH login to the bastion first).
PROBE_TIMEOUT = 20.0


class BastionError(Exception):
    """The bastion itself cannot be used (login, host key, forwarding refused): waiting longer cannot help."""


def bastion(host=None, port=22, username=None, private_key_file=None, host_key_checking=True):
    """The bastion as the builder's result carries it (None without a host), with the ProxyCommand that the
    builder's inventory entry (plugin_utils/_builder_inventory.py) and the kept builder's hint use."""
    if not host:
        return None
    b = {"host": host, "port": int(port or 22), "username": username or None,
         "private_key_file": private_key_file or None, "host_key_checking": bool(host_key_checking)}
    return dict(b, proxy_command=proxy_command(b))


def ssh_argv(b, connect_timeout=10):
    """ssh to the bastion, without its destination: batch mode (a prompt would hang the build), the bastion's own
    port, user and key; its host key checked as Ansible checks a host's (Ansible's host_key_checking), not at all
    when that is off, as for the builder."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % connect_timeout, "-p", str(b["port"])]
    if b.get("private_key_file"):
        argv += ["-i", b["private_key_file"], "-o", "IdentitiesOnly=yes"]
    if not b.get("host_key_checking", True):
        argv += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
    if b.get("username"):
        argv += ["-l", b["username"]]
    return argv


def where(b):
    return "%s%s:%s" % (b["username"] + "@" if b.get("username") else "", b["host"], b["port"])


def proxy_command(b):
    """The ProxyCommand: ssh expands %h and %p to the builder's address and port (a literal % is written %%)."""
    words = [shlex.quote(w.replace("%", "%%")) for w in ssh_argv(b)]
    return " ".join(words + ["-W", "%h:%p", shlex.quote(b["host"].replace("%", "%%"))])


def probe(b):
    """connect(host, port, timeout) for client.wait_for_port: returns once the builder's sshd answers through the
    bastion (its banner arrives); ConnectionRefusedError when the bastion's connection to it was refused, OSError
    for another failure of that connection (not up yet), BastionError when the bastion itself cannot be used."""
    def connect(host, port, timeout):
        argv = ssh_argv(b) + ["-W", "%s:%s" % (host, port), b["host"]]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            banner = _first_bytes(proc, max(timeout, PROBE_TIMEOUT))
        finally:
            proc.kill()
            err = proc.communicate()[1].decode("utf-8", "replace").strip()
        if banner.startswith(b"SSH-"):
            return
        _raise_for(b, host, port, err, banner)
    return connect


def _first_bytes(proc, timeout):
    """What the builder's side sent first (b"" when ssh ended or nothing came in time)."""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b""
        if select.select([fd], [], [], left)[0]:
            return os.read(fd, 256)


def _raise_for(b, host, port, err, banner):
    lines = [line for line in err.splitlines() if line.strip()]
    said = lines[-1] if lines else ("no SSH banner from %s:%s" % (host, port) if banner or not err else err)
    if "open failed" in err or "stdio forwarding failed" in err:  # the bastion's connection to the builder
        if "administratively prohibited" in err:
            raise BastionError("the bastion %s does not forward connections to %s:%s (AllowTcpForwarding?): %s"
                               % (where(b), host, port, said))
        if "Connection refused" in err:
            raise ConnectionRefusedError("through the bastion %s: %s" % (where(b), said))
        raise OSError("through the bastion %s: %s" % (where(b), said))
    if not err:  # the builder's side connected but sent no banner yet (sshd still starting)
        raise OSError("through the bastion %s: %s" % (where(b), said))
    if "Host key verification failed" in err:
        said += (" (its host key is checked as Ansible's host_key_checking says: add it to the controller user's"
                 " known_hosts, or turn host_key_checking off)")
    raise BastionError("cannot use the bastion %s: %s" % (where(b), said))
