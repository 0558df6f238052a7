# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugin_utils/_action_module.py: every action plugin's spec comes from its module's DOCUMENTATION; the work of the
modules of IN_WORKER runs in the worker with a ModuleInWorker on the controller (the engine: test_in_worker.py)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import types

import pytest
import yaml
from ansible.module_utils.basic import env_fallback

from ansible_collections.immutable.images.plugins.plugin_utils import _action_module as base

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ACTIONS = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "plugins", "action")) if f.endswith(".py"))


@pytest.mark.parametrize("name", ACTIONS)
def test_every_action_plugin_uses_the_base(name):
    plugin = importlib.import_module("ansible_collections.immutable.images.plugins.action." + name).ActionModule
    assert issubclass(plugin, base.ActionModuleBase)
    assert "run" not in vars(plugin), "%s overrides run(): implement run_module() instead" % name
    assert not getattr(plugin, "_VALID_ARGS", None), "the base validates; _VALID_ARGS would fail first with another message"


@pytest.mark.parametrize("name", ACTIONS)
def test_spec_is_the_documented_options(name):
    doc = yaml.safe_load(importlib.import_module("ansible_collections.immutable.images.plugins.modules." + name).DOCUMENTATION)
    spec = base.argument_spec(name)
    options = doc.get("options") or {}
    if "immutable.images.docker" in (doc.get("extends_documentation_fragment") or []):
        assert {"docker_host", "tls"} <= set(spec)
    assert set(options) <= set(spec)
    for option, entry in options.items():
        for key in ("type", "choices", "default", "required", "elements"):
            assert spec[option].get(key) == entry.get(key), (name, option, key)
        assert set(spec[option].get("options") or {}) == set(entry.get("suboptions") or {})


def _plugin_class(module, **attrs):
    """An action plugin class as the import of plugins/action/<module>.py defines it (what __init_subclass__ sees)."""
    return type("ActionModule", (base.ActionModuleBase,), dict(attrs, __module__=base._PACKAGE + ".action." + module))


def test_an_action_plugin_reads_its_spec_when_it_is_imported():
    base._documented_spec.cache_clear()
    _plugin_class("layer_cache")
    assert base._documented_spec.cache_info().currsize == 1  # read at the import: in ansible-playbook's process
    base.argument_spec("layer_cache")
    assert base._documented_spec.cache_info().hits == 1  # a worker (a fork of that process) reads it no more
    _plugin_class("docker_cleanup", VALIDATE=False)  # its module's work validates: nothing to read
    type("Helper", (base.ActionModuleBase,), {"__module__": "tests.helper"})  # not an action plugin
    assert base._documented_spec.cache_info().currsize == 1


def test_an_action_plugin_loads_the_connections_it_names_when_it_is_imported(monkeypatch):
    loaded = []
    monkeypatch.setattr(base.connection_loader, "get", lambda name, *args, **kw: loaded.append((name, args, kw)))
    _plugin_class("docker_builder", VALIDATE=False, CONNECTIONS=("immutable.images.docker_session",))
    [(name, args, kwargs)] = loaded
    assert name == "immutable.images.docker_session" and kwargs == {}  # an instance, as a worker loads it
    assert isinstance(args[0], base.PlayContext)


# In a new interpreter with ansible's collection loader, as ansible-playbook loads an action plugin (its class alone).
_LOAD_AS_ANSIBLE_PLAYBOOK_DOES = """
import sys
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[sys.argv[1]])._install()
from ansible import constants as C
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import action_loader, connection_loader
action_loader.get("immutable.images." + sys.argv[2], class_only=True)
module = "ansible_collections.immutable.images.plugins.connection." + sys.argv[3]
resolved = connection_loader.find_plugin_with_context("immutable.images." + sys.argv[3]).plugin_resolved_name
print(module in sys.modules, C.config.has_configuration_definition("connection", resolved))
print(connection_loader.get("immutable.images." + sys.argv[3], PlayContext())._load_name)
"""


@pytest.mark.parametrize("plugin, connection, options_of", [("docker_builder", "docker_session", None),
                                                            ("ec2_builder", "ssh", "ssh")])
