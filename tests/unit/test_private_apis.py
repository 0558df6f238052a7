# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every private API of a library the collection relies on (docs/development.md, "Private APIs"), checked the
way the collection uses it. Several of them would fail silently (a build gets slower, a role is not found by
FQCN, a layer is stored too early): these tests fail loudly instead, and the first line of each failure names
the API and the file of the collection that uses it.

The ansible-core ones (CORE_TESTS) run on every tested ansible-core: under pytest with the newest, and, by
test_core_private_apis_on_the_older_core, as a script with the older core's virtualenv (.deps/venv-2.19, which has
no pytest): `python tests/unit/test_private_apis.py`."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
import types
import zipfile

try:
    import pytest
except ImportError:  # run as a script by another ansible-core's Python (see the end of the file)
    pytest = None

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def broken(api, user, detail):
    return "PRIVATE API CHANGED: %s (used by %s): %s" % (api, user, detail)


def test_ansiballz_loader():
    api, user = "ansible.module_utils._internal._ansiballz._loader", "module_utils/_warm/server.py, _warm/install.py"
    try:
        loader = importlib.import_module(api)
    except ImportError as e:
        raise AssertionError(broken(api, user, "gone (%s): the warm interpreter preloads nothing and every module is cold" % e))
    assert callable(getattr(loader, "run_module", None)), broken(api, user, "no run_module: the payloads no longer use it")
    source = inspect.getsource(importlib.import_module("ansible.executor.module_common"))
    source += inspect.getsource(importlib.import_module("ansible._internal._ansiballz._wrapper"))
    assert "_ansiballz import _loader" in source, broken(api, user, "AnsiballZ payloads no longer import it: preloading it is useless")


def test_zipimport_compile_source(tmp_path):
    api, user = "zipimport._compile_source", "module_utils/_warm/server.py (compiled-code cache)"
    import zipimport

    original = getattr(zipimport, "_compile_source", None)
    assert callable(original), broken(api, user, "gone: modules in payload zips are compiled on every run again")
    assert list(inspect.signature(original).parameters) == ["pathname", "source"], broken(api, user, "signature changed")
    archive = tmp_path / "payload.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("arch_private_api_probe.py", "VALUE = 42\n")
    seen = []

    def counting(pathname, source):
        seen.append(pathname)
        return original(pathname, source)

    zipimport._compile_source = counting
    sys.path.insert(0, str(archive))
    try:
        assert importlib.import_module("arch_private_api_probe").VALUE == 42
    finally:
        zipimport._compile_source = original
        sys.path.remove(str(archive))
        sys.modules.pop("arch_private_api_probe", None)
    assert seen, broken(api, user, "zipimport no longer compiles through it: the cache is bypassed")


def test_run_command_reads_its_pipes_through_basics_selectors():
    api, user = ("ansible.module_utils.basic.selectors (module global) and AnsibleModule.run_command's pipe loop",
                 "module_utils/_warm/server.py (_no_idle_wait_in_run_command)")
    import selectors

    from ansible.module_utils import basic

    assert basic.selectors is selectors, broken(api, user, "basic no longer imports selectors as a module global: "
                                                           "the warm server's modules can stall a second again")
    source = inspect.getsource(basic.AnsibleModule.run_command)
    assert "selectors.PollSelector()" in source, broken(api, user, "run_command takes another selector")
    assert "selector.select(1)" in source and "cmd.poll()" in source, broken(
        api, user, "the loop changed: check whether it still waits a second after its command ended (if not, the "
                   "warm server's selector can go)")


def test_jinja_plugins_are_indexed_once_per_process():
    api, user = ("ansible.plugins.loader filter_loader / test_loader: Jinja2Loader._cached_non_collection_wrappers, "
                 "filled by the first get() of a process (_ensure_non_collection_wrappers)",
                 "lookup/build_strategy.py (_index_jinja_plugins: in ansible-playbook's process, for every worker)")
    from ansible.plugins import loader

    for plugin_loader, name in ((loader.filter_loader, "default"), (loader.test_loader, "defined")):
        index = getattr(plugin_loader, "_cached_non_collection_wrappers", None)
        assert isinstance(index, dict), broken(api, user, "no index any more: check where the loader keeps what it "
                                                          "found (each worker may index again, slower, silently)")
        plugin_loader.get(name)
        assert name in plugin_loader._cached_non_collection_wrappers, broken(
            api, user, "%s is not in the index after get(%r): the index is filled elsewhere" % (name, name))
    source = inspect.getsource(loader.Jinja2Loader._ensure_non_collection_wrappers)
    assert "if self._cached_non_collection_wrappers:" in source, broken(
        api, user, "the loader indexes again even when its index is filled")


