# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the docker_builder module does: its AnsibleModule arguments (MODULE_ARGS) and run(module).

The thin module (plugins/modules/docker_builder.py) runs it with an AnsibleModule; its action plugin runs the same
in its worker when the task is on the controller (plugin_utils/_action_module.py, ModuleInWorker)."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.module_utils._docker import engine_pool
from ansible_collections.immutable.images.plugins.module_utils._docker.builder import DockerBuilder
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DOCKER_COMMON_ARGS,
    HAS_DOCKER,
    TLS_OPTIONS,
    DockerFailure,
    client_from_module,
)
from ansible_collections.immutable.images.plugins.module_utils._docker.engine import is_remote
from ansible_collections.immutable.images.plugins.module_utils._docker.registry_auth import RegistryAuth

# the Docker SDK: an action runs this in its worker only where it is importable (plugin_utils/_action_module.py)
AVAILABLE = HAS_DOCKER
MODULE_ARGS = dict(
    argument_spec=dict(
        DOCKER_COMMON_ARGS,
        name=dict(type="str"),
        targets=dict(type="list", elements="dict"),  # the action plugin's (action/docker_builder.py): one builder each
        inventory=dict(type="dict", options=dict(  # the action plugin's too: the builders' inventory entries
            build=dict(type="dict", required=True),
            groups=dict(type="list", elements="str", required=True),
            inventory_dir=dict(type="str"),
            inventory_file=dict(type="str"),
        )),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        image=dict(type="str"),
        from_layer=dict(type="str"),
        start=dict(type="bool", default=True),
        pull=dict(type="str", choices=["missing", "always", "never"], default="missing"),
        # only the password is masked: a user name is no secret, and masking it would mask it where the result says
        # it, in the builder's name too (a user named like the target)
        pull_auth=dict(type="dict", no_log=False, options=dict(
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            ecr=dict(type="bool"),
        ), required_together=[("username", "password")], required_one_of=[("username", "ecr")],
            mutually_exclusive=[("username", "ecr")]),
        pull_auth_by_target=dict(type="dict", no_log=True),  # the action plugin's: pull_auth of each target (by name)
        platform=dict(type="str"),
        network_mode=dict(type="str"),
        volumes=dict(type="list", elements="str", default=[]),
        privileged=dict(type="bool", default=False),
        labels=dict(type="dict", default={}),
        # for the action plugin (prepare_connection): the builder's connection owns the warm interpreter
        warm_interpreter=dict(type="bool", default=False),
        python_interpreter=dict(type="str", default="/usr/bin/python3"),
        lease_pid=dict(type="int"),
        engines=dict(type="list", elements="dict", options=dict(
            docker_host=dict(type="str", required=True),
            tls=dict(type="dict", options=TLS_OPTIONS),
            max_builds=dict(type="int"),
        )),
    ),
    required_if=[("state", "present", ["image"]), ("start", False, ["from_layer"])],
    required_one_of=[("name", "targets")],
    mutually_exclusive=[("name", "targets")],
    required_by={"inventory": "targets"},
    supports_check_mode=True,
)


def run(module):
    p = module.params
    if p["targets"] is not None:  # the action plugin starts each target's builder with this module's options
        module.fail_json(msg="targets is for the docker_builder action plugin, which starts one builder per target")
    if p["engines"] and p["state"] == "present" and not module.check_mode:
        _place(module)
    builder = DockerBuilder(client_from_module(module))
    try:
        if p["state"] == "absent":
            exists = builder.find(p["name"]) is not None
            changed = exists and (module.check_mode or builder.remove(p["name"]))
            module.exit_json(changed=bool(changed), container={})
        changed, facts = _launch(module, builder)
    except DockerFailure as e:
        module.fail_json(msg=str(e), stage=e.stage)
    module.exit_json(changed=changed, container=facts)


def _launch(module, builder, **extra):
    """Start the builder: (changed, facts)."""
    p = module.params
    kwargs = dict(pull=p["pull"], docker_host=p["docker_host"], pull_auth=RegistryAuth(p["pull_auth"], "launch"))
    kwargs.update(extra)
    changed, facts = builder.launch(
        p["name"], p["image"], {str(k): str(v) for k, v in p["labels"].items()}, platform=p["platform"],
        network_mode=p["network_mode"], volumes=p["volumes"], privileged=p["privileged"], check_mode=module.check_mode,
        lease_pid=p["lease_pid"], from_layer=p["from_layer"], start=p["start"], **kwargs)
    return changed, facts


def _place(module):
    """Start the builder on an engine of the pool (engine_pool.place) and exit with where it went."""
    p = module.params
    pool = [dict(e, tls=e.get("tls") or None) for e in p["engines"]]

    def start(client, admit):
        # the base image is on the engine now (engine_pool.ensure_base): the builder does not pull again
        return _launch(module, DockerBuilder(client), pull="never", docker_host=None, admit=admit)

    try:
        engine, _client, (changed, facts), notes = engine_pool.place(
            pool, p["image"], p["pull"], start, platform=p["platform"], timeout=p["timeout"], name=p["name"],
            pull_auth=RegistryAuth(p["pull_auth"], "launch"))
    except DockerFailure as e:
        module.fail_json(msg=str(e), stage=e.stage)
    used = {"docker_host": engine["docker_host"], "tls": engine.get("tls")}
    module.exit_json(changed=changed, container=facts, engine=used, placed=dict(used, remote_engine=is_remote(engine["docker_host"])),
                     placement=notes)
