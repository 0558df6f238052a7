# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Produce the artifact of one target, or reuse the one a build with the same inputs made: the finalize role's
one step per target (see plugins/modules/image_artifact.py for what it does, in order).

Each part is the collection's module or action that does it, run from here as a task would run it (modules with
_execute_module on the controller's connection, actions through the action loader, as ansible-core's `template`
runs `copy`), so each validates its own arguments. What this file adds is the order, the undo of a commit whose
later part failed, and the record (plugin_utils/_artifacts/target_result.py), which used to be YAML.
"""

from __future__ import annotations

from ansible.plugins.loader import connection_loader

from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionModuleBase
from ansible_collections.immutable.images.plugins.plugin_utils._builder_inventory import (
    DOCKER_BUILDER_CONNECTION,
    DOCKER_BUILDER_USER,
)
from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import target_result as records
from ansible_collections.immutable.images.plugins.plugin_utils._docker import layer_cache

# community.docker's client lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE replace a remote engine's CA: emptied for them.
_OWN_CA_ONLY = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}


class StepFailed(Exception):
    """A part failed: `step` is its name (what the record calls the task), `action` what ran, `result` its result."""

    def __init__(self, step, action, result):
        super().__init__(result.get("msg", ""))
        self.failed_task = {"name": step, "action": action}
        self.result = result


class ActionModule(ActionModuleBase):
    NO_LOG = ("password",)
    CHECK_MODE = dict(skipped=True, msg="no artifact is made in check mode")

    def run_module(self, params, task_vars, result):
        build = self._templar.template(task_vars["image_build"])
        target = params["target"]
        self._task_vars, self._warnings, self._unprovisioned, self._changed = task_vars, [], None, False
        if target.get("reuse"):
            record = self._reuse(build, target, params)
            # an artifact that is there as the definition says (its tags, pushed, shared) changes nothing
            changed = record["status"] == "succeeded" and self._changed
        else:
            record = self._produce(build, target, params)
            changed = record["status"] == "succeeded"
        result.update(target=target["name"], record=record, changed=changed)
        if self._warnings:
            result["warnings"] = self._warnings
        if record["status"] == "failed" and record is not self._unprovisioned:
            # A part failed: the task shows it (a failed provisioning was shown then); finalize goes on to clean
            # up and report
            task = " in %r" % record["task"] if record.get("task") else ""
            result.update(failed=True, msg="target %s: failed at stage %s%s: %s"
                          % (target["name"], record["stage"], task, record["message"]))
        return result

    # A target that was provisioned: SBOM, commit (docker) or AMI (ec2), publish, record
    def _produce(self, build, target, params):
        builder, provision = params["builder"] or {}, params["provision"]
        if target.get("start_builder") is False:
            builder, provision = _unstarted(target)
        if provision is None:
            provision = {"status": "failed", "stage": "provision",
                         "message": "the builder%s never finished provisioning (unreachable, interrupted, or a "
                                    "role ended the play for it with meta end_host or end_play)"
                         % (" on the Docker engine at " + target["docker_host"] if target.get("docker_host") else "")}
        if provision.get("status") != "succeeded":
            self._unprovisioned = records.provision_failed(target, builder, provision)
            return self._unprovisioned
        commit = {}
        try:
            sbom = self._sbom(build, target, provision)
            if target["type"] == "docker":
                commit = self._commit(build, target, builder, sbom, params)
                push, attestation = self._publish(build, target, commit, builder.get("base_image_id"), params)
                return records.docker_image(target, provision, sbom, commit, push, attestation)
            ami = self._module("Create the AMI, copy, share and publish it", "immutable.images.ec2_ami_create",
                               _ami_args(build, target, builder))
            attestation = self._attest(build, "Sign the provenance and SBOM, write them beside the manifest and tag "
                                       "the AMIs with the envelope digest",
                                       dict(target=target, amis=ami["images"], sbom_path=target["sbom_path"],
                                            base=(builder.get("source_ami") or {}).get("image_id")))
            return records.ec2_amis(target, builder, provision, sbom, ami, attestation)
        except StepFailed as e:
            record = records.artifact_failed(target, builder, provision, e.failed_task, e.result)
        except Exception as e:  # noqa: BLE001 - an error no part reported: recorded (the report names it) and undone
            record = records.artifact_failed(target, builder, provision, {}, _unforeseen(e))
        undone = self._undo(build, target, commit)
        if undone.get("failed"):
            record["message"] += "; undoing the commit failed too: %s" % undone.get("msg", "")
        return record

    def _sbom(self, build, target, provision):
        inventory = provision.get("inventory") or {}
        return self._action("Write the SBOM and run the scan gate", "immutable.images.image_sbom", _present({
            "packages": inventory.get("packages"), "os": inventory.get("os"), "path": target["sbom_path"],
            "scanner": build.get("scanner") or None, "scan_fail_on": build["scan_fail_on"],
            "metadata": {"image_name": build["name"], "image_version": build["version"], "build_id": build["id"],
                         "target": target["name"], "target_type": target["type"],
                         "artifact": (target.get("image_refs") or [None])[0] if target["type"] == "docker"
                         else target.get("ami_name")}}))

    def _commit(self, build, target, builder, sbom, params):
        labels = dict(target["artifact_labels"], **{build["base_id_label"]: builder.get("base_image_id"),
                                                    "immutable.images.sbom.sha256": sbom.get("sha256")})
        args = {"container": target["builder_name"], "docker_host": target.get("docker_host"),
                "tls": target.get("tls") or None, "tags": target["image_refs"], "config": target["config"],
                "labels": labels, "base_image": builder.get("base_image_id"), "squash": target.get("squash") or False,
                "run_tests": build["verify_runs"], "run_test_env": params["run_test_env"], "build_id": build["id"],
                # identical builds at once (a double trigger) make one artifact: the others reuse it (reused_from)
                "claim": True,
                # a rebuild asked for (image_force, or pull: always) reuses only what a build it waited for made
                "force": bool(build["force"] or target.get("pull") == "always")}
        # The builder is the last layer the cache stored or swapped in, unless a check ran on it since (it may write) or
        # a play of one's own may have (the roles in one's own playbook: what such a play changes is committed, as
        # without the cache): the commit reuses that layer instead of writing the roles' changes into a layer again.
        # When every role's layer was cached, the builder may have been left at an earlier layer (layer_only): then
        # only the layer is the artifact's filesystem.
        if target.get("start_builder") is False:  # never started: it holds the layer it was created at
            args["from_layer"], args["layer_only"] = target["start_layer"], True
        elif build.get("cache") and build.get("provision_only") and not build.get("verify_tasks") and not args["squash"]:
            args["from_layer"], args["layer_only"] = layer_cache.builder_layer(build["workdir"], target["builder_name"])
        self._settle_builder(target)
        return self._module("Commit the builder into an image and tag it", "immutable.images.docker_image_commit",
                            _present(args))

    def _settle_builder(self, target):
        """The commit pauses the builder: a session of it still starting (a reset_connection at the end of provisioning
        starts one) must have made its execs first, or the engine deadlocks the builder. Its connection knows (settle),
        loaded by name with the options the builder host has, as docker_builder's hook loads it."""
        try:
            connection = connection_loader.get(DOCKER_BUILDER_CONNECTION, self._play_context)
            connection.set_options(direct={"remote_addr": target["builder_name"], "remote_user": DOCKER_BUILDER_USER})
            connection.settle()
        except Exception:  # noqa: BLE001 - as docker_builder's hook: without it, the commit goes on as it would have
            pass

    def _publish(self, build, target, commit, base, params):
        """Push, save and sign a docker image (made now or reused); (push result, attestation result)."""
        auth = {}
        if params["ecr"]:
            auth = {"ecr": True}
        elif target.get("registry_auth") and params["username"]:
            auth = {"username": params["username"], "password": params["password"]}
        push = {}
        if target["push_refs"]:
            push = self._module("Push every tag", "immutable.images.docker_image_publish", _present(dict(
                auth, image=commit["image_id"], refs=target["push_refs"], docker_host=target.get("docker_host"),
                tls=target.get("tls") or None)))
        if target.get("save") is not None:
            self._module("Save the image to a tar file", "community.docker.docker_image_export",
                         dict(_community_docker_engine(target), names=target["image_refs"], path=target["save"],
                              force=True), environment=_OWN_CA_ONLY if target.get("remote_engine") else None)
        attestation = self._attest(build, "Sign the provenance and SBOM, attach them to the pushed image and write them "
                                   "beside the manifest",
                                   _present(dict(auth, target=target, image_id=commit["image_id"],
                                                 pushed=push.get("pushed", []), base=base,
                                                 sbom_path=target["sbom_path"])))
        return push, attestation

    def _attest(self, build, step, args):
        if build.get("sign") is None:
            return {}
        return self._action(step, "immutable.images.image_attestation", args)

    def _undo(self, build, target, commit):
        """Tags back where they were and the new image deleted, unless it is another build's (reused_from) or
        image_on_error is keep; the result of the undo ({} when there was nothing to undo)."""
        if not commit.get("image_id") or commit.get("reused_from") or build["on_error"] == "keep":
            return {}
        args = _present({"state": "absent", "image_id": commit["image_id"], "previous": commit.get("previous"),
                         "docker_host": target.get("docker_host"), "tls": target.get("tls") or None})
        return self._module("Undo the commit (tags back where they were, the new image deleted)",
                            "immutable.images.docker_image_commit", args, must_succeed=False)

    # A target whose artifact a build with the same inputs made: tags, push, save, share, sign as asked now
    def _reuse(self, build, target, params):
        reuse = target["reuse"]
        try:
            if target["type"] == "docker":
                if reuse["missing_refs"]:
                    self._module("Point every tag at the existing image", "community.docker.docker_image_tag",
                                 dict(_community_docker_engine(target), name=reuse["image_id"],
                                      repository=target["image_refs"]),
                                 environment=_OWN_CA_ONLY if target.get("remote_engine") else None)
                commit = {"image_id": reuse["image_id"], "tags": target["image_refs"], "previous": {}}
                push, attestation = self._publish(build, target, commit, target.get("base"), params)
                return records.docker_image(target, {}, {}, commit, push, attestation)
            amis = {region: ami["image_id"] for region, ami in reuse["amis"].items()}
            shared = {}
            if any(target.get(k) for k in ("share_with_accounts", "share_with_organizations", "share_with_ous",
                                           "deprecate_after", "publish_parameter")):
                shared = self._module("Share, deprecate and publish the existing AMIs as the definition says",
                                      "immutable.images.ec2_ami_reuse", {
                                          "region": target["region"], "images": amis,
                                          "name": reuse["amis"][target["region"]]["name"],
                                          "share_with_accounts": target["share_with_accounts"],
                                          "share_snapshots": target.get("share_snapshots") or False,
                                          "share_with_organizations": target["share_with_organizations"],
                                          "share_with_ous": target["share_with_ous"],
                                          "deprecate_after": target["deprecate_after"],
                                          "publish_parameter": target["publish_parameter"]})
            attestation = self._attest(build, "Keep the provenance of the existing AMIs, or sign one for AMIs that "
                                       "have none", dict(target=target, amis=amis, base=target.get("base"),
                                                         sbom_path=target["sbom_path"]))
            return records.reused_amis(target, amis, shared, attestation)
        except StepFailed as e:
            return records.reuse_failed(e.failed_task, e.result)
        except Exception as e:  # noqa: BLE001 - an error no part reported: recorded, the report names it
            return records.reuse_failed({}, _unforeseen(e))

    # Running the parts
    def _module(self, step, module, args, environment=None, must_succeed=True):
        """Run a module on the controller as a task of finalize would (ActionModuleBase.execute_module: the
        role's environment, with `environment` added)."""
        result = self.execute_module(module, args, self._task_vars, environment)
        return self._checked(step, module, result, must_succeed)

    def _action(self, step, action, args):
        """Run one of the collection's action plugins with these arguments (ActionModuleBase.run_action)."""
        return self._checked(step, action, self.run_action(action, args, self._task_vars))

    def _checked(self, step, action, result, must_succeed=True):
        self._warnings.extend(result.get("warnings") or [])
        self._changed = self._changed or bool(result.get("changed"))
        if result.get("failed") and must_succeed:
            raise StepFailed(step, action, result)
        return result


