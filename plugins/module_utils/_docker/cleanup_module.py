# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the docker_cleanup module does: its AnsibleModule arguments (MODULE_ARGS) and run(module).

The thin module (plugins/modules/docker_cleanup.py) runs it with an AnsibleModule; its action plugin runs the same
in its worker when the task is on the controller (plugin_utils/_action_module.py, ModuleInWorker)."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.janitor import DockerJanitor
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DOCKER_COMMON_ARGS,
    HAS_DOCKER,
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
    ),
    required_one_of=[("build_id", "max_age", "cache_keep")],
    supports_check_mode=True,
)


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
    try:
        client = get_client(p["docker_host"], p["timeout"], p["tls"])
    except DockerFailure as e:
        if not (p["skip_unreachable"] and e.stage == "client"):
            module.fail_json(msg=str(e), stage=e.stage)
        module.warn("%s: nothing removed there; the janitor (immutable.images.cleanup) removes what is left once it answers" % e)
        module.exit_json(changed=False, resources=[], removed=[], engine_answered=False)
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
    module.exit_json(changed=bool(found), resources=found, removed=removed)