def test_host_patterns_evaluated_on_an_inventory_of_our_own():
    api, user = ("not a plugin API: ansible.inventory.manager.InventoryManager(loader, parse=False) with add_group, "
                 "add_host, reconcile_inventory, subset, get_hosts(ignore_limits=) and split_host_pattern",
                 "plugin_utils/_run_limit.py (the --limit check of the build's first play)")
    from ansible.inventory import manager
    from ansible.parsing.dataloader import DataLoader

    inventory = manager.InventoryManager(DataLoader(), parse=False)
    inventory.add_group("image_builders")
    inventory.add_host("builder", group="image_builders")
    inventory.reconcile_inventory()

    def selected(limit, pattern):
        inventory.subset(limit)
        return [h.name for h in inventory.get_hosts(pattern)]

    assert selected("all", "image_builders") == ["builder"], broken(api, user, "a host added to a group is not in `all`")
    assert selected("localhost:image_b*", "localhost") == ["localhost"], broken(api, user, "no implicit localhost")
    assert selected("localhost:image_b*", "image_builders") == ["builder"], broken(api, user, "patterns changed")
    assert selected("localhost,!image_builders", "image_builders") == [], broken(api, user, "exclusions changed")
    assert [h.name for h in inventory.get_hosts("image_builders", ignore_limits=True)] == ["builder"], broken(
        api, user, "ignore_limits changed")
    assert manager.split_host_pattern("a,!b") == ["a", "!b"], broken(api, user, "split_host_pattern changed")


def test_variables_of_a_stand_in_host_in_the_run_inventorys_groups(tmp_path):
    api, user = ("VariableManager._inventory and _loader, and (not an API) VariableManager.get_vars(host=) for a Host "
                 "that is not in the inventory but in its groups",
                 "plugin_utils/_definition/builder_variables.py (the builders' inventory variables in the build hash)")
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    from ansible_collections.immutable.images.plugins.plugin_utils._definition import builder_variables

    (tmp_path / "group_vars").mkdir()
    (tmp_path / "hosts.ini").write_text("[image_builders]\n\n[image_builders:vars]\napp_port=8080\n\n[all:vars]\nntp=pool\n")
    (tmp_path / "group_vars" / "team.yml").write_text("team_mail: ops@example.com\n")
    (tmp_path / "elsewhere" / "group_vars").mkdir(parents=True)  # the roles' play's base directory
    (tmp_path / "elsewhere" / "group_vars" / "image_builders.yml").write_text("beside_the_play: 1\n")
    (tmp_path / "elsewhere" / "host_vars").mkdir()  # a builder's own, by its host name
    (tmp_path / "elsewhere" / "host_vars" / "webapp-dev.yml").write_text("app_port: 9090\n")
    loader = DataLoader()
    inventory = InventoryManager(loader, sources=[str(tmp_path / "hosts.ini")])
    manager = VariableManager(loader, inventory)
    assert manager._inventory is inventory, broken(api, user, "the variable manager keeps its inventory elsewhere")
    assert manager._loader is loader, broken(api, user, "the variable manager keeps its loader elsewhere")
    seen = builder_variables.inventory_variables(manager, ["image_builders", "team"], str(tmp_path / "elsewhere"))
    assert seen == {"app_port": 8080, "ntp": "pool", "team_mail": "ops@example.com", "beside_the_play": 1}, broken(
        api, user, "a stand-in host gets other variables: %r" % (seen,))
    assert list(inventory.hosts) == [], broken(api, user, "the stand-in host was added to the inventory")
    own = builder_variables.own_variables(manager, ["webapp-dev", "webapp-prod"], ["image_builders"],
                                          str(tmp_path / "elsewhere"))
    assert own == {"webapp-dev": {"app_port": 9090}}, broken(
        api, user, "a stand-in host named as a builder gets other variables of its own: %r" % (own,))
    assert list(inventory.hosts) == [], broken(api, user, "the stand-in host was added to the inventory")