def _unstarted(target):
    """(builder, provision result) of a builder created at the target's last cached layer and never started
    (image_build.targets[].start_builder false): nothing ran on it, and its packages are the layer's, as recorded by
    the build that stored that layer or last listed them (the plan found the record)."""
    inventory = layer_cache.read_inventory(target["start_layer"])
    if inventory is None:
        return {}, {"status": "failed", "stage": "provision",
                    "message": "the package inventory recorded for the cached layer %s is gone since the plan read it; "
                               "run the build again" % target["start_layer"]}
    return {"base_image_id": target.get("base")}, {"status": "succeeded", "duration": None, "inventory": inventory}


def _present(args):
    """The arguments without those that are not set (a task's `default(omit, true)`)."""
    return {k: v for k, v in args.items() if v is not None}


def _community_docker_engine(target):
    """community.docker's connection options for the target's engine."""
    tls = target.get("tls") or {}
    args = {"docker_host": target.get("docker_host") or None,
            "use_ssh_client": True if (target.get("docker_host") or "").startswith("ssh://") else None}
    if tls:
        args.update(tls=True, validate_certs=tls.get("verify"), ca_path=tls.get("ca_cert") or None,
                    client_cert=tls.get("client_cert") or None, client_key=tls.get("client_key") or None,
                    tls_hostname=tls.get("hostname") or None)
    return _present(args)


