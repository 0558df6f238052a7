# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The base of every action plugin of this collection (plugins/action/*): arguments, check mode, failures.

Private to the collection; imported only by plugins/action/*, on the controller.

Each action plugin has a thin module of the same name in plugins/modules whose DOCUMENTATION is what
ansible-doc shows. That DOCUMENTATION is also the argument spec the plugin validates the task's arguments
against (ansible-core's ArgumentSpecValidator), so options are declared once: an unknown option, a wrong
type or a value outside `choices` fails the task with a message naming the module and the option, before the
plugin does anything (in check mode too).

A plugin subclasses ActionModuleBase and implements run_module(params, task_vars, result), which returns the
result; to fail it may raise ActionFailure. REQUIRED_IF and NO_LOG add what DOCUMENTATION cannot say.
CHECK_MODE says what check mode does: None lets run_module decide; a dict is returned as the result (with
changed=False unless it says otherwise) without calling it.

What a plugin's tasks need in every worker is loaded once, in ansible-playbook's own process, when it imports the plugin
(before it forks the worker of the plugin's first task; every later worker is a fork of that process): the argument
spec of its DOCUMENTATION, and the connection plugins it names in CONNECTIONS (those of the hosts it makes). Loaded in
each task's worker instead, they cost each task a few milliseconds (docs/development.md, "Loaded once per build").

execute_module runs one of the collection's modules for the task, as _execute_module would. The modules of
IN_WORKER do their work in module_utils (MODULE_ARGS, the AnsibleModule arguments, and run(module)); when the task
is on the controller, the action runs that work in its own worker with a ModuleInWorker instead of an AnsibleModule:
ansible-playbook has the Docker SDK imported, so the task needs no module payload and no module process.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import os
import shutil
import tempfile
import traceback

from concurrent.futures import ThreadPoolExecutor

import yaml

from ansible.module_utils.basic import remove_values
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.playbook.play_context import PlayContext
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import connection_loader

COLLECTION = "immutable.images"
_PACKAGE = "ansible_collections.immutable.images.plugins"
# DOCUMENTATION keys that are also argument spec keys; the others (description, version_added, ...) are docs only.
_SPEC_KEYS = ("type", "elements", "choices", "default", "required", "aliases")
# module -> the module_utils module with its work (MODULE_ARGS, run(module), and AVAILABLE: whether the libraries it
# needs are importable), which the action runs in its worker when the task is on the controller.
IN_WORKER = {
    "docker_builder": "module_utils._docker.builder_module",
    "docker_cleanup": "module_utils._docker.cleanup_module",
    "docker_image_commit": "module_utils._artifacts.commit_module",
}
# The keyword arguments of AnsibleModule that ArgumentSpecValidator takes too.
_VALIDATOR_ARGS = ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")
PARALLEL_MODULES = 8  # threads of one execute_module_each
# Environment that is for a module process only: the controller's warm interpreter (action/warm_controller.py).
_PROCESS_ONLY_ENV = ("PYTHONPATH", "IMMUTABLE_IMAGES_WARM")


class ActionFailure(Exception):
    """The task fails with this message; `details` (stage, rc, ...) are added to its result."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


def _spec_of(options):
    """The argument spec of DOCUMENTATION `options` (suboptions become options)."""
    spec = {}
    for name, doc in (options or {}).items():
        entry = {k: doc[k] for k in _SPEC_KEYS if k in doc}
        if doc.get("suboptions"):
            entry["options"] = _spec_of(doc["suboptions"])
        spec[name] = entry
    return spec


def argument_spec(module):
    """The argument spec the thin module plugins/modules/<module>.py documents, with the options of this
    collection's doc fragments it extends (other fragments add no options here). A copy: the validator fills
    suboptions' defaults into a default dict it was given."""
    return copy.deepcopy(_documented_spec(module))


def _load_yaml(text):
    # libyaml's loader when PyYAML has it: ansible-playbook reads these before its first task, and the pure-Python
    # loader takes about ten times longer (0.19 against 0.02 s for every module of the collection).
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.lru_cache(maxsize=None)
def _documented_spec(module):
    doc = _load_yaml(importlib.import_module("%s.modules.%s" % (_PACKAGE, module)).DOCUMENTATION)
    options = {}
    for fragment in doc.get("extends_documentation_fragment") or []:
        if not fragment.startswith(COLLECTION + "."):
            continue
        name, _dot, variable = fragment[len(COLLECTION) + 1:].partition(".")
        holder = importlib.import_module("%s.doc_fragments.%s" % (_PACKAGE, name)).ModuleDocFragment
        options.update(_load_yaml(getattr(holder, variable.upper() or "DOCUMENTATION")).get("options") or {})
    options.update(doc.get("options") or {})
    return _spec_of(options)


def validate(module, args, no_log=(), required_if=None):
    """(validated parameters, error messages, values never to show) of a task's arguments."""
    checked = ArgumentSpecValidator(argument_spec(module), required_if=required_if).validate(dict(args))
    errors = ["unsupported parameters: %s" % e if isinstance(e, UnsupportedError) else str(e) for e in checked.errors]
    params = checked.validated_parameters
    return params, errors, {str(params[name]) for name in no_log if params.get(name)}


class ActionModuleBase(ActionBase):
    TRANSFERS_FILES = False
    CHECK_MODE = None
    NO_LOG = ()  # options whose values never appear in a result (DOCUMENTATION has no no_log)
    REQUIRED_IF = None  # as AnsibleModule's required_if (DOCUMENTATION cannot say it)
    VALIDATE = True  # False only where a module validates the same arguments itself (AnsibleModule)
    CONNECTIONS = ()  # connection plugins of the hosts this plugin makes, which the tasks after it run through

    def __init_subclass__(cls, **kwargs):
        """An action plugin of the collection is being imported: in ansible-playbook's own process, before any worker of
        its tasks (see the module's docstring). Nothing fails here: a worker that lacks something loads it itself."""
        super().__init_subclass__(**kwargs)
        if not cls.__module__.startswith(_PACKAGE + ".action."):
            return
        if cls.VALIDATE:
            try:
                _documented_spec(cls.__module__.rpartition(".")[2])
            except Exception:  # noqa: BLE001 - the task says what is wrong when it validates its arguments
                pass
        for name in cls.CONNECTIONS:
            # As a worker loads it (an instance, which is dropped): a load of the class alone (class_only) would set the
            # class's _load_name, under which connection/ssh.py looks up ansible.builtin.ssh's options.
            try:
                connection_loader.get(name, PlayContext())
            except Exception:  # noqa: BLE001 - each task then loads it, and fails as it would have
                pass

    @property
    def module_name(self):
        # The class the collection's action file defines: a strategy may run a subclass of its own making (Mitogen's
        # wraps every action plugin in one whose module is abc).
        ours = next((c for c in type(self).__mro__ if c.__module__.startswith(_PACKAGE + ".action.")), type(self))
        return ours.__module__.rpartition(".")[2]

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        params, no_log = dict(self._task.args), set()
        if self.VALIDATE:
            params, errors, no_log = validate(self.module_name, self._task.args, self.NO_LOG, self.REQUIRED_IF)
            if errors:
                return dict(result, failed=True, msg="%s.%s: %s" % (COLLECTION, self.module_name, "; ".join(errors)))
        if self._task.check_mode and self.CHECK_MODE is not None:
            return dict(result, **dict({"changed": False}, **self.CHECK_MODE))
        try:
            result = self.run_module(params, task_vars, result)
        except ActionFailure as e:
            result = dict(result, failed=True, msg=e.msg, **e.details)
        return remove_values(result, no_log) if no_log else result

    def run_module(self, params, task_vars, result):
        """The plugin's work, with the validated `params`; returns the task's result (based on `result`)."""
        raise NotImplementedError

    def execute_module(self, name, args, task_vars, environment=None):
        """The result of module `name` (a FQCN) run with these arguments for this task, with `environment` added to
        the task's: in this worker when it is one of IN_WORKER, its libraries are importable here (its work's
        AVAILABLE) and the task is on the controller, without become; else as a module (_execute_module)."""
        saved = self._task.environment
        if environment:
            self._task.environment = list(saved or []) + [environment]
        try:
            work = self._work_in_worker(name)
            if work:
                return run_in_worker(work, name[len(COLLECTION) + 1:], args, self._task.check_mode, self.task_environment())
            return self._execute_module(module_name=name, module_args=args, task_vars=task_vars)
        finally:
            self._task.environment = saved

    def execute_module_each(self, name, args_list, task_vars, then=None):
        """The results of module `name` run once for each arguments of args_list, in order (execute_module): at once,
        each in a thread of this worker, when it runs in this worker; else one after another, as modules. then(args,
        result), when given, runs right after each, in the same thread."""
        def one(args, run):
            result = run(args)
            if then is not None:
                then(args, result)
            return result

        work = self._work_in_worker(name)
        if not work or len(args_list) < 2:
            return [one(args, lambda a: self.execute_module(name, a, task_vars)) for args in args_list]
        short, check_mode = name[len(COLLECTION) + 1:], self._task.check_mode
        with process_environment(self.task_environment()):  # once, for every thread
            with ThreadPoolExecutor(max_workers=min(len(args_list), PARALLEL_MODULES)) as pool:
                return list(pool.map(lambda args: one(args, lambda a: _run_work(work, short, a, check_mode)), args_list))

    def _work_in_worker(self, name):
        """The work of module `name` (IN_WORKER) when this worker can run it: its libraries are importable here (its
        AVAILABLE) and the task is on the controller, without become; else None (it runs as a module)."""
        short = name[len(COLLECTION) + 1:] if name.startswith(COLLECTION + ".") else None
        work = importlib.import_module("%s.%s" % (_PACKAGE, IN_WORKER[short])) if short in IN_WORKER else None
        return work if work and work.AVAILABLE and self._on_the_controller() else None

    def _on_the_controller(self):
        """The task runs on the controller as ansible-playbook's user: its module would run as this worker runs."""
        return self._connection.transport in ("local", "ansible.builtin.local") and not self._play_context.become

    def task_environment(self):
        """The task's environment (its `environment` keyword and those of its blocks, roles and includes, in order),
        templated, as a module process would have it."""
        env = {}
        for layer in self._task.environment or []:
            env.update(self._templar.template(layer) or {})
        return {str(k): str(v) for k, v in env.items()}

    def run_action(self, action, args, task_vars):
        """The result of another action plugin (this collection's, or ansible-core's gather_facts) run with these
        arguments on this task's host and connection, as ansible-core's `template` runs `copy`: from the action
        loader, with a copy of this task (its environment, module_defaults and check mode) holding `args`."""
        task = self._task.copy()
        task.args = args
        plugin = self._shared_loader_obj.action_loader.get(
            action, task=task, connection=self._connection, play_context=self._play_context, loader=self._loader,
            templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        return plugin.run(task_vars=task_vars)


class _ModuleExit(BaseException):
    """Raised by ModuleInWorker's exit_json and fail_json: ends run(module) with `result`, as sys.exit ends a
    module (a BaseException, so that the work's `except Exception` does not take it for a failure of its own)."""

    def __init__(self, result):
        super().__init__()
        self.result = result


class ModuleInWorker:
    """What a module's run(module) uses of its AnsibleModule, in an action's worker: params validated against
    MODULE_ARGS, check_mode, tmpdir, warn, exit_json and fail_json."""

    def __init__(self, module_args, args, check_mode):
        self.check_mode, self._tmpdir = check_mode, None
        validator_args = {k: module_args[k] for k in _VALIDATOR_ARGS if k in module_args}
        checked = ArgumentSpecValidator(module_args["argument_spec"], **validator_args).validate(dict(args))
        self.params, self._no_log = checked.validated_parameters, checked._no_log_values
        self._warnings = ["Both option %s and its alias %s are set." % (w["option"], w["alias"]) for w in checked._warnings]
        self._deprecations = [{k: d[k] for k in ("msg", "version", "date", "collection_name") if d.get(k)}
                              for d in checked._deprecations]
        self.errors = ["unsupported parameters: %s" % e if isinstance(e, UnsupportedError) else str(e) for e in checked.errors]

    @property
    def tmpdir(self):
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="ansible-moduletmp-")
        return self._tmpdir

    def warn(self, msg):
        self._warnings.append(msg)

    def exit_json(self, **result):
        raise _ModuleExit(self._result(dict({"changed": False}, **result)))

    def fail_json(self, msg, **result):
        raise _ModuleExit(self._result(dict(result, failed=True, msg=msg)))

    def _result(self, result):
        if self._warnings:
            result["warnings"] = list(self._warnings)
        if self._deprecations:
            result["deprecations"] = list(self._deprecations)
        return remove_values(result, self._no_log) if self._no_log else result

    def cleanup(self):
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


@contextlib.contextmanager
def process_environment(environment):
    """This process with `environment` set meanwhile (the task's, as a module process would have it: validation reads
    fallbacks such as DOCKER_HOST from it), but what is for a module process only."""
    env = {str(k): str(v) for k, v in environment.items() if k not in _PROCESS_ONLY_ENV}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_in_worker(work, module, args, check_mode, environment):
    """The result of `work` (MODULE_ARGS and run(module): IN_WORKER's for `module`) run in this process with
    `environment` set meanwhile (process_environment; None: as the process has it, which the caller set)."""
    with process_environment(environment or {}):
        return _run_work(work, module, args, check_mode)


def _run_work(work, module, args, check_mode):
    """The result of `work` run in this process as the module would run: the arguments validated, then run(module)."""
    instance = ModuleInWorker(work.MODULE_ARGS, args, check_mode)
    if instance.errors:
        return dict(failed=True, msg="%s.%s: %s" % (COLLECTION, module, "; ".join(instance.errors)))
    if check_mode and not work.MODULE_ARGS.get("supports_check_mode"):
        return dict(skipped=True, changed=False, msg="%s.%s does not support check mode" % (COLLECTION, module))
    try:
        work.run(instance)
        return instance._result({"changed": False})  # run(module) always exits; as a module's end without exit_json
    except _ModuleExit as e:
        return e.result
    except Exception as e:  # noqa: BLE001 - as a module that raised: the task fails with the traceback
        return instance._result(dict(failed=True, msg="%s.%s failed: %s" % (COLLECTION, module, e),
                                     exception=traceback.format_exc()))  # its no_log values removed too
    finally:
        instance.cleanup()
