# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The build guard: removes a build's temporary resources when the ansible-playbook process that runs
the build ends, or is told to end, before the build has cleaned up after itself.

Two halves, both keyed by an arming token (a file in a private per-user directory, one per build):
- install_signal_handlers(), in ansible-playbook's own process (the build_guard lookup, which the launch
  role calls from a meta task's condition, since those are evaluated there): on SIGINT or SIGTERM it
  stops the work still running for the process (its workers, their modules, the controller's warm
  interpreter), removes every armed build of the process, then lets the signal take its usual course.
- a small detached process (arm()) per build that waits for ansible-playbook to end and, if the token
  still exists then, removes the build's resources: covers SIGKILL, crashes and all builders becoming
  unreachable. Removing the token (disarm()) stops it: no signal is ever sent to a process by its pid.

Only a power loss or a lost controller is left to the builders' own dead man's switches (see
builder_lease.py and ec2_watchdog.py) and the janitor (playbooks/cleanup.yml), which on a controller also finishes
the builds whose guard died with their ansible-playbook (sweep()).
The guard finds resources by their build-id label/tag, exactly like the janitor, never from the
build's own records. It runs as `python build_guard.py TOKEN_PATH LOG_PATH` with the collection on sys.path.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import multiprocessing
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

from ansible_collections.immutable.images.plugins.plugin_utils._guard import private_log

# <root>/ansible_collections/immutable/images/plugins/plugin_utils/_guard/build_guard.py -> <root>
# (not realpath: a collection linked into a collections path must still be found through the link)
COLLECTIONS_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), *[".."] * 6))
POLL = 1.0  # seconds between two looks at the token while ansible-playbook runs
# After an interrupted build: a commit or AMI creation whose client is gone still completes on its engine.
# The guard looks again this long after its first pass, for what was finished in the meantime.
LATE_PASSES = (3, 10)


def token_dir():
    """The private directory of this user's arming tokens (made 0700; refused if someone else's or a link)."""
    path = os.path.join(tempfile.gettempdir(), "immutable-images-guard-%d" % os.getuid())
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise OSError(errno.EPERM, "not a private directory of this user", path)
    return path


def token_path(build_id):
    return os.path.join(token_dir(), "%s.json" % build_id)


def arm(spec, watch_pid, log_path):
    """Write the token of spec (build_id, docker_hosts, regions, workdir) for ansible-playbook `watch_pid`
    and start the detached guard; return the guard's pid."""
    path = token_path(spec["build_id"])
    data = json.dumps(dict(spec, watch_pid=watch_pid, pid_space=pid_space())).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [COLLECTIONS_ROOT, os.environ.get("PYTHONPATH")])))
    with private_log.open_log(log_path) as log:  # private, never followed through a link; never fails
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), path, log_path],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, close_fds=True,
            start_new_session=True,  # a terminal's Ctrl-C must not reach it
        )
    return proc.pid


def disarm(build_id):
    """The build cleaned up after itself: remove its token (its guard ends within POLL). True if it was armed."""
    try:
        os.unlink(token_path(build_id))
        return True
    except FileNotFoundError:
        return False


def read_token(path):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode())
    except (OSError, ValueError):
        return None


