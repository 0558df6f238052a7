# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/_ec2/bastion.py: the ssh command to a bastion, and what its probe makes of ssh's answers. A build
through a real bastion (sshd containers, moto): tests/integration/test_ec2_bastion.py."""

from __future__ import annotations

import os
import time

import pytest

from ansible_collections.immutable.images.plugins.module_utils._ec2 import bastion
from ansible_collections.immutable.images.plugins.module_utils._ec2.client import wait_for_port


def test_no_host_is_no_bastion():
    assert bastion.bastion(None, 2200, "jump") is None


def test_the_bastions_host_key_is_checked_unless_host_key_checking_is_off():
    checked = bastion.bastion("jump.example.com")
    assert checked["port"] == 22 and checked["username"] is None and checked["private_key_file"] is None
    argv = bastion.ssh_argv(checked)
    assert "StrictHostKeyChecking=no" not in argv and "-l" not in argv and "-i" not in argv
    assert ["-o", "BatchMode=yes"] == argv[1:3]  # never a prompt that would hang the build
    unchecked = bastion.ssh_argv(bastion.bastion("jump.example.com", username="jump", host_key_checking=False))
    at = unchecked.index("StrictHostKeyChecking=no")
    assert unchecked[at - 1:at + 3] == ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    assert unchecked[-2:] == ["-l", "jump"]


B = bastion.bastion("jump.example.com", 2200, "jump")


@pytest.mark.parametrize("err, raised, says", [
    ("channel 0: open failed: connect failed: Connection refused\nstdio forwarding failed", ConnectionRefusedError,
     "through the bastion jump@jump.example.com:2200: stdio forwarding failed"),
    ("channel 0: open failed: connect failed: No route to host\nstdio forwarding failed", OSError,
     "through the bastion jump@jump.example.com:2200"),
    ("channel 0: open failed: administratively prohibited: open failed\nstdio forwarding failed", bastion.BastionError,
     "the bastion jump@jump.example.com:2200 does not forward connections to 10.0.3.7:22 (AllowTcpForwarding?)"),
    ("jump@jump.example.com: Permission denied (publickey).", bastion.BastionError,
     "cannot use the bastion jump@jump.example.com:2200: jump@jump.example.com: Permission denied (publickey)."),
    ("Host key verification failed.", bastion.BastionError,
     "Host key verification failed. (its host key is checked as Ansible's host_key_checking says"),
    ("ssh: Could not resolve hostname jump.example.com: Name or service not known", bastion.BastionError,
     "cannot use the bastion"),
    ("", OSError, "no SSH banner from 10.0.3.7:22"),  # connected, nothing yet: sshd still starting
])
def test_what_the_probe_makes_of_ssh_s_answer(err, raised, says):
    with pytest.raises(raised) as e:
        bastion._raise_for(B, "10.0.3.7", 22, err, b"")
    assert says in str(e.value)
    assert isinstance(e.value, OSError) != (raised is bastion.BastionError)  # wait_for_port retries OSError only


def test_a_bastion_that_cannot_be_used_ends_the_wait_at_once():
    calls = []

    def connect(host, port, timeout):
        calls.append((host, port))
        raise bastion.BastionError("cannot use the bastion jump@jump.example.com:2200: Permission denied")
    with pytest.raises(bastion.BastionError):
        wait_for_port("10.0.3.7", 22, timeout=60, interval=0.01, connect=connect)
    assert calls == [("10.0.3.7", 22)]


def test_the_probe_runs_ssh_with_W_and_ends_it(tmp_path, monkeypatch):
    # A stand-in `ssh` on PATH: it records its arguments, answers as sshd would, then waits (as ssh -W does).
    fake = tmp_path / "ssh"
    fake.write_text("#!/bin/sh\necho \"$@\" > %s/argv\nprintf 'SSH-2.0-OpenSSH_9.2\\r\\n'\nexec sleep 30\n" % tmp_path)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    started = time.monotonic()
    bastion.probe(B)("10.0.3.7", 22, 5)
    assert time.monotonic() - started < 10  # the banner ends the probe: it does not wait for ssh to end by itself
    assert (tmp_path / "argv").read_text().split()[-3:] == ["-W", "10.0.3.7:22", "jump.example.com"]
