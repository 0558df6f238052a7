# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The warm interpreter's server and client, run here on the local Python: a program piped to the
interpreter runs in a forked child of the server, with the client's cwd, environment, umask and
exit status; without a server it runs the usual way."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
import zipfile

import pytest

from ansible_collections.immutable.images.plugins.module_utils._warm import agent as session_agent, install as warm_interpreter

PROGRAM = b"""
import os, sys
sys.stdout.write("cwd=%s env=%s warm=%s umask=%03o\\n" % (
    os.getcwd(), os.environ.get("FLAVOUR"), "ansible.module_utils.basic" in sys.modules, os.umask(0)))
sys.stderr.write("to stderr\\n")
sys.exit(int(os.environ.get("EXIT", "0")))
"""


@pytest.fixture
def installed(tmp_path):
    """The install archive unpacked into tmp_path; returns (dir, socket path)."""
    with tarfile.open(fileobj=io.BytesIO(warm_interpreter.install_archive())) as tar:
        tar.extractall(tmp_path, filter="data")
    base = tmp_path / "immutable-images-warm"
    return base, str(base / "warm.sock")


def run(base, sock, interpreter, env=None, args=(), cwd=None):
    environment = dict(os.environ, PYTHONPATH=str(base / "client"),
                       IMMUTABLE_IMAGES_WARM="%s|%s" % (sock, interpreter), FLAVOUR="mint", **(env or {}))
    return subprocess.run([sys.executable] + list(args), input=PROGRAM, capture_output=True, env=environment,
                          cwd=cwd, check=False, timeout=30)


def start_server(base, sock):
    subprocess.run([sys.executable, str(base / "server.py"), sock, str(base / "preload.zip")], check=True, timeout=30)
    for _attempt in range(100):
        if os.path.exists(sock):
            return
        time.sleep(0.05)
    raise AssertionError("the server did not listen")


def stop_server(sock):
    out = subprocess.run(["pgrep", "-f", sock], capture_output=True, text=True, check=False).stdout.split()
    for pid in out:
        try:
            os.kill(int(pid), 15)
        except ProcessLookupError:  # a process of the server (a worker it forked) that ended since pgrep listed it
            pass


def test_preload_zip_holds_basic_and_its_vendored_distro():
    names = zipfile.ZipFile(io.BytesIO(warm_interpreter.preload_zip())).namelist()
    assert "ansible/module_utils/basic.py" in names
    assert "ansible/module_utils/_internal/_ansiballz/_loader.py" in names
    assert "ansible/module_utils/distro/_distro.py" in names and "ansible/module_utils/distro/__init__.py" in names
    assert len(names) == len(set(names))


def test_program_runs_in_the_warm_server_with_the_clients_process_state(installed, tmp_path):
    base, sock = installed
    start_server(base, sock)
    try:
        workdir = tmp_path / "work"
        workdir.mkdir()
        result = run(base, sock, sys.executable, env={"EXIT": "7"}, cwd=str(workdir))
        assert result.returncode == 7, result.stderr
        assert result.stdout.decode() == "cwd=%s env=mint warm=True umask=%03o\n" % (workdir, _umask())
        assert b"to stderr" in result.stderr
    finally:
        stop_server(sock)


ZIP_PROGRAM = b"""
import os, sys, traceback, zipfile
path = os.path.join(os.environ["ZIPDIR"], "payload.zip")  # a new zip at a new path, as every AnsiballZ run
with zipfile.ZipFile(path, "w") as z:
    z.writestr("zipmod.py", os.environ["SOURCE"])
sys.path.insert(0, path)
import zipmod
try:
    zipmod.fail()
except ValueError:
    sys.stdout.write("%s %s\\n" % (zipmod.VALUE, traceback.extract_tb(sys.exc_info()[2])[-1].filename))
"""
ZIP_SOURCE = "VALUE = %r\ndef fail():\n    raise ValueError(VALUE)\n"


def test_code_imported_from_a_zip_is_compiled_once_for_every_run(installed, tmp_path):
    base, sock = installed
    start_server(base, sock)
    try:
        runs = []
        for value in ("one", "one", "two"):
            zipdir = tmp_path / ("run%d" % len(runs))
            zipdir.mkdir()
            env = {"ZIPDIR": str(zipdir), "SOURCE": ZIP_SOURCE % value}
            result = subprocess.run([sys.executable], input=ZIP_PROGRAM, capture_output=True, timeout=30, check=False,
                                    env=dict(os.environ, PYTHONPATH=str(base / "client"),
                                             IMMUTABLE_IMAGES_WARM="%s|%s" % (sock, sys.executable), **env))
            assert result.returncode == 0, result.stderr
            runs.append((result.stdout.decode().split(), sorted(os.listdir(base / "code"))))
    finally:
        stop_server(sock)
    (first, cached), (second, cached_again), (third, cached_changed) = runs
    assert first == ["one", str(tmp_path / "run0" / "payload.zip" / "zipmod.py")]
    assert len(cached) == 1 and cached_again == cached, "the same source is compiled once"
    assert second == ["one", str(tmp_path / "run1" / "payload.zip" / "zipmod.py")], "tracebacks name this run's file"
    assert third[0] == "two" and len(cached_changed) == 2, "a changed source is compiled anew"