def test_the_builder_actions_load_their_builders_connection_with_its_options(plugin, connection, options_of):
    collections = os.path.dirname(os.path.dirname(os.path.dirname(
        importlib.import_module("ansible_collections.immutable.images").__path__[0])))
    proc = subprocess.run([sys.executable, "-c", _LOAD_AS_ANSIBLE_PLAYBOOK_DOES, collections, plugin, connection],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    loaded, load_name = proc.stdout.splitlines()
    assert loaded == "True True"  # its code and its option definitions: every later worker inherits them
    # the options it looks up: connection/ssh.py's are ansible.builtin.ssh's (a load of the class alone would rename it)
    assert load_name == (options_of or "ansible_collections.immutable.images.plugins.connection." + connection)


def test_what_cannot_be_loaded_at_the_import_is_left_to_the_task(monkeypatch):
    def fails(*_a, **_k):
        raise ImportError("no such plugin")
    monkeypatch.setattr(base.connection_loader, "get", fails)
    base._documented_spec.cache_clear()
    plugin = _plugin_class("no_such_module", CONNECTIONS=("immutable.images.no_such_connection",))
    assert issubclass(plugin, base.ActionModuleBase)  # the import works; the task reports what is missing


@pytest.mark.parametrize("plugin, tasks_file", [("docker_builder", "start_builders.yml"), ("ec2_builder", "start_ec2.yml")])
def test_the_builder_actions_name_the_connection_of_the_builders_they_add(plugin, tasks_file):
    # launch adds each builder with the entry its action made, whose connection is the action's (its tests)
    with open(os.path.join(ROOT, "roles", "launch", "tasks", tasks_file)) as f:
        tasks = yaml.safe_load(f)
    flat = [t for task in tasks for t in task.get("block", [task])]
    adds = [t["ansible.builtin.add_host"] for t in flat if "ansible.builtin.add_host" in t]
    assert adds and all(isinstance(args, str) and "inventory_entry" in args for args in adds)
    module = importlib.import_module("ansible_collections.immutable.images.plugins.action." + plugin)
    assert module.ActionModule.CONNECTIONS == (module.BUILDER_CONNECTION,)


def test_errors_name_the_option_and_unknown_parameters():
    _params, errors, _secret = base.validate("build_guard", {"state": "armd", "bogus": 1})
    assert errors == ["value of state must be one of: armed, disarmed, swept, got: armd",
                      "unsupported parameters: bogus. Supported parameters include: image_names, pid, remove, state."]


def test_defaults_and_types_are_applied():
    params, errors, _secret = base.validate("layer_cache", {"role": "web", "digest": "d", "tags": "a,b"})
    assert not errors
    assert params["state"] == "lookup" and params["tags"] == ["a", "b"] and params["key"] is None


def test_validating_twice_gives_the_same_result():
    # the validator fills suboptions into a default dict: a spec shared between two validations would keep them
    args = {"packages": [], "path": "/tmp/x.cdx.json"}
    assert base.validate("image_sbom", args) == base.validate("image_sbom", args)
    assert base.validate("image_sbom", args)[1] == []


def test_no_log_values_are_collected():
    _params, errors, secret = base.validate("image_attestation", {"target": {}, "password": "s3cret"}, no_log=("password",))
    assert not errors and secret == {"s3cret"}


def test_run_validates_before_check_mode_and_scrubs_secrets(run_action):
    # a bad argument fails in check mode too, before anything else
    result = run_action("build_guard", {"state": "armd"}, check_mode=True)
    assert result["failed"] and result["msg"].startswith("immutable.images.build_guard: value of state")
    result = run_action("build_guard", {}, check_mode=True)
    assert result == {"changed": False, "skipped": True, "msg": "the build guard is not needed in check mode"}


def test_action_failure_becomes_the_result(run_action):
    result = run_action("builder_files", {"src": ""})
    assert result == {"failed": True, "msg": "immutable.images.builder_files: src is required"}


def test_an_action_plugin_wrapped_by_a_strategy_still_knows_its_module(make_action):
    # Mitogen's strategies run every action plugin as a class they make at run time: type(name, (mixin, plugin), {})
    plugin = make_action("builder_files", {"src": ""})

    class StrategyMixin:  # pylint: disable=too-few-public-methods
        pass

    wrapped = type("immutable.images.builder_files", (StrategyMixin, type(plugin)), {})
    assert wrapped.__module__ == "abc", "as the strategy's class is named: not the collection's"
    plugin = wrapped(plugin._task, plugin._connection, plugin._play_context, plugin._loader, plugin._templar, None)
    assert plugin.run(task_vars={}) == {"failed": True, "msg": "immutable.images.builder_files: src is required"}


# execute_module: the work of IN_WORKER's modules runs in the worker on the controller, else as a module

WORK_ARGS = dict(
    argument_spec=dict(
        host=dict(type="str", fallback=(env_fallback, ["ARCH_TEST_HOST"])),
        secret=dict(type="str", no_log=True),
        message=dict(type="str", aliases=["msg_old"],
                     deprecated_aliases=[dict(name="msg_old", version="2.0.0", collection_name="immutable.images")]),
        mode=dict(type="str", choices=["a", "b"], default="a"),
    ),
    supports_check_mode=True,
)


def work(run, module_args=None):
    return types.SimpleNamespace(MODULE_ARGS=module_args or WORK_ARGS, AVAILABLE=True, run=run)


def test_the_work_gets_validated_params_and_the_task_environment(monkeypatch):
    monkeypatch.delenv("ARCH_TEST_HOST", raising=False)
    seen = {}

    def run(module):
        seen.update(module.params, env_pythonpath=os.environ.get("PYTHONPATH"), check_mode=module.check_mode)
        module.exit_json(host=module.params["host"])

    env = {"ARCH_TEST_HOST": "tcp://e:2375", "PYTHONPATH": "/warm/client", "IMMUTABLE_IMAGES_WARM": "/s|/p"}
    before = dict(os.environ)
    result = base.run_in_worker(work(run), "fake", {"msg_old": "hi"}, True, env)
    assert result["host"] == "tcp://e:2375" and result["changed"] is False
    assert seen["mode"] == "a" and seen["message"] == "hi" and seen["check_mode"] is True
    assert seen["env_pythonpath"] == before.get("PYTHONPATH")  # for a module process only: not set here
    assert dict(os.environ) == before  # the environment is the worker's again
    assert result["deprecations"] == [{"msg": "Alias 'msg_old' is deprecated. See the module docs for more information",
                                       "version": "2.0.0", "collection_name": "immutable.images"}]


def test_the_warm_interpreter_environment_is_left_out():
    from ansible_collections.immutable.images.plugins.module_utils._warm import client as warm_client
    assert warm_client.ENV_WARM in base._PROCESS_ONLY_ENV


def test_exit_and_fail_end_the_work_and_secrets_are_removed():
    def run(module):
        module.warn("careful")
        try:
            module.fail_json(msg="no %s" % module.params["secret"], stage="launch")
        except Exception:  # noqa: BLE001 - the work's own handlers must not take the exit for an error
            raise AssertionError("fail_json was caught as an Exception")
        raise AssertionError("not reached")

    result = base.run_in_worker(work(run), "fake", {"secret": "s3cret"}, False, {})
    assert result == {"failed": True, "msg": "no ********", "stage": "launch", "warnings": ["careful"]}


def test_bad_arguments_fail_before_the_work_runs():
    ran = []
    result = base.run_in_worker(work(ran.append), "fake", {"mode": "c", "bogus": 1}, False, {})
    assert ran == [] and result["failed"]
    assert result["msg"].startswith("immutable.images.fake: value of mode must be one of: a, b, got: c")
    assert "unsupported parameters: bogus" in result["msg"]


def test_an_error_of_the_work_fails_the_task_with_its_traceback_and_the_tmpdir_goes():
    made = []

    def run(module):
        made.append(module.tmpdir)
        assert os.path.isdir(made[0])
        raise KeyError("gone")

    result = base.run_in_worker(work(run), "fake", {}, False, {})
    assert result["failed"] and result["msg"] == "immutable.images.fake failed: 'gone'"
    assert "KeyError" in result["exception"] and not os.path.exists(made[0])

    def leaks(module):
        raise ValueError("cannot use %s" % module.params["secret"])

    result = base.run_in_worker(work(leaks), "fake", {"secret": "s3cret"}, False, {})
    assert result["msg"] == "immutable.images.fake failed: cannot use ********" and "s3cret" not in result["exception"]


def test_without_check_mode_support_check_mode_skips():
    ran = []
    result = base.run_in_worker(work(ran.append, dict(WORK_ARGS, supports_check_mode=False)), "fake", {}, True, {})
    assert ran == [] and result["skipped"] and not result["changed"]


@pytest.mark.parametrize("module", sorted(base.IN_WORKER))
def test_the_work_has_the_documented_options(module):
    spec = importlib.import_module("%s.%s" % (base._PACKAGE, base.IN_WORKER[module])).MODULE_ARGS["argument_spec"]
    documented = base.argument_spec(module)
    assert set(spec) == set(documented)
    for option, entry in spec.items():
        for key in ("type", "choices", "default", "required", "elements"):
            assert entry.get(key) == documented[option].get(key), (module, option, key)


@pytest.mark.parametrize("transport, become, where", [
    ("ansible.builtin.local", False, "worker"), ("local", False, "worker"), ("ansible.builtin.ssh", False, "module"),
    ("ansible.builtin.local", True, "module")])
def test_execute_module_runs_in_the_worker_only_on_the_controller(make_action, transport, become, where):
    from tests.unit.plugins.conftest import LocalConnection

    plugin = make_action("docker_cleanup", {}, connection=LocalConnection(transport))
    plugin._play_context.become = become
    plugin._execute_module = lambda module_name, module_args, task_vars: {"ran": "module " + module_name}
    result = plugin.execute_module("immutable.images.docker_cleanup", {}, {})
    if where == "module":
        assert result == {"ran": "module immutable.images.docker_cleanup"}
    else:  # the work itself: it fails on the missing arguments, without an engine
        assert result == {"failed": True, "msg": "immutable.images.docker_cleanup: one of the following is required: "
                                                 "build_id, max_age, cache_keep"}


def test_execute_module_each_runs_the_work_at_once_in_the_worker_and_one_after_another_as_modules(make_action, monkeypatch):
    from tests.unit.plugins.conftest import LocalConnection

    monkeypatch.delenv("ARCH_TEST_HOST", raising=False)
    barrier, followed = threading.Barrier(3, timeout=5), []

    def run(module):  # each waits for the other two: one at a time, the first would time out
        barrier.wait()
        module.exit_json(host=module.params["host"], env=os.environ.get("ARCH_TEST_HOST"))

    plugin = make_action("docker_cleanup", {}, connection=LocalConnection("ansible.builtin.local"))
    plugin._work_in_worker = lambda name: work(run)
    plugin.task_environment = lambda: {"ARCH_TEST_HOST": "tcp://e:2375"}
    before = dict(os.environ)
    results = plugin.execute_module_each("immutable.images.docker_cleanup", [{"host": h} for h in "abc"], {},
                                         then=lambda args, result: followed.append((args["host"], result["host"])))
    assert [r["host"] for r in results] == ["a", "b", "c"]  # in order
    assert {r["env"] for r in results} == {"tcp://e:2375"} and dict(os.environ) == before  # set once, restored
    assert sorted(followed) == [("a", "a"), ("b", "b"), ("c", "c")]

    modules = make_action("docker_cleanup", {}, connection=LocalConnection("ansible.builtin.ssh"))
    ran = []
    modules._execute_module = lambda module_name, module_args, task_vars: ran.append(module_args["host"]) or {"ok": 1}
    assert modules.execute_module_each("immutable.images.docker_cleanup", [{"host": "a"}, {"host": "b"}], {}) == [
        {"ok": 1}, {"ok": 1}] and ran == ["a", "b"]