def test_the_builders_of_finished_builds_leave_the_runs_inventory_and_variables():
    api, user = ("HostVars._variable_manager and _inventory, VariableManager._nonpersistent_fact_cache and _vars_cache, "
                 "InventoryManager._inventory.remove_host",
                 "plugin_utils/_builder_inventory.py (forget_finished_builders, for lookup/forget_builders.py)")
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.hostvars import HostVars
    from ansible.vars.manager import VariableManager

    from ansible_collections.immutable.images.plugins.plugin_utils import _builder_inventory

    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[])
    manager = VariableManager(loader=loader, inventory=inventory)
    hostvars = HostVars(inventory=inventory, variable_manager=manager, loader=loader)
    assert hostvars._variable_manager is manager and hostvars._inventory is inventory, broken(
        api, user, "a lookup's hostvars no longer reach the run's variable manager and inventory")
    inventory.add_group("image_builders")
    inventory.add_host("webapp-container", group="image_builders")
    inventory.get_host("webapp-container").set_variable("image_build", {"id": "b1"})
    inventory.get_host("webapp-container").set_variable("image_target", {"host": "webapp-container"})
    manager.set_nonpersistent_facts("webapp-container", {"app_installed": True})  # set_fact, register
    manager.set_host_variable("webapp-container", "included", 1)  # include_vars
    manager.set_host_facts("webapp-container", {"distribution": "Debian"})
    manager.set_nonpersistent_facts("localhost", {"image_build": {"id": "b2"}})
    forgotten = _builder_inventory.forget_finished_builders(hostvars)
    assert forgotten == ["webapp-container"] and inventory.get_hosts("image_builders") == [], broken(
        api, user, "the builder stayed in the inventory: %r" % (forgotten,))
    inventory.add_host("webapp-container", group="image_builders")
    left = manager.get_vars(host=inventory.get_host("webapp-container"), include_hostvars=False)
    assert "app_installed" not in left and "included" not in left and not left["ansible_facts"], broken(
        api, user, "a builder of the same name still gets the earlier one's variables: %r" % (
            {k: left.get(k) for k in ("app_installed", "included", "ansible_facts")},))


def test_a_plays_base_directory_set_while_its_strategy_is_templated_lasts_the_play(tmp_path):
    api, user = ("not an API: PlaybookExecutor.run sets a play's base directory (DataLoader.set_basedir) before "
                 "TaskQueueManager.run, which templates the play's keywords and does not set it again; playbook_dir "
                 "and group_vars/ beside the play come from it", "lookup/build_strategy.py (builders=: the project "
                 "directory as the base directory of the roles' play)")
    from ansible.executor.playbook_executor import PlaybookExecutor
    from ansible.executor.task_queue_manager import TaskQueueManager
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    executor, tqm = inspect.getsource(PlaybookExecutor.run), inspect.getsource(TaskQueueManager.run)
    assert -1 < executor.rfind("set_basedir(") < executor.find("self._tqm.run("), broken(
        api, user, "the executor sets the base directory after the play's keywords are templated")
    assert "post_validate(" in tqm and "set_basedir" not in tqm, broken(
        api, user, "the queue manager no longer templates the keywords, or sets the base directory itself")
    loader = DataLoader()
    loader.set_basedir(str(tmp_path))
    assert VariableManager(loader, InventoryManager(loader)).get_vars()["playbook_dir"] == str(tmp_path), broken(
        api, user, "playbook_dir is no longer the loader's base directory")


def test_plugin_directories_of_a_directory_are_added_in_the_running_process(tmp_path):
    api, user = ("not an API: ansible.plugins.loader.add_all_plugin_dirs (what ansible-playbook calls for a playbook's "
                 "directory)", "lookup/build_strategy.py (the project directory's library/, filter_plugins/, ...)")
    from ansible.plugins import loader

    library, filters = str(tmp_path / "library"), str(tmp_path / "filter_plugins")
    os.mkdir(library)
    os.mkdir(filters)
    assert library not in loader.module_loader.print_paths(), "the check below would prove nothing"
    loader.add_all_plugin_dirs(str(tmp_path))
    for plugin_loader, path in ((loader.module_loader, library), (loader.filter_loader, filters)):
        assert path in plugin_loader.print_paths().split(os.pathsep), broken(
            api, user, "%s is not searched: %s" % (path, plugin_loader.print_paths()))


def test_the_roles_path_is_read_at_each_role_look_up(tmp_path):
    api, user = ("not an API: ansible.constants.DEFAULT_ROLES_PATH, changed in ansible-playbook's process, read by "
                 "RoleDefinition at each role look-up (RoleInclude.load)",
                 "lookup/build_strategy.py (the project's roles first, for roles that include others by name)")
    from ansible import constants as C
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.role.include import RoleInclude

    (tmp_path / "roles" / "common" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "common" / "tasks" / "main.yml").write_text("- ansible.builtin.debug: {}\n")
    saved = C.DEFAULT_ROLES_PATH
    try:
        C.DEFAULT_ROLES_PATH = [str(tmp_path / "roles")] + list(saved or [])
        found = RoleInclude.load("common", play=None, loader=DataLoader()).get_role_path()
    finally:
        C.DEFAULT_ROLES_PATH = saved
    assert found == str(tmp_path / "roles" / "common"), broken(api, user, "the role was found at %r" % (found,))


def test_action_base_configure_module():
    api, user = "ansible.plugins.action.ActionBase._configure_module", "action/warm_controller.py (payload prebuild)"
    from ansible.plugins.action import ActionBase

    method = getattr(ActionBase, "_configure_module", None)
    assert method is not None, broken(api, user, "gone: payloads are built on first use again")
    params = list(inspect.signature(method).parameters)
    assert params[:4] == ["self", "module_name", "module_args", "task_vars"], broken(api, user, "signature changed: %s" % params)