def test_without_a_server_or_for_other_programs_python_runs_as_usual(installed):
    base, sock = installed
    result = run(base, sock, sys.executable, env={"EXIT": "3"})
    assert result.returncode == 3
    assert b"warm=False" in result.stdout
    start_server(base, sock)
    try:
        other = run(base, sock, "/nonexistent/python3")  # not the interpreter the server is for
        assert b"warm=False" in other.stdout
        script = run(base, sock, sys.executable, args=["-"])  # argv is not [''] : not a pipelined module
        assert b"warm=False" in script.stdout
    finally:
        stop_server(sock)


def test_connection_env_points_at_the_client():
    env = warm_interpreter.connection_env("/usr/bin/python3")
    assert env["PYTHONPATH"] == warm_interpreter.CLIENT_DIR
    assert env["IMMUTABLE_IMAGES_WARM"].endswith("|/usr/bin/python3")


def _umask():
    old = os.umask(0)
    os.umask(old)
    return old


def test_controller_mode_imports_the_installed_ansible_and_ends_with_its_parent(installed):
    """No preload zip (the controller's own ansible-core), extra modules preloaded, and the server
    leaves (socket removed) within seconds of the process it watches."""
    base, sock = installed
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        subprocess.run([sys.executable, str(base / "server.py"), sock, "", str(parent.pid), "json", "no_such_module"],
                       check=True, timeout=30)
        for _attempt in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        result = run(base, sock, sys.executable)
        assert b"warm=True" in result.stdout, result.stderr
    finally:
        parent.kill()
        parent.wait()
    for _attempt in range(60):
        if not os.path.exists(sock):
            break
        time.sleep(0.1)
    assert not os.path.exists(sock)
    assert b"warm=False" in run(base, sock, sys.executable).stdout


BIG_PROGRAM = b"""
import os, sys
data = sys.stdin.buffer.read()
sys.stdout.write("warm=%s read=%d cwd=%s\\n" % ("ansible.module_utils.basic" in sys.modules, len(data), os.getcwd()))
sys.stdout.write("x" * 300000 + "\\n")
sys.stderr.write("err=%s\\n" % os.environ.get("IMMUTABLE_IMAGES_WARM", "unset"))
sys.exit(5)
"""


def test_the_session_agent_hands_a_pipelined_module_to_the_server(installed, monkeypatch, tmp_path):
    base, sock = installed
    monkeypatch.setenv("IMMUTABLE_IMAGES_WARM", "%s|%s" % (sock, sys.executable))
    monkeypatch.chdir(tmp_path)
    payload = BIG_PROGRAM + b"#" + b"p" * 1000000 + b"\n"  # more than a pipe holds, both ways; all of it is the program
    header = {"op": "exec", "cmd": sys.executable, "stdin": True, "warm": True}

    cold, data = session_agent.run_command(dict(header, cmd="%s -" % sys.executable), payload)
    assert cold["rc"] == 5 and data.startswith(b"warm=False"), "no server: the command runs as it is"
    start_server(base, sock)
    try:
        reply, data = session_agent.run_command(header, payload)
    finally:
        stop_server(sock)
    out, err = data[:reply["stdout"]], data[reply["stdout"]:]
    assert reply["rc"] == 5
    assert out.startswith(b"warm=True read=0 cwd=%s\n" % str(tmp_path).encode())
    assert len(out) == len(out.split(b"\n")[0]) + 1 + 300001
    assert err == b"err=unset\n", "the module does not see the warm interpreter's settings"


def test_a_code_cache_entry_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    from ansible_collections.immutable.images.plugins.module_utils._warm import server as warm_server

    warm_server._store(str(tmp_path / "entry"), b"code")
    assert (tmp_path / "entry").read_bytes() == b"code"
    monkeypatch.setattr(warm_server, "CACHE_ROOM", 1 << 62)  # a tmpfs this full keeps its room for the roles
    warm_server._store(str(tmp_path / "full"), b"code")
    warm_server._store(str(tmp_path / "gone" / "entry"), b"code")  # cannot be written: nothing is left either
    assert sorted(os.listdir(tmp_path)) == ["entry"]


