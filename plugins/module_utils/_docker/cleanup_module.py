# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the docker_cleanup module does: its AnsibleModule arguments (MODULE_ARGS) and run(module).

The thin module (plugins/modules/docker_cleanup.py) runs it with an AnsibleModule; its action plugin runs the same
in its worker when the task is on the controller (plugin_utils/_action_module.py, ModuleInWorker)."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.janitor import DockerJanitor
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DOCKER_COMMON_ARGS,
    HAS_DOCKER,
    TLS_OPTIONS,
    DockerFailure,
    get_client,
)

# the Docker SDK: an action runs this in its worker only where it is importable (plugin_utils/_action_module.py)
AVAILABLE = HAS_DOCKER
MODULE_ARGS = dict(
    argument_spec=dict(
        DOCKER_COMMON_ARGS,
        build_id=dict(type="str"),
        max_age=dict(type="str"),
        keep=dict(type="list", elements="str", default=[]),
        superseded_of=dict(type="str"),
        cache_keep=dict(type="int"),
        image_names=dict(type="list", elements="str"),
        skip_unreachable=dict(type="bool", default=False),
        # each entry as docker_host and tls (checked against _ENGINE in run: documented without suboptions)
        engines=dict(type="list", elements="dict"),
    ),
    required_one_of=[("build_id", "max_age", "cache_keep")],
    supports_check_mode=True,
)


_ENGINE = dict(docker_host=dict(type="str"), tls=dict(type="dict", options=TLS_OPTIONS))


def run(module):
    p = module.params
    older_than = None
    if p["max_age"]:
        try:
            older_than = naming.cutoff(p["max_age"])
        except ValueError as e:
            module.fail_json(msg="max_age: %s" % e)
    if not HAS_DOCKER:
        module.fail_json(msg="the Docker SDK for Python (pip package 'docker') is required")
    engines = [{"docker_host": p["docker_host"], "tls": p["tls"]}]
    if p["engines"] is not None:
        engines = []
        for i, entry in enumerate(p["engines"]):
            checked = ArgumentSpecValidator(_ENGINE).validate(entry)
            if checked.error_messages:
                module.fail_json(msg="engines[%d]: %s" % (i, "; ".join(checked.error_messages)))
            engines.append(checked.validated_parameters)
    found, removed, answered = [], [], True
    for engine in engines:  # one after another: each engine's removals already run at once (janitor.remove)
        engine_found, engine_removed = _clean(module, engine, older_than)
        if engine_found is None:
            answered = False
            continue
        found += engine_found
        removed += engine_removed
    result = dict(changed=bool(found), resources=found, removed=removed)
    if not answered:
        result["engine_answered"] = False
    module.exit_json(**result)


def _clean(module, engine, older_than):
    """(found, removed) on one engine, or (None, None) when it does not answer and skip_unreachable says so."""
    p = module.params
    try:
        client = get_client(engine["docker_host"], p["timeout"], engine["tls"])
    except DockerFailure as e:
        if not (p["skip_unreachable"] and e.stage == "client"):
            module.fail_json(msg=str(e), stage=e.stage)
        module.warn("%s: nothing removed there; the janitor (immutable.images.cleanup) removes what is left once it answers" % e)
        return None, None
    janitor = DockerJanitor(client)
    try:
        found = []
        if p["build_id"] or older_than:
            found = janitor.find(build_id=p["build_id"], older_than=older_than, keep=p["keep"],
                                 superseded_of=p["superseded_of"], image_names=p["image_names"])
        if p["cache_keep"] is not None:
            found += janitor.stale_cache(p["cache_keep"], image_names=p["image_names"])
        for name in [] if module.check_mode else janitor.keep(p["keep"]):
            module.warn("%s: cannot mark it kept; it is removed when ansible-playbook ends" % name)
        removed = [] if module.check_mode else janitor.remove(found)
    except DockerFailure as e:
        module.fail_json(msg=str(e), stage=e.stage)
    return found, removed