def _ami_args(build, target, builder):
    polling = target.get("aws_polling") or {}
    return _present({
        "region": target["region"], "instance_id": builder.get("instance_id"), "name": target["ami_name"],
        "description": target.get("ami_description") or None,
        "tags": dict(target["tags"], **{build["base_id_label"]: (builder.get("source_ami") or {}).get("image_id")}),
        "build_id": build["id"], "image_name": build["name"], "image_version": build["version"],
        "build_hash": build["hash"], "target": target["name"], "copy_to_regions": target["copy_to_regions"],
        "region_kms_key_ids": target.get("region_kms_key_ids") or None, "imds_support": target.get("imds_support"),
        "share_with_accounts": target["share_with_accounts"], "share_snapshots": target.get("share_snapshots") or None,
        "share_with_organizations": target["share_with_organizations"], "share_with_ous": target["share_with_ous"],
        "deprecate_after": target["deprecate_after"], "publish_parameter": target["publish_parameter"],
        "force_deregister": target["force_deregister"], "keep_on_error": build["on_error"] == "keep",
        "poll_delay": polling.get("delay_seconds"), "poll_max_attempts": polling.get("max_attempts")})


def _unforeseen(error):
    """The result of a part for an error that none of the parts reported (a defect, or an error of a library no part
    catches): its type and text, so that the record and the report say why, not only that the target was not built."""
    return {"msg": "unexpected error: %s: %s" % (type(error).__name__, error)}