def test_task_keyword_attributes():
    api, user = "ansible.playbook.task.Task.fattributes, Block.fattributes", "plugin_utils/_definition/role_modules.py"
    from ansible.playbook.block import Block
    from ansible.playbook.task import Task

    keywords = set(Task.fattributes) | set(Block.fattributes)
    missing = {"name", "when", "loop", "register", "notify", "vars", "tags", "become", "delegate_to", "block", "rescue",
               "always", "args", "action"} - keywords
    assert not missing, broken(api, user, "keywords no longer listed (%s): the modules the roles name are not told "
                                          "from keywords, and fewer payloads are built in advance" % sorted(missing))
    assert "apt" not in keywords and "ansible.builtin.copy" not in keywords, broken(api, user, "modules listed as keywords")


def test_add_host_takes_a_mapping_as_its_free_form_argument():
    api = "not an API: ansible.builtin.add_host with a template of a mapping as its free-form argument (_raw_params)"
    user = "roles/launch/tasks/start_builders.yml, start_ec2.yml (add_host: \"{{ ...inventory_entry }}\")"
    from ansible.playbook.task import Task
    from ansible.plugins.action import add_host

    task = Task.load({"add_host": "{{ launch__started.inventory_entry }}"})  # resolved without the collection loader
    assert task.args.get("_raw_params") == "{{ launch__started.inventory_entry }}", \
        broken(api, user, "the free-form argument is no longer kept as _raw_params: %s" % task.args)
    source = inspect.getsource(add_host.ActionModule.run)
    assert "_raw_params" in source and "Mapping" in source, \
        broken(api, user, "add_host no longer takes a mapping as _raw_params: the builders are not added")


def test_action_runs_modules_and_actions():
    api = ("ansible.plugins.action.ActionBase._execute_module, ActionBase(task, connection, play_context, loader, "
           "templar, shared_loader_obj), Task.environment")
    user = "plugin_utils/_action_module.py (run_action, execute_module), action/image_artifact.py, action/layer_cache.py"
    from ansible.playbook.task import Task
    from ansible.plugins.action import ActionBase

    params = list(inspect.signature(ActionBase._execute_module).parameters)
    assert {"module_name", "module_args", "task_vars"} <= set(params), \
        broken(api, user, "_execute_module's keywords changed: %s" % params)
    params = list(inspect.signature(ActionBase.__init__).parameters)
    assert params[1:7] == ["task", "connection", "play_context", "loader", "templar", "shared_loader_obj"], \
        broken(api, user, "an action plugin is made with other arguments now: %s" % params)
    task = Task.load({"action": "ansible.builtin.ping"})
    task.environment = [{"A": "1"}]
    copied = task.copy()
    copied.args = {"data": "x"}
    assert copied.environment == [{"A": "1"}] and task.args == {}, broken(api, user, "Task.copy or environment changed")


def test_validation_result_no_log_warnings_and_deprecations():
    api = "ansible.module_utils.common.arg_spec.ValidationResult._no_log_values, _warnings, _deprecations"
    user = "plugin_utils/_action_module.py (ModuleInWorker)"
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec = {"secret": {"type": "str", "no_log": True},
            "message": {"type": "str", "aliases": ["old"],
                        "deprecated_aliases": [{"name": "old", "version": "2.0.0", "collection_name": "immutable.images"}]}}
    checked = ArgumentSpecValidator(spec).validate({"secret": "s3cret", "old": "a", "message": "b"})
    assert getattr(checked, "_no_log_values", None) == {"s3cret"}, \
        broken(api, user, "no_log values are not found: they could show in the result of a module run in the worker")
    assert [(w.get("option"), w.get("alias")) for w in getattr(checked, "_warnings", [])] == [("message", "old")], \
        broken(api, user, "the warning of an option set with its alias is lost")
    assert [d.get("version") for d in getattr(checked, "_deprecations", [])] == ["2.0.0"] and \
        "'old'" in checked._deprecations[0]["msg"], broken(api, user, "deprecated aliases are no longer reported")


