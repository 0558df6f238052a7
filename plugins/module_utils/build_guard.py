# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The build guard: a small detached process that removes a build's temporary resources if the
ansible-playbook process that runs the build ends before the build disarms it.

That covers what plays cannot: Ctrl-C, SIGTERM from a CI timeout, SIGKILL, every builder becoming
unreachable (ansible-playbook stops before the finalize play), a crash. Only a power loss or a
lost controller is left to the janitor (playbooks/cleanup.yml).

The guard finds resources by their build-id label/tag, exactly like the janitor, never from the
build's own records. It runs as `python build_guard.py SPEC_JSON` with the collection on sys.path.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time

from ansible_collections.immutable.images.plugins.module_utils import private_log

# <root>/ansible_collections/immutable/images/plugins/module_utils/build_guard.py -> <root>
# (not realpath: a collection linked into a collections path must still be found through the link)
COLLECTIONS_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), *[".."] * 5))


def spawn(spec, watch_pid, log_path):
    """Start the guard for `spec` (build_id, docker_hosts, regions, workdir) watching `watch_pid`."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [COLLECTIONS_ROOT, os.environ.get("PYTHONPATH")])))
    with private_log.open_log(log_path) as log:  # private, never followed through a link; never fails
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), json.dumps(dict(spec, watch_pid=watch_pid))],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, close_fds=True,
            start_new_session=True,  # a terminal's Ctrl-C must not reach it
        )
    return proc.pid


def disarm(pid):
    """Stop the guard without cleaning up (the build finished its own cleanup). True if it was running."""
    try:
        os.kill(pid, signal.SIGUSR1)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def wait_for_exit(pid):
    """Block until process `pid` ends (pidfd when the kernel has it, else a coarse poll)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        while _alive(pid):
            time.sleep(0.5)
        return
    try:
        select.select([fd], [], [])
    finally:
        os.close(fd)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean(spec, log=print):
    """Remove everything of spec['build_id'] on its docker engines and in its regions; never raises."""
    build_id = spec["build_id"]
    for docker_host in spec.get("docker_hosts") or []:
        try:
            from ansible_collections.immutable.images.plugins.module_utils.cleanup import DockerJanitor
            from ansible_collections.immutable.images.plugins.module_utils.docker_client import get_client

            janitor = DockerJanitor(get_client(docker_host))
            removed = janitor.remove(janitor.find(build_id=build_id))
            log("docker %s: removed %s" % (docker_host or "default engine", removed))
        except Exception as e:  # noqa: BLE001 - a guard must try every engine and region
            log("docker %s: cleanup failed: %s" % (docker_host or "default engine", e))
    for region in spec.get("regions") or []:
        try:
            from ansible_collections.immutable.images.plugins.module_utils.aws_client import make_client
            from ansible_collections.immutable.images.plugins.module_utils.ec2_resources import cleanup

            log("aws %s: removed %s" % (region, cleanup(make_client("ec2", region), build_id=build_id)))
        except Exception as e:  # noqa: BLE001
            log("aws %s: cleanup failed: %s" % (region, e))
    if spec.get("workdir"):
        shutil.rmtree(spec["workdir"], ignore_errors=True)


def main(argv):
    spec = json.loads(argv[1])
    disarmed = []
    signal.signal(signal.SIGUSR1, lambda *_: disarmed.append(True) or sys.exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    wait_for_exit(spec["watch_pid"])
    if not disarmed:
        print("build %s: ansible-playbook (pid %s) ended before the build finished; cleaning up"
              % (spec["build_id"], spec["watch_pid"]), flush=True)
        clean(spec, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    main(sys.argv)
