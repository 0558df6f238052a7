# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start the controller's warm interpreter (module_utils/_warm/server.py without a preload zip)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
import warnings

from ansible.constants import DEFAULT_LOCAL_TMP

from ansible_collections.immutable.images.plugins.module_utils._warm import client as warm_client, server as warm_server
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionModuleBase
from ansible_collections.immutable.images.plugins.plugin_utils._definition import role_modules

# Per target type: the collection's modules a build runs as modules before its roles' modules and after them (in the
# order they first run), and what those import that the server imports at its start. (docker_builder, the commit and
# the clean-up run in their action's worker: ActionModuleBase.execute_module.)
TARGET_MODULES = {
    "docker": ((), ("immutable.images.package_inventory",)),
    "ec2": (("immutable.images.ec2_builder",),
            ("immutable.images.package_inventory", "immutable.images.ec2_ami_create", "immutable.images.ec2_cleanup")),
}
TARGET_PRELOAD = {"docker": (), "ec2": ("boto3",)}


class ActionModule(ActionModuleBase):
    CHECK_MODE = dict(env={}, skipped=True, msg="no warm interpreter in check mode")

    def run_module(self, params, task_vars, result):
        off = dict(result, changed=False, env={})
        if self._connection.transport not in ("local", "ansible.builtin.local"):
            return dict(off, skipped=True, msg="only for the controller (the local connection)")
        interpreter = self._templar.template(task_vars.get("ansible_python_interpreter") or sys.executable)
        if not os.path.isabs(interpreter):  # "auto" and friends: the modules' Python is not known here
            return dict(off, skipped=True, msg="the modules' Python is not known (%s)" % interpreter)
        home = os.path.join(DEFAULT_LOCAL_TMP, "warm")  # ansible-playbook's own 0700 directory, removed at its exit
        client_dir = os.path.join(home, "client")
        os.makedirs(client_dir, mode=0o700, exist_ok=True)
        socket_path = os.path.join(home, "warm.sock")
        # One server per ansible-playbook run and interpreter, and the payloads built once: the definitions of a fleet
        # (build_all) start at the same time in parallel workers, and the first one does it for all of them.
        failure = None
        # Mitogen's strategy runs the controller's modules in interpreters of its own: a server would only take CPU (the
        # payloads are still built: the builders' tasks keep the collection's connections, and ansible-core's module path)
        mitogen = _is_mitogens(self._connection)
        serve = params["serve"] and not mitogen
        with open(os.path.join(home, "start.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            marker = os.path.join(home, "prebuilt")
            first = not os.path.exists(marker)
            open(marker, "w").close()
            if serve and not os.path.exists(socket_path):
                preload = params["preload"]
                if preload is None:
                    preload = _each(TARGET_PRELOAD[t] for t in params["target_types"])
                failure = self._start(interpreter, client_dir, socket_path, preload)
        if first:
            self._prebuild(params["prebuild"], [str(p) for p in params["roles"]], params["target_types"], task_vars)
        if failure:
            return dict(off, msg="the warm interpreter did not start: %s" % failure)
        if not serve:
            return dict(off, msg="no server: Mitogen runs the modules on the controller" if mitogen else
                        "no server: no module of this build runs on the controller as a module")
        # The client takes its own directory out of PYTHONPATH again before the module runs.
        path = os.pathsep.join(p for p in (client_dir, os.environ.get("PYTHONPATH")) if p)
        env = {"PYTHONPATH": path, warm_client.ENV_WARM: "%s|%s" % (socket_path, interpreter)}
        return dict(result, changed=False, env=env, socket=socket_path)

    def _start(self, interpreter, client_dir, socket_path, preload):
        """Start the server; the reason when it did not start."""
        with open(warm_client.__file__, "rb") as src, open(os.path.join(client_dir, "sitecustomize.py"), "wb") as dst:
            dst.write(src.read() + b"\n\nmain()\n")
        preload = [str(m) for m in preload]
        # Workers are forks of ansible-playbook: the server ends with our parent. It detaches at once and
        # preloads in the background; a module that comes before it listens runs the usual way.
        status = subprocess.run([interpreter, warm_server.__file__, socket_path, "", str(os.getppid())] + preload,
                                stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if status.returncode != 0:
            return status.stderr.decode("utf-8", "replace").strip()[-300:]
        # It binds its socket just after it detaches: the next definition must find it there, not start another.
        deadline = time.monotonic() + 5
        while not os.path.exists(socket_path) and time.monotonic() < deadline:
            time.sleep(0.01)
        return None

    def _prebuild(self, names, roles, target_types, task_vars):
        """In a forked child, build the AnsiballZ payloads of `names` (by default: the collection's modules and those
        the roles name, role_modules.py) into this run's payload cache, where the first task of each module would
        otherwise build it (0.1 to 0.3 s each) while its build waits. Only these: on a 2-core controller, payloads
        no task runs took CPU from the build itself.

        The cache is ansible-playbook's own (its files are written whole and locked per module), so a task
        that comes first builds the payload itself or waits for the child's; nothing else changes.
        """
        playbook_pid = os.getppid()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fork() of a worker with threads: the child only writes cache files
            try:
                pid = os.fork()
            except OSError:
                return
        if pid:
            return
        try:
            if names is None:  # found in the child: reading the roles' files is no step's wait either
                try:
                    found = role_modules.modules(roles, self._action_plugin)
                except Exception:  # noqa: BLE001 - the roles' modules are then built on first use, as usual
                    found = []
                names = _each([TARGET_MODULES[t][0] for t in target_types] + [found] +
                              [TARGET_MODULES[t][1] for t in target_types])
            for name in names:
                if not warm_server.alive(playbook_pid):
                    break  # ansible-playbook ended (and removed its cache directory): do not make it again
                try:
                    self._configure_module(str(name), {}, task_vars)
                except Exception:  # noqa: BLE001 - a module it cannot build is built on first use, as usual
                    pass
        finally:
            os._exit(0)

    def _action_plugin(self, name):
        """The FQCN of the action plugin a task naming `name` runs, or None (then it runs a module of that name)."""
        found = self._shared_loader_obj.action_loader.find_plugin_with_context(name, collection_list=["ansible.legacy"])
        return found.resolved_fqcn if found.resolved else None


def _each(groups):
    """The items of these sequences in order, each once."""
    out = []
    for group in groups:
        out += [str(item) for item in group if str(item) not in out]
    return out


def _is_mitogens(connection):
    """Whether the connection is Mitogen's (its strategy replaces the local connection with one of its own classes,
    which still says it is `local`)."""
    return any(cls.__module__.split(".")[0] == "ansible_mitogen" for cls in type(connection).__mro__)
