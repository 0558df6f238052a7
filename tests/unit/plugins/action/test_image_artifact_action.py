# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""action/image_artifact.py: the parts run in order with the arguments the finalize role gave them, a commit whose
later part failed is undone, and each record has the shape the manifest reads (plan.result_spec()), with the
failed stage taken from the failed part. The parts are stand-ins here; the integration tests run them for real."""

from __future__ import annotations

import json
import types

import pytest

from ansible_collections.immutable.images.plugins.action import image_artifact as action
from ansible_collections.immutable.images.plugins.plugin_utils._definition import plan

BUILD = {"id": "b1", "name": "web", "version": "1.0.0", "hash": "h", "scanner": None, "scan_fail_on": "none",
         "base_id_label": "immutable.images.base.id", "verify_runs": [], "force": False, "on_error": "cleanup",
         "sign": None}
DOCKER = {"name": "container", "type": "docker", "builder_name": "web-container-b1", "reuse": None, "save": None,
          "sbom_path": "/out/web-container.cdx.json", "image_refs": ["web:1.0.0"], "push_refs": [], "config": {},
          "artifact_labels": {"a": "b"}, "docker_host": None, "tls": None, "registry_auth": False}
EC2 = {"name": "aws", "type": "ec2", "builder_name": "web-aws-b1", "region": "eu-west-1", "base": "ami-1",
       "sbom_path": "/out/web-aws.cdx.json", "ami_name": "web-1.0.0-b1", "tags": {}, "copy_to_regions": [],
       "share_with_accounts": [], "share_with_organizations": [], "share_with_ous": [], "deprecate_after": None,
       "publish_parameter": None, "force_deregister": False, "reuse": None}
EC2_BUILDER = {"instance_id": "i-1", "ssh_host": "198.51.100.7", "ssh_port": 22, "private_key_file": "/k", "name": "x",
               "source_ami": {"image_id": "ami-1", "name": "debian"}}
PROVISIONED = {"status": "succeeded", "duration": 1.5, "inventory": {"os": {"name": "debian"}, "packages": []}}
SBOM = {"path": "/out/web.cdx.json", "sha256": "ab", "package_count": 3, "scanner": None, "findings": None}
COMMIT = {"image_id": "sha256:new", "tags": ["web:1.0.0"], "previous": {"web:1.0.0": "sha256:old"}}
RECORD = plan.result_spec()


@pytest.fixture
def artifact(make_action):
    """run(args, **results by part) -> (task result, [(part, its arguments)] in the order they ran)."""
    def run(args, build=None, **results):
        plugin = make_action("image_artifact", args)
        ran = []

        def part(name, part_args):
            ran.append((name, part_args))
            short = name.rsplit(".", 1)[-1]
            if short == "docker_image_commit" and part_args.get("state") == "absent":
                short = "undo"
            if results.get(short) is RuntimeError:
                raise RuntimeError("the engine went away")
            return dict(results.get(short, {}))

        plugin.execute_module = lambda name, module_args, task_vars, environment=None: part(name, module_args)
        plugin._shared_loader_obj = types.SimpleNamespace(action_loader=types.SimpleNamespace(
            get=lambda name, task, **_kw: types.SimpleNamespace(run=lambda task_vars: part(name, task.args))))
        result = plugin.run(task_vars={"image_build": dict(BUILD, **(build or {}))})
        return result, ran
    return run


def names(ran):
    return [name.rsplit(".", 1)[-1] if args.get("state") != "absent" else "undo" for name, args in ran]


def test_a_docker_target_is_sbom_then_commit_and_its_record(artifact):
    result, ran = artifact({"target": DOCKER, "builder": {"base_image_id": "sha256:base"}, "provision": PROVISIONED},
                           image_sbom=SBOM, docker_image_commit=COMMIT)
    assert names(ran) == ["image_sbom", "docker_image_commit"]
    commit = ran[1][1]
    assert commit["labels"] == {"a": "b", "immutable.images.base.id": "sha256:base", "immutable.images.sbom.sha256": "ab"}
    assert commit["claim"] is True and commit["force"] is False and "docker_host" not in commit
    assert not result.get("failed") and result["target"] == "container" and result["changed"]
    assert result["record"] == {
        "status": "succeeded", "builder": "web-container-b1", "provision_duration": 1.5,
        "artifact": {"sbom": {"path": "/out/web.cdx.json", "sha256": "ab", "packages": 3, "scanner": None, "findings": None},
                     "image_id": "sha256:new", "tags": ["web:1.0.0"], "previous": {"web:1.0.0": "sha256:old"},
                     "pushed": [], "saved": None, "attestations": [], "reused_from": None}}
    assert plan.validate(RECORD, result["record"]) == []


def test_the_commit_waits_until_no_session_of_the_builder_is_starting(artifact, monkeypatch):
    """The commit pauses the builder: a session of it that is still starting (its relay makes execs) settles first,
    or the engine deadlocks the builder. The builder's connection knows its session: loaded by name, with the options
    the builder host has (the relay's settle itself: test_relay_and_agent.py)."""
    settled = []

    class BuilderConnection:
        def set_options(self, direct):
            self.options = direct

        def settle(self):
            settled.append(self.options)

    monkeypatch.setattr(action.connection_loader, "get",
                        lambda name, *_a, **_k: settled.append(name) or BuilderConnection())
    _result, ran = artifact({"target": DOCKER, "builder": {"base_image_id": "sha256:base"}, "provision": PROVISIONED},
                            image_sbom=SBOM, docker_image_commit=COMMIT)
    assert names(ran) == ["image_sbom", "docker_image_commit"]
    assert settled == ["immutable.images.docker_session", {"remote_addr": "web-container-b1", "remote_user": "root"}]


def test_push_save_and_sign_with_the_credentials_and_the_engine(artifact):
    tls = {"verify": True, "ca_cert": "/ca", "client_cert": "/c", "client_key": "/k", "hostname": None}
    target = dict(DOCKER, push_refs=["reg/web:1.0.0"], save="/out/web.tar", registry_auth=True, remote_engine=True,
                  docker_host="tcp://127.0.0.1:2376", tls=tls)
    result, ran = artifact({"target": target, "provision": PROVISIONED, "username": "u", "password": "secret-pw"},
                           build={"sign": {"key": "/key"}}, image_sbom=SBOM, docker_image_commit=COMMIT,
                           docker_image_publish={"pushed": [{"ref": "reg/web:1.0.0", "digest": "sha256:d"}]},
                           image_attestation={"attestations": [{"kind": "provenance"}]})
    assert names(ran) == ["image_sbom", "docker_image_commit", "docker_image_publish", "docker_image_export",
                          "image_attestation"]
    assert ran[2][1]["password"] == "secret-pw" and ran[2][1]["docker_host"] == "tcp://127.0.0.1:2376"
    assert ran[3][1] == {"docker_host": "tcp://127.0.0.1:2376", "tls": True, "validate_certs": True, "ca_path": "/ca",
                         "client_cert": "/c", "client_key": "/k", "names": ["web:1.0.0"], "path": "/out/web.tar",
                         "force": True}
    assert ran[4][1]["pushed"] == [{"ref": "reg/web:1.0.0", "digest": "sha256:d"}] and ran[4][1]["username"] == "u"
    assert result["record"]["artifact"]["saved"] == "/out/web.tar"
    assert result["record"]["artifact"]["attestations"] == [{"kind": "provenance"}]
    assert "secret-pw" not in repr(result)


@pytest.mark.parametrize("failing,stage", [("docker_image_publish", "push"), ("docker_image_export", "save")])
def test_a_failed_part_after_the_commit_undoes_it_and_names_its_stage(artifact, failing, stage):
    target = dict(DOCKER, push_refs=["reg/web:1.0.0"], save="/out/web.tar")
    failure = {"failed": True, "msg": "no way"}
    if failing == "docker_image_publish":
        failure["stage"] = "push"
    result, ran = artifact({"target": target, "provision": PROVISIONED}, image_sbom=SBOM, docker_image_commit=COMMIT,
                           **{failing: failure})
    assert names(ran)[-1] == "undo"
    assert ran[-1][1] == {"state": "absent", "image_id": "sha256:new", "previous": {"web:1.0.0": "sha256:old"}}
    assert result["failed"] and "failed at stage %s" % stage in result["msg"]
    assert result["record"]["status"] == "failed" and result["record"]["stage"] == stage
    assert result["record"]["task"] in ("Push every tag", "Save the image to a tar file")
    assert plan.validate(RECORD, result["record"]) == []


def test_no_undo_with_on_error_keep_nor_of_an_identical_builds_image(artifact):
    target = dict(DOCKER, push_refs=["reg/web:1.0.0"])
    failing = {"docker_image_publish": {"failed": True, "msg": "no", "stage": "push"}}
    _result, ran = artifact({"target": target, "provision": PROVISIONED}, build={"on_error": "keep"}, image_sbom=SBOM,
                            docker_image_commit=COMMIT, **failing)
    assert "undo" not in names(ran)
    _result, ran = artifact({"target": target, "provision": PROVISIONED}, image_sbom=SBOM,
                            docker_image_commit=dict(COMMIT, reused_from="b0"), **failing)
    assert "undo" not in names(ran)


def test_a_failed_undo_is_told_in_the_message(artifact):
    result, _ran = artifact({"target": dict(DOCKER, push_refs=["r/web:1"]), "provision": PROVISIONED}, image_sbom=SBOM,
                            docker_image_commit=COMMIT, docker_image_publish={"failed": True, "msg": "denied"},
                            undo={"failed": True, "msg": "engine gone"})
    assert result["record"]["message"] == "denied; undoing the commit failed too: engine gone"


def test_the_scan_gate_stops_before_the_commit(artifact):
    result, ran = artifact({"target": DOCKER, "provision": PROVISIONED},
                           image_sbom={"failed": True, "stage": "scan", "msg": "2 critical"})
    assert names(ran) == ["image_sbom"]
    assert result["record"]["stage"] == "scan" and result["record"]["task"] == "Write the SBOM and run the scan gate"


def test_a_target_that_did_not_provision_runs_nothing_and_keeps_how_to_reach_its_builder(artifact):
    provision = {"status": "failed", "stage": "scrub", "task": "Scrub", "message": "find: exit 3", "duration": 4.2}
    result, ran = artifact({"target": EC2, "builder": EC2_BUILDER, "provision": provision})
    assert ran == [] and not result.get("failed")  # its failure was shown when provisioning failed
    assert result["record"] == dict(provision, builder="web-aws-b1", instance_id="i-1", provision_duration=4.2,
                                    connection={"instance_id": "i-1", "ssh_host": "198.51.100.7", "ssh_port": 22,
                                                "private_key_file": "/k"})
    assert plan.validate(RECORD, result["record"]) == []
    never, _ran = artifact({"target": DOCKER})
    assert never["record"]["stage"] == "provision" and "never finished provisioning" in never["record"]["message"]


def test_a_target_whose_builder_was_not_started_is_committed_from_its_layer_with_the_recorded_packages(
        artifact, monkeypatch, tmp_path):
    """start_builder false: no provision result (no play ran on it): the SBOM's packages are the layer's record, and the
    commit is of that layer only. When the record went since the plan read it, the target fails at stage provision."""
    from ansible_collections.immutable.images.plugins.plugin_utils._docker import layer_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    packages = [{"name": "bash", "version": "5.2"}]
    layer_cache.write_inventory("sha256:last", {"os": {"name": "debian"}, "packages": packages})
    unstarted = dict(DOCKER, start_builder=False, start_layer="sha256:last", base="sha256:base")
    result, ran = artifact({"target": unstarted, "builder": {}}, build={"cache": True, "workdir": str(tmp_path)},
                           image_sbom=SBOM, docker_image_commit=COMMIT)
    assert names(ran) == ["image_sbom", "docker_image_commit"] and not result.get("failed")
    assert ran[0][1]["packages"] == packages and ran[0][1]["os"] == {"name": "debian"}
    commit = ran[1][1]
    assert (commit["from_layer"], commit["layer_only"], commit["container"]) == ("sha256:last", True, "web-container-b1")
    assert commit["labels"]["immutable.images.base.id"] == "sha256:base"
    assert result["record"]["provision_duration"] is None and plan.validate(RECORD, result["record"]) == []

    gone, ran = artifact({"target": dict(unstarted, start_layer="sha256:unrecorded")})
    assert ran == [] and gone["record"]["stage"] == "provision"
    assert "package inventory recorded for the cached layer sha256:unrecorded is gone" in gone["record"]["message"]


@pytest.mark.parametrize("provision_only", [True, False])
def test_the_artifact_is_made_of_the_last_layer_only_when_no_play_of_ones_own_ran_on_the_builder(
        artifact, tmp_path, provision_only):
    """After sync the builder is its last layer: build_image's commit reuses that layer; with the roles in a playbook of
    one's own (provision_only false) a play of its own may have changed the builder since, so the builder is committed."""
    from ansible_collections.immutable.images.plugins.plugin_utils._docker import layer_cache

    with open(layer_cache.state_path(str(tmp_path), "web-container-b1"), "w") as f:
        json.dump({"layer": "sha256:last", "at": "sha256:last", "synced": True}, f)
    result, ran = artifact({"target": DOCKER, "provision": PROVISIONED}, image_sbom=SBOM, docker_image_commit=COMMIT,
                           build={"cache": True, "workdir": str(tmp_path), "provision_only": provision_only})
    assert names(ran) == ["image_sbom", "docker_image_commit"] and not result.get("failed")
    assert ran[1][1].get("from_layer") == ("sha256:last" if provision_only else None)


def test_an_ec2_target_is_sbom_then_the_ami(artifact):
    ami = {"name": "web-1.0.0-b1", "images": {"eu-west-1": "ami-2"}, "snapshots": {"eu-west-1": ["snap-1"]},
           "parameter": None, "deprecation_time": None}
    result, ran = artifact({"target": EC2, "builder": EC2_BUILDER, "provision": PROVISIONED}, image_sbom=SBOM,
                           ec2_ami_create=ami)
    assert names(ran) == ["image_sbom", "ec2_ami_create"]
    assert ran[1][1]["instance_id"] == "i-1" and ran[1][1]["tags"] == {"immutable.images.base.id": "ami-1"}
    assert list(result["record"]) == ["status", "builder", "instance_id", "source_ami", "provision_duration", "artifact"]
    assert result["record"]["artifact"]["amis"] == {"eu-west-1": "ami-2"}
    assert plan.validate(RECORD, result["record"]) == []


def test_a_reused_docker_image_gets_its_missing_tags_and_no_builder_nor_sbom(artifact):
    target = dict(DOCKER, reuse={"build_id": "b0", "image_id": "sha256:old", "missing_refs": ["web:1.0.0"]})
    result, ran = artifact({"target": target}, docker_image_tag={"changed": True})
    assert names(ran) == ["docker_image_tag"] and ran[0][1] == {"name": "sha256:old", "repository": ["web:1.0.0"]}
    assert result["changed"]  # a tag put back
    assert result["record"]["builder"] is None and result["record"]["provision_duration"] is None
    assert result["record"]["artifact"]["sbom"] is None and result["record"]["artifact"]["reused_from"] == "b0"
    assert plan.validate(RECORD, result["record"]) == []


def test_a_reused_docker_image_with_every_tag_in_place_changes_nothing(artifact):
    target = dict(DOCKER, reuse={"build_id": "b0", "image_id": "sha256:old", "missing_refs": []})
    result, ran = artifact({"target": target})
    assert ran == [] and result["changed"] is False and result["record"]["status"] == "succeeded"


def test_reused_amis_are_shared_only_when_asked(artifact):
    target = dict(EC2, reuse={"build_id": "b0", "amis": {"eu-west-1": {"name": "web-1.0.0-b0", "image_id": "ami-9"}}})
    result, ran = artifact({"target": target})
    assert ran == [] and not result["changed"]  # nothing to do: an identical rerun changes nothing
    assert result["record"] == {"status": "succeeded", "source_ami": {"image_id": "ami-1"},
                                "artifact": {"name": "web-1.0.0-b0", "amis": {"eu-west-1": "ami-9"}, "parameter": None,
                                             "deprecation_time": None, "attestations": [], "reused_from": "b0"}}
    assert plan.validate(RECORD, result["record"]) == []
    result, ran = artifact({"target": dict(target, share_with_accounts=["123456789012"])},
                           ec2_ami_reuse={"failed": True, "msg": "denied"})
    assert names(ran) == ["ec2_ami_reuse"]
    assert result["record"] == {"status": "failed", "stage": "reuse",
                                "task": "Share, deprecate and publish the existing AMIs as the definition says",
                                "message": "denied"}


def test_an_error_no_part_reported_is_recorded_with_its_text_and_the_commit_undone(artifact):
    # an exception out of a part's own machinery (a defect, a library's error nobody catches): before, the target had
    # no record, and the report said "not built at stage -: " without a reason
    target = dict(DOCKER, push_refs=["reg/web:1.0.0"])
    result, ran = artifact({"target": target, "provision": PROVISIONED}, image_sbom=SBOM, docker_image_commit=COMMIT,
                           docker_image_publish=RuntimeError)
    assert names(ran)[-1] == "undo"
    assert result["failed"] and result["msg"] == ("target container: failed at stage finalize: unexpected error: "
                                                  "RuntimeError: the engine went away")
    assert result["record"]["status"] == "failed" and result["record"]["message"].startswith("unexpected error")
    assert plan.validate(RECORD, result["record"]) == []
    # the same when the artifact is reused
    target = dict(DOCKER, reuse={"build_id": "b0", "image_id": "sha256:old", "missing_refs": ["web:1.0.0"]})
    result, _ran = artifact({"target": target}, docker_image_tag=RuntimeError)
    assert result["failed"] and result["record"]["stage"] == "reuse"
    assert result["record"]["message"] == "unexpected error: RuntimeError: the engine went away"