def test_a_process_that_cannot_be_set_up_is_a_failed_module_with_its_traceback(tmp_path):
    """A set-up failure of the module's process (here: the client's cwd is gone; under become, a root client against
    a non-root server fails the same way at setgroups) is rc 1 with a traceback, never rc 0 with no output."""
    import json
    import socket

    from ansible_collections.immutable.images.plugins.module_utils._warm import server as warm_server

    server_end, client_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    handler = os.fork()
    if handler == 0:  # the server's per-connection child
        try:
            client_end.close()
            warm_server._handle(server_end)
        finally:
            os._exit(0)
    server_end.close()
    info = {"env": {}, "cwd": str(tmp_path / "gone"), "umask": 0o22}
    socket.send_fds(client_end, [json.dumps(info).encode()], [stdin_r, stdout_w, stderr_w])
    for fd in (stdin_r, stdout_w, stderr_w):
        os.close(fd)
    os.close(stdin_w)
    reply = json.loads(client_end.recv(1 << 16).decode())
    os.waitpid(handler, 0)
    with os.fdopen(stderr_r, "rb") as err, os.fdopen(stdout_r, "rb") as out:
        stderr, stdout = err.read(), out.read()
    assert reply["rc"] == 1, (reply, stderr)
    assert b"Traceback" in stderr and b"FileNotFoundError" in stderr and stdout == b""


# run_command's race made certain: the command has ended, but the loop's first cmd.poll() after the pipes' end
# still says it runs, and the second says it has ended. ansible-core's loop then waits on select(1) with nothing
# registered; in the warm server (preload) it does not.
RUN_COMMAND_RACE = """
import json, subprocess, sys, time
if sys.argv[1] == "warm":  # server.py needs only the standard library
    sys.path.insert(0, sys.argv[2])
    import server
    server.preload(None)
from ansible.module_utils import basic

class CommandEndsBetweenThePolls(subprocess.Popen):
    polls = 0
    def poll(self):
        type(self).polls += 1
        if type(self).polls == 1:
            self.wait()
            return None
        return super().poll()

basic.subprocess.Popen = CommandEndsBetweenThePolls
basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": {}}).encode()
basic._ANSIBLE_PROFILE = "legacy"
module = basic.AnsibleModule(argument_spec={})
start = time.monotonic()
rc, out, err = module.run_command(["sh", "-c", "head -c 100000 /dev/zero | tr '\\\\0' x; echo end >&2"])
print(json.dumps({"took": time.monotonic() - start, "rc": rc, "out": len(out), "err": err}))
"""


@pytest.mark.parametrize("process", ["plain", "warm"])
def test_run_command_in_the_warm_server_does_not_wait_a_second_after_its_command_ended(process):
    from ansible_collections.immutable.images.plugins.module_utils._warm import server

    result = subprocess.run([sys.executable, "-c", RUN_COMMAND_RACE, process, os.path.dirname(server.__file__)],
                            capture_output=True, text=True, check=True, timeout=30)
    took = __import__("json").loads(result.stdout)
    assert (took["rc"], took["out"], took["err"]) == (0, 100000, "end\n"), "the whole output, as run_command reads it"
    if process == "plain":
        assert took["took"] >= 1.0, "ansible-core's own loop waits a second here: the race is reproduced"
    else:
        assert took["took"] < 0.5, took


def test_only_run_commands_selector_is_replaced():
    import selectors

    from ansible.module_utils import basic
    from ansible_collections.immutable.images.plugins.module_utils._warm import server

    class FakeBasic:
        pass

    fake = FakeBasic()
    fake.selectors = selectors
    server._no_idle_wait_in_run_command(fake)
    assert fake.selectors is not selectors and fake.selectors.EVENT_READ == selectors.EVENT_READ
    assert fake.selectors.PollSelector is server._SelectorThatEndsWhenEmpty
    assert selectors.PollSelector is not server._SelectorThatEndsWhenEmpty, "the standard library is left as it is"
    assert basic.selectors is selectors, "this process's ansible-core is left as it is"
    empty = fake.selectors.PollSelector()
    start = time.monotonic()
    assert empty.select(2) == [] and time.monotonic() - start < 0.5
    reader, writer = os.pipe()
    try:
        empty.register(reader, selectors.EVENT_READ)
        os.write(writer, b"x")
        assert [key.fd for key, _event in empty.select(2)] == [reader], "with something registered it selects"
    finally:
        empty.close()
        os.close(reader)
        os.close(writer)
