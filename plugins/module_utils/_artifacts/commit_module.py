# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the docker_image_commit module does: its AnsibleModule arguments (MODULE_ARGS) and run(module).

The thin module (plugins/modules/docker_image_commit.py) runs it with an AnsibleModule; the image_artifact action
runs the same in its worker when the task is on the controller (plugin_utils/_action_module.py, ModuleInWorker)."""

from __future__ import annotations

from ansible.module_utils.common.parameters import remove_values

from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DOCKER_COMMON_ARGS,
    HAS_DOCKER,
    DockerFailure,
    client_from_module,
)
from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._artifacts.claim import ArtifactClaim
from ansible_collections.immutable.images.plugins.module_utils._docker.commit import ImageCommitter
from ansible_collections.immutable.images.plugins.module_utils._docker.run_test import RunTest, VerifyFailure, run_test_args
from ansible_collections.immutable.images.plugins.module_utils._docker.volumes import changed_in_volumes, lost_changes_warning


# the Docker SDK: an action runs this in its worker only where it is importable (plugin_utils/_action_module.py)
AVAILABLE = HAS_DOCKER
MODULE_ARGS = dict(
    argument_spec=dict(
        DOCKER_COMMON_ARGS,
        state=dict(type="str", choices=["present", "absent"], default="present"),
        container=dict(type="str"),
        tags=dict(type="list", elements="str"),
        image_id=dict(type="str"),
        previous=dict(type="dict", default={}),
        base_image=dict(type="str"),
        config=dict(type="dict", default={}),
        labels=dict(type="dict", default={}),
        commit_message=dict(type="str", aliases=["message"],
                            deprecated_aliases=[dict(name="message", version="2.0.0",
                                                     collection_name="immutable.images")]),
        author=dict(type="str"),
        squash=dict(type="bool", default=False),
        from_layer=dict(type="str"),
        layer_only=dict(type="bool", default=False),
        run_tests=dict(type="list", elements="dict", default=[]),
        # Not no_log: its values would then be masked wherever they occur in the result, in the image's id and tags too
        # (an env value "1": masktwo:********.0.0). They are masked in the texts that can echo them instead (masked()).
        run_test_env=dict(type="list", elements="dict", default=[], no_log=False),
        build_id=dict(type="str"),
        claim=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
    ),
    required_if=[("state", "present", ["container", "tags"]), ("state", "absent", ["image_id"]),
                 ("layer_only", True, ["from_layer"])],
    supports_check_mode=True,
)


def run(module):
    p = module.params
    committer = ImageCommitter(client_from_module(module))
    if p["state"] == "absent":
        if not module.check_mode:
            committer.rollback(p["image_id"], p["previous"])
        module.exit_json(changed=True, image_id=p["image_id"])
    labels = {str(k): str(v) for k, v in p["labels"].items()}
    try:
        if module.check_mode:
            _container, base_id, conf = committer.plan(p["container"], p["config"], labels, p["base_image"])
            module.exit_json(changed=True, base_image_id=base_id, tags=p["tags"], config=conf)
        tests = RunTest(committer.client)
        passed = []

        def run_tests(image_id):
            for i, spec in enumerate(p["run_tests"]):
                if i < len(p["run_test_env"]):
                    spec = dict(spec, env={str(k): str(v) for k, v in (p["run_test_env"][i] or {}).items()})
                elif not isinstance(spec.get("env"), dict):
                    spec = dict(spec, env=None)  # names only (from the plan): no values were given
                passed.append(tests.run(image_id, p["build_id"] or "", **run_test_args(spec)))

        if p["claim"]:
            # identical builds at once make one artifact: the first to claim it; the others reuse it
            base = p["base_image"] or committer.client.containers.get(p["container"]).attrs["Image"]
            claim = ArtifactClaim(committer.client)
            existing = claim.acquire(labels, base, force=p["force"])
            if existing:
                claim.tag(existing["image_id"], p["tags"])
                module.exit_json(changed=True, image_id=existing["image_id"], base_image_id=base, tags=p["tags"],
                                 previous={}, reused_from=existing["build_id"], run_tests=[], squashed=False)
        volumes, lost = changed_in_volumes(committer.client.api, p["container"])
        if lost:
            module.warn(lost_changes_warning(p["container"], volumes, lost))
        # the comment says which build made the image: what tells it from an image built FROM it
        message = naming.build_comment(labels[naming.LABEL_BUILD_ID], p["commit_message"]) \
            if labels.get(naming.LABEL_BUILD_ID) else p["commit_message"]
        result = committer.commit(p["container"], p["config"], labels, p["tags"], message, p["author"],
                                  p["base_image"], squash=p["squash"],
                                  tmpdir=module.tmpdir if p["squash"] else None,
                                  before_tagging=run_tests if p["run_tests"] else None, from_layer=p["from_layer"],
                                  layer_only=p["layer_only"])
        result["run_tests"] = passed
        result["volume_changes"] = lost
    except VerifyFailure as e:
        module.fail_json(msg=masked("run test %d of %d failed: %s" % (len(passed) + 1, len(p["run_tests"]), e),
                                    p["run_test_env"]),
                         stage=e.stage, **dict(e.result(), passed=masked(e.passed, p["run_test_env"]),
                                               logs=masked(e.logs, p["run_test_env"])))
    except DockerFailure as e:
        module.fail_json(msg=masked(str(e), p["run_test_env"]), stage=e.stage)
    result["run_tests"] = [dict(one, passed=masked(one["passed"], p["run_test_env"])) for one in result["run_tests"]]
    module.exit_json(changed=True, **result)


# Shorter values are no secrets (flags, counts: "1", "yes"), and masked they would mask every such digit or word.
SHORTEST_MASKED = 4


def masked(text, run_test_env):
    """`text` (a string or a list of them: a message, log lines, what a test saw) with the run tests' environment
    values masked, as no_log masks; the values of fewer than SHORTEST_MASKED characters are left."""
    values = {str(v) for env in run_test_env or [] for v in (env or {}).values() if len(str(v)) >= SHORTEST_MASKED}
    return remove_values(text, values) if values else text