def armed_for(pid):
    """Specs of the builds armed for ansible-playbook process `pid`."""
    specs = []
    for path in glob.glob(os.path.join(token_dir(), "*.json")):
        spec = read_token(path)
        if spec and spec.get("watch_pid") == pid:
            specs.append(spec)
    return specs


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for_exit_or_disarm(pid, path):
    """Block until process `pid` ends (True) or the token at `path` is gone (False)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        while os.path.exists(path):
            if fd is None:
                if not _alive(pid):
                    return True
                time.sleep(POLL)
            elif select.select([fd], [], [], POLL)[0]:
                return True
        return False
    finally:
        if fd is not None:
            os.close(fd)


def clean(spec, log=print):
    """Remove everything of spec['build_id'] on its docker engines and in its regions; never raises."""
    build_id = spec["build_id"]
    for docker_host in spec.get("docker_hosts") or []:
        try:
            from ansible_collections.immutable.images.plugins.module_utils._docker.janitor import DockerJanitor
            from ansible_collections.immutable.images.plugins.module_utils._docker.client import get_client

            janitor = DockerJanitor(get_client(docker_host, tls=(spec.get("docker_tls") or {}).get(docker_host)))
            # The build did not end: its artifacts are rolled back too (a push that completed stays in its registry).
            removed = janitor.remove(janitor.find(build_id=build_id) + janitor.unfinished_artifacts(build_id))
            log("docker %s: removed %s" % (docker_host or "default engine", removed))
        except Exception as e:  # noqa: BLE001 - a guard must try every engine and region
            log("docker %s: cleanup failed: %s" % (docker_host or "default engine", e))
    for region in spec.get("regions") or []:
        try:
            from ansible_collections.immutable.images.plugins.module_utils._ec2.client import make_client
            from ansible_collections.immutable.images.plugins.module_utils._ec2.resources import cleanup, remove_unfinished_amis

            ec2 = make_client("ec2", region)
            removed = cleanup(ec2, build_id=build_id)
            removed["unfinished_amis"] = remove_unfinished_amis(ec2, build_id)
            log("aws %s: removed %s" % (region, removed))
        except Exception as e:  # noqa: BLE001
            log("aws %s: cleanup failed: %s" % (region, e))
    if spec.get("workdir"):
        shutil.rmtree(spec["workdir"], ignore_errors=True)


# The temporary directories of the ansible-playbook process a build ran in (token key: how ansible-core or Python names
# them). The process removes them itself only when it exits normally, not on SIGTERM or SIGKILL.
PLAYBOOK_TMP = {
    "local_tmp": "ansible-local-",  # ANSIBLE_LOCAL_TEMP's: the controller's warm interpreter, the sessions' sockets
    "multiprocessing_tmp": "pymp-",  # multiprocessing's: ansible-core's listener for its workers' requests (2.21)
}


def remove_playbook_tmp(spec):
    """Remove the temporary directories of the ansible-playbook process the build ran in, once that process has ended.
    Only directories of this user named as ansible-core and Python name them."""
    for key, prefix in PLAYBOOK_TMP.items():
        path = spec.get(key)
        if not path or not os.path.basename(path).startswith(prefix):
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():
            shutil.rmtree(path, ignore_errors=True)


def sweep(image_names=None, log=print):
    """Finish what the guards of ended builds left on this controller: the tokens of this user whose ansible-playbook
    is gone and whose guard is gone too (it died with it: kill -9 of both, an OOM kill), of builds of `image_names`
    (all when None). Each such build is cleaned as its guard would have cleaned it (clean: its engines, regions and work
    directory), then its token goes. A token whose process is alive stays (a running build, or a pid another process
    has since: the janitor's age rules cover its resources), one whose guard still runs (it cleans), and one armed in
    another boot or pid namespace (pid_space: a /tmp shared with another container). Without /proc, which tells these,
    nothing is swept. Returns the ids of the builds swept."""
    swept = []
    for path in sorted(glob.glob(os.path.join(token_dir(), "*.json"))):
        spec = read_token(path)
        # its pid is of this boot and pid namespace: a /tmp shared with another machine or container holds tokens
        # whose processes run where this one cannot see them
        if not spec or not spec.get("watch_pid") or spec.get("pid_space") != pid_space() or _alive(spec["watch_pid"]):
            continue
        if image_names is not None and spec.get("image_name") not in image_names:
            continue
        if _guard_running(path) is not False:
            continue
        clean(spec, log=log)
        remove_playbook_tmp(spec)
        try:
            os.unlink(path)
        except OSError:
            pass
        swept.append(spec["build_id"])
    return swept


def pid_space():
    """Where the pids of this process are meaningful: the machine's boot and the pid namespace; None without /proc."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        return "%s %s" % (boot, os.readlink("/proc/self/ns/pid"))
    except OSError:
        return None


def _guard_running(token):
    """Whether a guard process watches `token` (its command line names it); None when /proc cannot tell."""
    needle = os.fsencode(token)
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if needle in f.read().split(b"\0"):
                    return True
        except OSError:
            continue
    return False


# --- in ansible-playbook's own process ---

_INSTALLED = {}  # pid of the process the handlers were installed in -> True


def _children():
    """{ppid: [pid, ...]} of every process, from /proc."""
    tree = {}
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path, "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        tree.setdefault(int(fields[1]), []).append(int(path.split("/")[2]))
    return tree


def _descendants(pid):
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _warm_server_pid(warm_dir):
    """The controller's warm interpreter of this ansible-playbook process, when it runs (module_utils/_warm/server.py,
    started by action/warm_controller.py, which writes warm.pid); a pid reused by another program is not it."""
    try:
        with open(os.path.join(warm_dir, "warm.pid")) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return pid if b"/_warm/server.py\0" in f.read() else None
    except (OSError, ValueError):
        return None


def stop_controller_work(warm_dir=None):
    """Stop, at once, every module still running for this process, so that nothing it is creating
    (a builder being launched, an image being committed, an AMI being made) appears after the cleanup:
    the workers and what they started in this session, and the controller's warm interpreter (its own
    session). Processes of other sessions (the detached guard, builder leases) are left alone."""
    session = os.getsid(0)
    victims = []
    for pid in _descendants(os.getpid()):
        try:
            if os.getsid(pid) == session:
                victims.append(pid)
        except OSError:
            pass
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    server = _warm_server_pid(warm_dir) if warm_dir else None
    if server:
        try:
            os.killpg(server, signal.SIGKILL)  # it is its session's (and group's) leader, with every module it runs
        except OSError:
            pass
    return len(victims) + bool(server)


def results_queue(frame):
    """The queue ansible-core's workers send their results, callbacks and display on (the running strategy's or the
    TaskQueueManager's `_final_q`), found on the interrupted main thread's stack; None outside a play."""
    while frame is not None:
        owner = frame.f_locals.get("self")
        queue = getattr(owner, "_final_q", None) or getattr(getattr(owner, "_tqm", None), "_final_q", None)
        if queue is not None:
            return queue
        frame = frame.f_back
    return None


@contextlib.contextmanager
def no_worker_writing(queue, timeout=5.0):
    """Hold the queue's write lock (a multiprocessing SimpleQueue's `_wlock`) meanwhile: a worker killed then holds
    neither the lock nor half a message in the pipe. One killed holding it left ansible-playbook's own clean-up after
    the interrupt (the strategy puts its end marker on the queue, then waits for its results thread) waiting forever."""
    lock = getattr(queue, "_wlock", None)
    held = lock is not None and lock.acquire(timeout=timeout)
    try:
        yield
    finally:
        if held:
            lock.release()


def stop_workers(signum, timeout=5.0):
    """Signal this process's multiprocessing children (ansible-core's workers) as its TaskQueueManager's handler does on
    an interrupt, and wait until they have ended (at most `timeout` seconds). A worker ends at once on that signal
    (os._exit in its handler), wherever it is, and so, in the middle of sending its result, with the results queue's
    lock taken."""
    workers = multiprocessing.active_children()
    for worker in workers:
        try:
            os.kill(worker.pid, signum)
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))


