# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""build_guard.py as the real detached process: it removes the build's work directory when the process it
watches ends before the build was disarmed, and ends without touching anything once disarmed. Engines and
regions: tests/integration/test_interrupts.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from ansible_collections.immutable.images.plugins.plugin_utils._guard import build_guard


@pytest.fixture
def tokens(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the private token directory goes under tmp_path
    return tmp_path


def wait_for_exit(pid, timeout):
    """True once our child pid ended (reaped), False after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
        time.sleep(0.05)
    return False


def spec(tokens, build_id):
    """The spec of a build whose work directory and ansible-playbook's temporary directories exist."""
    workdir = tokens / ("work-" + build_id)
    workdir.mkdir()
    (tokens / ("ansible-local-" + build_id) / "warm").mkdir(parents=True)
    (tokens / ("pymp-" + build_id)).mkdir()
    (tokens / ("pymp-" + build_id) / "listener-1234abcd").write_text("")
    return {"build_id": build_id, "docker_hosts": [], "regions": [], "workdir": str(workdir),
            "local_tmp": str(tokens / ("ansible-local-" + build_id)),
            "multiprocessing_tmp": str(tokens / ("pymp-" + build_id))}, workdir


def test_removes_the_workdir_when_the_watched_process_ends(tokens):
    plan, workdir = spec(tokens, "arch-unit-guard-1")
    playbook = subprocess.Popen(["sleep", "60"])
    guard = build_guard.arm(plan, playbook.pid, str(tokens / "guard.log"))
    try:
        assert build_guard.armed_for(playbook.pid)[0]["build_id"] == "arch-unit-guard-1"
        playbook.kill()
        playbook.wait()
        deadline = time.monotonic() + 15
        while workdir.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not workdir.exists(), (tokens / "guard.log").read_text()
        assert "ended before the build finished" in (tokens / "guard.log").read_text()
        wait_until_gone(plan["local_tmp"])
        wait_until_gone(plan["multiprocessing_tmp"])
    finally:
        os.kill(guard, signal.SIGTERM)  # its late passes would go on for 10 s
        wait_for_exit(guard, 10)


def test_disarmed_guard_ends_and_leaves_everything(tokens):
    plan, workdir = spec(tokens, "arch-unit-guard-2")
    guard = build_guard.arm(plan, os.getpid(), str(tokens / "guard.log"))
    assert build_guard.disarm("arch-unit-guard-2") is True
    assert wait_for_exit(guard, build_guard.POLL + 5), "the guard did not end after its token was removed"
    assert workdir.exists() and build_guard.disarm("arch-unit-guard-2") is False
    assert os.path.isdir(plan["local_tmp"]) and os.path.isdir(plan["multiprocessing_tmp"]), \
        "ansible-playbook removes its own when it exits normally"
    assert not (tokens / "guard.log").exists(), "a build that cleaned up after itself leaves no empty log behind"


def test_a_disarmed_guard_keeps_a_log_it_does_not_write_to(tokens):
    plan, _workdir = spec(tokens, "arch-unit-guard-4")
    (tokens / "guard.log").symlink_to(tokens / "elsewhere.log")  # open_log refuses a link: the guard writes to /dev/null
    (tokens / "elsewhere.log").write_text("")
    guard = build_guard.arm(plan, os.getpid(), str(tokens / "guard.log"))
    assert build_guard.disarm("arch-unit-guard-4") is True
    assert wait_for_exit(guard, build_guard.POLL + 5), "the guard did not end after its token was removed"
    assert (tokens / "guard.log").is_symlink() and (tokens / "elsewhere.log").exists()


def wait_until_gone(path, timeout=10):
    deadline = time.monotonic() + timeout
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(path), path


@pytest.mark.parametrize("key, prefix", sorted(build_guard.PLAYBOOK_TMP.items()))
def test_only_a_temporary_directory_of_ansible_playbook_of_this_user_is_removed(tokens, key, prefix):
    for name in ("work", prefix + "link"):
        (tokens / name).mkdir() if name == "work" else (tokens / name).symlink_to(tokens / "work")
        build_guard.remove_playbook_tmp({key: str(tokens / name)})
        assert (tokens / name).exists()
    build_guard.remove_playbook_tmp({})  # a token of an earlier release
    build_guard.remove_playbook_tmp({key: None})  # ansible-playbook made none
    build_guard.remove_playbook_tmp({key: str(tokens / (prefix + "gone"))})
    (tokens / (prefix + "1234abcd") / "warm").mkdir(parents=True)
    build_guard.remove_playbook_tmp({key: str(tokens / (prefix + "1234abcd"))})
    assert not (tokens / (prefix + "1234abcd")).exists()


def dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def token_of(plan, watch_pid):
    """A token as arm() writes it, without starting its guard: one that died with its ansible-playbook."""
    path = build_guard.token_path(plan["build_id"])
    with open(path, "w") as f:
        json.dump(dict(plan, watch_pid=watch_pid, pid_space=build_guard.pid_space()), f)
    return path


def test_the_janitor_sweeps_the_builds_whose_playbook_and_guard_both_died(tokens):
    dead, dead_workdir = spec(tokens, "arch-unit-guard-dead")
    running, running_workdir = spec(tokens, "arch-unit-guard-running")
    other, other_workdir = spec(tokens, "arch-unit-guard-other")
    dead_token = token_of(dict(dead, image_name="web"), dead_pid())
    running_token = token_of(dict(running, image_name="web"), os.getpid())  # its ansible-playbook runs
    other_token = token_of(dict(other, image_name="db"), dead_pid())
    # a token of a /tmp shared with another container: its pid means nothing here
    elsewhere, elsewhere_workdir = spec(tokens, "arch-unit-guard-elsewhere")
    elsewhere_token = token_of(elsewhere, dead_pid())
    with open(elsewhere_token, "w") as f:
        json.dump(dict(elsewhere, watch_pid=dead_pid(), pid_space="another-boot pid:[4026531836]"), f)
    said = []
    assert build_guard.sweep(["web"], log=said.append) == ["arch-unit-guard-dead"]
    assert not dead_workdir.exists() and not os.path.exists(dead_token)
    assert not os.path.exists(dead["local_tmp"]) and not os.path.exists(dead["multiprocessing_tmp"])
    assert running_workdir.exists() and os.path.exists(running_token)
    assert os.path.isdir(running["local_tmp"]) and os.path.isdir(running["multiprocessing_tmp"])
    assert other_workdir.exists() and os.path.exists(other_token)  # not of the image names asked for
    assert build_guard.sweep(log=said.append) == ["arch-unit-guard-other"] and not other_workdir.exists()
    assert elsewhere_workdir.exists() and os.path.exists(elsewhere_token)


def test_the_janitor_leaves_a_build_whose_guard_is_cleaning_it(tokens):
    plan, workdir = spec(tokens, "arch-unit-guard-3")
    playbook = subprocess.Popen(["sleep", "60"])
    guard = build_guard.arm(dict(plan, image_name="web"), playbook.pid, str(tokens / "guard.log"))
    try:
        # until it execs, the guard's command line is its parent's (pytest's): a loaded machine can take a while
        deadline = time.monotonic() + 30
        while build_guard._guard_running(build_guard.token_path("arch-unit-guard-3")) is not True:
            assert time.monotonic() < deadline, "the guard never started"
            time.sleep(0.01)
        playbook.kill()
        playbook.wait()
        # the guard cleans, then makes its late passes (LATE_PASSES) with its token in place: not the janitor's
        assert build_guard.sweep() == [] and os.path.exists(build_guard.token_path("arch-unit-guard-3"))
    finally:
        os.kill(guard, signal.SIGTERM)
        wait_for_exit(guard, 10)


def test_token_directory_must_be_private(tokens):
    path = build_guard.token_dir()
    os.chmod(path, 0o755)
    with pytest.raises(OSError, match="not a private directory"):
        build_guard.token_dir()


def test_the_controller_warm_server_is_found_by_its_pid_file_and_program(tmp_path):
    """warm.pid names the controller's warm server (action/warm_controller.py); a pid reused by another program is
    not it, and nothing is found without the file."""
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "/x/module_utils/_warm/server.py"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "/x/elsewhere.py"])
    try:
        for proc in (server, other):  # a fresh child shows its parent's command line until it has exec'd
            deadline = time.monotonic() + 10
            while b"-c\0" not in _cmdline(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
        assert build_guard._warm_server_pid(str(tmp_path)) is None
        (tmp_path / "warm.pid").write_text("%d\n" % server.pid)
        assert build_guard._warm_server_pid(str(tmp_path)) == server.pid
        (tmp_path / "warm.pid").write_text("%d\n" % other.pid)
        assert build_guard._warm_server_pid(str(tmp_path)) is None
    finally:
        server.kill()
        other.kill()
        server.wait()
        other.wait()


def _cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


def _writing_worker(queue, payload):
    # as ansible-core's WorkerProcess._term: the interrupt ends the worker at once, wherever it is
    signal.signal(signal.SIGINT, lambda *args: os._exit(1))
    while True:
        queue.put(payload)


def _interrupt_a_writing_worker(guarded):
    """A worker that does nothing but send on ansible-core's results queue is interrupted, by the guard's handler
    (guarded) or as ansible-core's own handler does it alone; then the end marker that the strategy's clean-up puts
    on the queue must arrive. True when it did within 5 s."""
    import threading

    from ansible.executor.task_queue_manager import FinalQueue, multiprocessing_context

    queue, received = FinalQueue(), []
    reader = threading.Thread(target=lambda: received.extend(iter(queue.get, "end")) or received.append("end"),
                              daemon=True)
    reader.start()
    worker = multiprocessing_context.Process(target=_writing_worker, args=(queue, "x" * (1 << 20)), daemon=True)
    worker.start()
    time.sleep(0.3)  # sending, most of the time inside put: a megabyte per message
    if guarded:
        with build_guard.no_worker_writing(queue):
            build_guard.stop_workers(signal.SIGINT)
    else:
        os.kill(worker.pid, signal.SIGINT)
    worker.join(5)
    threading.Thread(target=queue.put, args=("end",), daemon=True).start()
    reader.join(5)
    return received[-1:] == ["end"]


def test_a_worker_ended_by_the_interrupt_never_leaves_the_results_queue_locked():
    assert all(_interrupt_a_writing_worker(guarded=True) for _attempt in range(3))


def test_the_results_queue_is_found_on_the_interrupted_stack():
    class Strategy:
        def __init__(self):
            self._final_q = "the queue"

        def run(self):
            return sys._getframe()

    class Executor:
        def __init__(self):
            self._tqm = Strategy()

        def run(self):
            return sys._getframe()

    assert build_guard.results_queue(Strategy().run()) == "the queue"
    assert build_guard.results_queue(Executor().run()) == "the queue"
    assert build_guard.results_queue(sys._getframe()) is None