def test_collection_role_path():
    api, user = "ansible.utils.collection_loader._collection_finder._get_collection_role_path", "plugin_utils/_definition/role_search.py"
    probe = (
        "import sys\n"
        "from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder, _get_collection_role_path\n"
        "_AnsibleCollectionFinder(paths=[sys.argv[1]])._install()\n"
        "print(_get_collection_role_path('immutable.images.launch')[1])\n"
    )
    collections = os.path.dirname(os.path.dirname(os.path.dirname(
        importlib.import_module("ansible_collections.immutable.images").__path__[0])))
    proc = subprocess.run([sys.executable, "-c", probe, collections], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, broken(api, user, proc.stderr.strip().splitlines()[-1:])
    assert os.path.samefile(proc.stdout.strip(), os.path.join(ROOT, "roles", "launch")), broken(api, user, proc.stdout)


def test_task_parent_and_play():
    api, user = "Task._parent / Block._play", "action/layer_cache.py (_pending_handlers)"
    from ansible.playbook.block import Block
    from ansible.playbook.handler import Handler
    from ansible.playbook.play import Play
    from ansible.playbook.task import Task

    play = Play()
    handlers = Block(play=play)
    handlers.block = [Handler(block=handlers)]
    handlers.block[0].name = "restart"
    play.handlers = [handlers]
    task = Task(block=Block(play=play))
    assert getattr(task, "_parent", None) is not None, broken(api, user, "a task has no _parent")
    node, found = task, None
    while node is not None and found is None:
        found = getattr(node, "_play", None)
        node = getattr(node, "_parent", None)
    assert found is play, broken(api, user, "the play is not reached through _parent/_play: every layer waits for the end")
    assert [h.get_name() for b in found.handlers for h in b.block] == ["restart"], broken(api, user, "handlers layout")


def test_a_tasks_own_environment_comes_last():
    api, user = "not an API: Task.environment lists the play's, the blocks' and then the task's own", \
        "action/layer_cache.py (_as_planned)"
    from ansible.playbook.block import Block
    from ansible.playbook.play import Play

    play = Play.load({"hosts": "all", "environment": {"P": "play"}, "tasks": []})
    block = Block.load({"block": [{"name": "t", "debug": {"msg": 1}, "environment": {"T": "own"}}],
                        "environment": {"B": "block"}}, play=play)
    layers = block.block[0].environment
    assert layers[-1] == {"T": "own"} and {"P": "play"} in layers and {"B": "block"} in layers, broken(
        api, user, "%r: a fully cached build could take layers keyed without the environment around it" % (layers,))


def docker_api():
    docker = pytest.importorskip("docker")
    return docker, docker.APIClient(base_url="unix:///nonexistent/arch-private-api.sock", version="1.41")


def test_docker_create_container_args():
    api, user = "docker.models.containers._create_container_args", "module_utils/_docker/builder.py"
    docker, _api = docker_api()
    try:
        from docker.models.containers import _create_container_args
    except ImportError as e:
        raise AssertionError(broken(api, user, "gone (%s)" % e))
    kwargs = _create_container_args(dict(
        image="sha256:x", entrypoint=["/bin/sh"], detach=True, stdin_open=True, tty=False, labels={"a": "b"},
        network_mode=None, volumes=["/cache:/cache"], privileged=False, tmpfs={"/run": "mode=755"},
        auto_remove=True, version="1.41"))
    assert kwargs["image"] == "sha256:x" and kwargs["stdin_open"] is True, broken(api, user, kwargs)
    host = kwargs["host_config"]
    assert host["AutoRemove"] is True and host["Tmpfs"] == {"/run": "mode=755"} and host["Binds"] == ["/cache:/cache"], \
        broken(api, user, "host config: %s" % host)
    assert isinstance(docker.APIClient.create_container_config, types.FunctionType)


def test_docker_ssh_adapter_global():
    api, user = "docker.api.client.SSHHTTPAdapter (module global)", "module_utils/_docker/client.py (_ssh_support)"
    docker, _api = docker_api()
    from docker.api import client as api_client

    from ansible_collections.immutable.images.plugins.module_utils._docker.client import _ssh_support

    saved = api_client.__dict__.pop("SSHHTTPAdapter", None)  # as the SDK imported without paramiko leaves it
    try:
        with pytest.raises(docker.errors.DockerException, match="paramiko"):
            docker.APIClient(base_url="ssh://nobody@127.0.0.1:1", use_ssh_client=True, version="1.41")
        _ssh_support()
        made = docker.APIClient(base_url="ssh://nobody@127.0.0.1:1", use_ssh_client=True, version="1.41")
        assert type(made.adapters["http+docker://ssh"]).__name__ == "SSHHTTPAdapter", broken(
            api, user, "the ssh:// adapter is not found there: ssh:// engines fail")
    finally:
        if saved is not None:
            api_client.SSHHTTPAdapter = saved


def test_docker_api_url_and_raise_for_status():
    api, user = "docker.APIClient._url / _raise_for_status", "module_utils/_docker/client.py path_stat (HEAD of the archive API)"
    docker, client = docker_api()
    assert client._url("/containers/{0}/archive", "abc").endswith("/v1.41/containers/abc/archive"), broken(api, user, "_url")
    import requests

    response = requests.Response()
    response.status_code, response.url, response._content = 500, "http+docker://localhost/x", b'{"message": "boom"}'
    with pytest.raises(docker.errors.APIError):
        client._raise_for_status(response)


def test_docker_server_version():
    api, user = "docker.APIClient._version", "module_utils/_docker/client.py, docker_builder.py, engine_stream.py"
    _docker, client = docker_api()
    assert client._version == "1.41", broken(api, user, "_version is %r" % getattr(client, "_version", None))
    client._version = "1.45"  # what get_client sets from the engine's answer; the SDK's calls use it
    assert client._url("/containers/{0}/json", "x") == "http+docker://localhost/v1.45/containers/x/json", broken(
        api, user, "the SDK's calls no longer use it")


def test_requests_merge_environment_settings_is_called_per_request(monkeypatch):
    api, user = "requests.Session.merge_environment_settings (replaced per client)", "module_utils/_docker/client.py (_pin_verify)"
    import requests

    from ansible_collections.immutable.images.plugins.module_utils._docker import client as docker_client

    session = requests.Session()

    class Called(Exception):
        pass

    def probe(url, proxies, stream, verify, cert):
        raise Called()

    session.merge_environment_settings = probe
    with pytest.raises(Called):
        session.request("GET", "http://127.0.0.1:9/")
    # and the pinned CA wins over REQUESTS_CA_BUNDLE
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    session = requests.Session()
    session.verify = "/pinned/ca.pem"
    docker_client._pin_verify(session)
    assert session.merge_environment_settings("https://10.0.0.5:2376", {}, None, None, None)["verify"] == "/pinned/ca.pem", \
        broken(api, user, "the environment's CA replaces the engine's")


def test_xdist_load_scope_scheduling():
    # test-only: the integration suite's scheduler (files as work units, the second-engine files as one)
    api, user = "xdist.scheduler.LoadScopeScheduling._split_scope, _assign_work_unit, workqueue", \
        "tests/integration/conftest.py"
    import inspect
    try:
        from xdist.scheduler import LoadScopeScheduling
    except ImportError as e:
        raise AssertionError(broken(api, user, "gone (%s)" % e))
    for name in ("_split_scope", "_assign_work_unit"):
        assert callable(getattr(LoadScopeScheduling, name, None)), broken(api, user, "no %s" % name)
    assert list(inspect.signature(LoadScopeScheduling._split_scope).parameters) == ["self", "nodeid"], \
        broken(api, user, "_split_scope(%s)" % inspect.signature(LoadScopeScheduling._split_scope))
    assert list(inspect.signature(LoadScopeScheduling._assign_work_unit).parameters) == ["self", "node"], \
        broken(api, user, "_assign_work_unit(%s)" % inspect.signature(LoadScopeScheduling._assign_work_unit))
    assert "self.workqueue" in inspect.getsource(LoadScopeScheduling._assign_work_unit), broken(api, user, "no workqueue")


def test_amazon_aws_module_inner_module():
    api, user = "amazon.aws AnsibleAWSModule._module", "module_utils/_ec2/client.py (module_warner)"
    aws = pytest.importorskip("ansible_collections.amazon.aws.plugins.module_utils.modules")
    assert "self._module = " in inspect.getsource(aws.AnsibleAWSModule.__init__), broken(api, user, "no _module attribute")


def test_ssh_connection_display_and_load_name():
    api, user = "ansible.plugins.connection.ssh.display / AnsiblePlugin._load_name", "connection/ssh.py, plugin_utils/_redact.py"
    from ansible.plugins import AnsiblePlugin
    from ansible.plugins.connection import ssh

    assert hasattr(ssh, "display") and "display.vvv(" in inspect.getsource(ssh), \
        broken(api, user, "the ssh plugin no longer prints through its module's display: environment values may show")
    assert "_load_name" in inspect.getsource(AnsiblePlugin), broken(api, user, "options are no longer looked up by _load_name")


def _sent_for_a_pipelined_module(become=None, remote_user="admin"):
    """(what ansible-core's ActionBase._low_level_execute_command sends a connection for a pipelined module, the
    connection's shell): with the real sh shell, the connection made as ConnectionBase makes it."""
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.action import ActionBase
    from ansible.plugins.loader import get_shell_plugin

    class Recorder:
        transport, allow_executable, sent = "ssh", True, []
        _shell = get_shell_plugin(shell_type="sh", executable=PlayContext().executable)

        def __init__(self):
            self.become = become

        def get_option(self, name):
            return {"remote_user": remote_user}[name]

        def exec_command(self, cmd, in_data=None, sudoable=True):
            self.sent.append(cmd)
            return 0, b"{}", b""

    class Action(ActionBase):
        def run(self, tmp=None, task_vars=None):
            raise NotImplementedError

    conn = Recorder()
    Action(None, conn, PlayContext(), None, None, None)._low_level_execute_command("/usr/bin/python3", in_data=b"")
    return conn.sent[-1], conn._shell


def test_pipelined_module_command():
    api = "ansible-core's command for a pipelined module (ShellModule.build_module_command, ActionBase._low_level_execute_command)"
    user = "connection/docker_session.py (a module goes straight to the warm server)"
    from ansible.plugins.loader import shell_loader

    command = shell_loader.get("sh").build_module_command("", "#!/usr/bin/python3", "")
    assert command == "/usr/bin/python3", broken(api, user, "a pipelined module is now started as %r" % command)
    sent, _shell = _sent_for_a_pipelined_module()
    assert sent in ("/bin/sh -c /usr/bin/python3", "/bin/sh -c '/usr/bin/python3 && sleep 0'"), \
        broken(api, user, "a pipelined module's command is now %r: modules start /bin/sh and a new Python first" % sent)


def test_a_pipelined_module_through_become_and_a_connections_extra_variables():
    api = ("ansible-core's command for a pipelined module through become (ActionBase._low_level_execute_command, "
           "BecomeBase.build_become_command and its `success` marker), and a connection's extra variables "
           "(AnsiblePlugin.allow_extras, _extras_prefix, ConnectionBase._resolve_option_variables)")
    user = "connection/ssh.py, plugin_utils/_ec2/warm.py (an ec2 builder's modules in its warm interpreter)"
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import become_loader, connection_loader
    from ansible.template import Templar

    from ansible_collections.immutable.images.plugins.plugin_utils._ec2 import warm as ssh_warm

    sudo = become_loader.get("sudo")
    sudo.set_options(direct={"become_user": "root"})
    sent, shell = _sent_for_a_pipelined_module(sudo)
    found = ssh_warm.pipelined_module(sent, PlayContext().executable, sudo, shell, "admin")
    assert found and found[:2] == ("/usr/bin/python3", sudo), broken(api, user, "not recognised: %s" % sent)

    connection_loader.get("ssh", class_only=True)  # its option definitions, which a run has loaded
    ssh = importlib.import_module("ansible_collections.immutable.images.plugins.connection.ssh").Connection(PlayContext(), None)
    options = ssh._resolve_option_variables({"ansible_immutable_images_warm": True, "ansible_port": 2222},
                                            Templar(loader=DataLoader()))
    ssh.set_options(var_options=options)
    assert ssh.get_option("port") == 2222 and ssh._options.get("_extras") == {"ansible_immutable_images_warm": True}, \
        broken(api, user, "the connection's extra variable is not passed on: the warm interpreter is never used")


def test_docker_api_connection_display():
    api, user = "community.docker docker_api connection's module global `display`", "connection/docker_session.py (_redact.install)"
    try:
        plugin = importlib.import_module("ansible_collections.community.docker.plugins.connection.docker_api")
    except ImportError as e:
        if pytest is None:
            raise
        pytest.skip("community.docker is not importable here: %s" % e)
    from ansible.utils.display import Display

    assert isinstance(getattr(plugin, "display", None), Display), broken(api, user, "no module global display")
    assert "display.vvv(" in inspect.getsource(plugin), \
        broken(api, user, "docker_api no longer prints EXEC lines through its module's display: environment values may show")


def test_action_plugins_are_imported_before_the_worker_forks(tmp_path):
    api, user = ("ansible-playbook imports a task's action plugin in its own process before it forks the task's worker "
                 "(the linear strategy's action_loader.get(class_only=True))", "plugin_utils/_action_module.py "
                 "(ActionModuleBase.__init_subclass__: the spec and CONNECTIONS, loaded once per build)")
    (tmp_path / "action_plugins").mkdir()
    (tmp_path / "action_plugins" / "probe.py").write_text(
        "import os\n"
        "from ansible.plugins.action import ActionBase\n"
        "IMPORTED_IN = os.getpid()\n\n\n"
        "class ActionModule(ActionBase):\n"
        "    def run(self, tmp=None, task_vars=None):\n"
        "        with open(os.environ['PROBE_OUT'], 'a') as f:\n"
        "            f.write('%d %d %d\\n' % (IMPORTED_IN, os.getpid(), os.getppid()))\n"
        "        return {}\n")
    (tmp_path / "play.yml").write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - probe:\n    - probe:\n")
    out = tmp_path / "pids"
    env = dict(os.environ, ANSIBLE_ACTION_PLUGINS=str(tmp_path / "action_plugins"), PROBE_OUT=str(out),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run([playbook, str(tmp_path / "play.yml")], capture_output=True, text=True, timeout=120, env=env,
                          cwd=str(tmp_path), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = [tuple(int(pid) for pid in line.split()) for line in out.read_text().splitlines()]
    assert len(runs) == 2 and len({worker for _imported, worker, _parent in runs}) == 2, runs
    for imported, worker, parent in runs:
        assert imported == parent != worker, broken(
            api, user, "imported in %d, run in worker %d of %d: every task loads the spec and the connection again "
                       "(slower, silently)" % (imported, worker, parent))


# What runs on every tested ansible-core: the private APIs of ansible-core and CPython (no pytest, Docker SDK,
# requests or amazon.aws needed).
def test_the_workers_results_queue_and_its_write_lock():
    api = "TaskQueueManager._final_q, StrategyBase._final_q (ansible-core), SimpleQueue._wlock (CPython)"
    user = "plugin_utils/_guard/build_guard.py (results_queue, no_worker_writing)"
    from ansible.executor.task_queue_manager import FinalQueue, TaskQueueManager
    from ansible.plugins.strategy import StrategyBase

    assert "self._final_q = FinalQueue(" in inspect.getsource(TaskQueueManager.__init__), \
        broken(api, user, "the TaskQueueManager has no FinalQueue as _final_q: an interrupt's kill of the workers is unguarded")
    assert "self._final_q = tqm._final_q" in inspect.getsource(StrategyBase.__init__), broken(api, user, "not on the strategy")
    assert "self._final_q.put(" in inspect.getsource(StrategyBase.cleanup), \
        broken(api, user, "the strategy's clean-up no longer puts on it: the guard may be useless")
    lock = getattr(FinalQueue(), "_wlock", None)
    assert lock is not None and lock.acquire(timeout=1), broken(api, user, "no write lock to hold while the workers die")
    lock.release()


CORE_TESTS = (test_ansiballz_loader, test_zipimport_compile_source, test_run_command_reads_its_pipes_through_basics_selectors,
              test_jinja_plugins_are_indexed_once_per_process, test_host_patterns_evaluated_on_an_inventory_of_our_own,
              test_variables_of_a_stand_in_host_in_the_run_inventorys_groups,
              test_the_builders_of_finished_builds_leave_the_runs_inventory_and_variables,
              test_the_roles_path_is_read_at_each_role_look_up,
              test_plugin_directories_of_a_directory_are_added_in_the_running_process,
              test_a_plays_base_directory_set_while_its_strategy_is_templated_lasts_the_play,
              test_action_base_configure_module,
              test_task_keyword_attributes, test_action_runs_modules_and_actions,
              test_a_pipelined_module_through_become_and_a_connections_extra_variables,
              test_validation_result_no_log_warnings_and_deprecations,
              test_collection_role_path, test_task_parent_and_play, test_a_tasks_own_environment_comes_last,
              test_add_host_takes_a_mapping_as_its_free_form_argument,
              test_ssh_connection_display_and_load_name,
              test_pipelined_module_command, test_docker_api_connection_display,
              test_action_plugins_are_imported_before_the_worker_forks,
              test_the_workers_results_queue_and_its_write_lock)
OLDER_CORES = {"2.19": os.path.join(ROOT, ".deps", "venv-2.19")}


def test_core_private_apis_on_the_older_core():
    python = os.path.join(OLDER_CORES["2.19"], "bin", "python")
    if not os.path.exists(python):
        pytest.skip("no ansible-core 2.19 virtualenv (scripts/setup-env makes it; SETUP_OLD_CORE=0 skips it)")
    collections = os.path.dirname(os.path.dirname(os.path.dirname(
        importlib.import_module("ansible_collections.immutable.images").__path__[0])))
    env = dict(os.environ, PYTHONPATH=collections, ANSIBLE_COLLECTIONS_PATH=collections)
    proc = subprocess.run([python, os.path.abspath(__file__)], capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, "on ansible-core 2.19:\n" + proc.stdout + proc.stderr
    assert proc.stdout.count("ok ") == len(CORE_TESTS), proc.stdout


def _run_core_tests():
    import tempfile
    import traceback

    from ansible.release import __version__

    failed = 0
    for test in CORE_TESTS:
        try:
            if "tmp_path" in inspect.signature(test).parameters:
                import pathlib

                with tempfile.TemporaryDirectory() as tmp:
                    test(pathlib.Path(tmp))
            else:
                test()
            print("ok %s (ansible-core %s, Python %s)" % (test.__name__, __version__, sys.version.split()[0]))
        except Exception:  # noqa: BLE001 - every failure is reported, with the API it names
            failed += 1
            print("FAILED %s\n%s" % (test.__name__, traceback.format_exc()))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        importlib.import_module("ansible_collections.immutable.images")
    except ImportError:  # run by hand: the checkout's collection link (scripts/setup-env)
        sys.path.insert(0, os.path.join(ROOT, ".deps", "collections"))
    sys.exit(_run_core_tests())