def install_signal_handlers(display=None, warm_dir=None):
    """In ansible-playbook's process: clean up every build armed for it on SIGINT or SIGTERM, before it exits.
    warm_dir: where the controller's warm interpreter of this process lives (<local tmp>/warm).
    Idempotent; returns True when installed by this call."""
    main_pid = os.getpid()
    if _INSTALLED.get(main_pid):
        return False
    _INSTALLED[main_pid] = True
    say = display.warning if display else (lambda m: sys.stderr.write("[WARNING]: %s\n" % m))
    show = display.display if display else (lambda m: sys.stderr.write(m + "\n"))

    def handler(signum, previous):
        def handle(sig, frame):
            # Workers are forks of this process and inherit the handler: only the main process cleans.
            if os.getpid() == main_pid:
                specs = armed_for(main_pid)
                if specs:
                    # The workers end while no one is sending: one whose builder the clean-up removes fails its task
                    # and sends the result, just when ansible-core's handler (`previous`) would end it.
                    with no_worker_writing(results_queue(frame)):
                        stop_controller_work(warm_dir)
                        for spec in specs:
                            say("interrupted: removing the temporary resources of build %s" % spec["build_id"])
                            clean(spec, log=show)
                        stop_workers(sig)
                # The tokens stay: the detached guard makes a second pass once this process has exited,
                # for anything an engine finished creating after the first one.
            if callable(previous):
                return previous(sig, frame)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        return handle

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler(signum, signal.getsignal(signum)))
    return True


def _remove_empty_log(log_path):
    """A build that cleaned up after itself leaves no log of its guard either: the log goes when nothing was written to
    it, and only when it is the file this process writes to (not /dev/null, which open_log falls back to)."""
    try:
        ours, there = os.fstat(sys.stdout.fileno()), os.lstat(log_path)
        if (ours.st_dev, ours.st_ino) == (there.st_dev, there.st_ino) and there.st_size == 0:
            os.unlink(log_path)
    except (OSError, ValueError):
        pass


def main(argv):
    path = argv[1]
    spec = read_token(path)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if spec and wait_for_exit_or_disarm(spec["watch_pid"], path) and os.path.exists(path):
        print("build %s: ansible-playbook (pid %s) ended before the build finished; cleaning up"
              % (spec["build_id"], spec["watch_pid"]), flush=True)
        clean(spec, log=lambda m: print(m, flush=True))
        remove_playbook_tmp(spec)
        waited = 0
        for at in LATE_PASSES:
            time.sleep(at - waited)
            waited = at
            clean(spec, log=lambda m: print(m, flush=True))
    elif len(argv) > 2:  # disarmed: the build cleaned up after itself
        _remove_empty_log(argv[2])
    try:
        os.unlink(path)
    except OSError:
        pass


if __name__ == "__main__":
    main(sys.argv)
