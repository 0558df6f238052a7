# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""built_artifacts.py: which existing artifact a build may reuse (fake engine; AMIs on moto server
are covered by the ec2 tests)."""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.module_utils._artifacts import reuse as ba
from ansible_collections.immutable.images.plugins.module_utils._common import naming


class FakeImage:
    def __init__(self, image_id, labels, tags=(), created="2026-11-25T10:00:00Z"):
        self.id, self.tags = image_id, list(tags)
        self.attrs = {"Config": {"Labels": labels}, "Created": created,
                      "Comment": naming.build_comment(labels.get(naming.LABEL_BUILD_ID))}


class FakeImages:
    def __init__(self, base=None, artifacts=()):
        self.base, self.artifacts, self.filters = base, list(artifacts), None

    def get(self, ref):
        for artifact in self.artifacts:
            if artifact.id == ref:
                return artifact
        if self.base is None:
            raise LookupError(ref)
        return self.base

    def list(self, filters=None):
        self.filters = filters
        wanted = dict(f.split("=", 1) for f in filters["label"])
        return [a for a in self.artifacts if all(a.attrs["Config"]["Labels"].get(k) == v for k, v in wanted.items())]


class FakeApi:
    def __init__(self, images):
        self._images = images

    def images(self, filters=None):
        """The raw listing; the collection inspects each image it names (images.get)."""
        return [{"Id": a.id} for a in self._images.list(filters)] if self._images else []


class FakeClient:
    def __init__(self, images):
        self.images = images
        self.api = FakeApi(images)


def labels(build_hash="abc123", base="sha256:base", build_id="20261125T1000Z-aaaa"):
    out = naming.build_labels(build_id, "web", "container", naming.KIND_ARTIFACT, build_hash, "1.0.0")
    out[ba.LABEL_BASE_ID] = base
    return out


TARGET = {"name": "container", "type": "docker", "base_image": "debian:12", "pull": "missing",
          "image_refs": ["web:1.0.0", "web:latest"]}


def check(images, force=False, **target):
    return ba.check_target(dict(TARGET, **target), "web", "abc123", force=force,
                           docker_client_for=lambda host, tls=None: FakeClient(images))


def test_matching_artifact_is_reused_with_the_tags_it_misses():
    base = FakeImage("sha256:base", {})
    old = FakeImage("sha256:old", labels(build_id="20261125T0900Z-bbbb"), ["web:1.0.0"], created="2026-11-25T09:00:00Z")
    new = FakeImage("sha256:new", labels(), ["web:1.0.0"], created="2026-11-25T10:00:00Z")
    base_id, reuse, note = check(FakeImages(base, [old, new]))
    assert base_id == "sha256:base"
    assert reuse["image_id"] == "sha256:new" and reuse["build_id"] == "20261125T1000Z-aaaa"
    assert reuse["missing_refs"] == ["web:latest"]
    assert "image" in note


def test_other_base_force_pull_always_or_missing_base_never_reuse():
    artifact = FakeImage("sha256:new", labels(base="sha256:older-base"), ["web:1.0.0"])
    assert check(FakeImages(FakeImage("sha256:base", {}), [artifact]))[1] is None  # the base tag moved on
    same = FakeImage("sha256:new", labels(), ["web:1.0.0"])
    assert check(FakeImages(FakeImage("sha256:base", {}), [same]), force=True)[1] is None
    assert "image_force" in check(FakeImages(FakeImage("sha256:base", {}), [same]), force=True)[2]
    assert check(FakeImages(FakeImage("sha256:base", {}), [same]), pull="always")[1] is None
    base_id, reuse, note = check(FakeImages(None, [same]))
    assert base_id is None and reuse is None and "pulled" in note


def test_errors_while_looking_become_a_note_not_a_failure():
    def broken(host, tls=None):
        raise RuntimeError("engine gone")
    base_id, reuse, note = ba.check_target(TARGET, "web", "abc123", docker_client_for=broken)
    assert (base_id, reuse) == (None, None) and "engine gone" in note


def test_ami_filters_name_every_identity_tag():
    names = {f["Name"]: f["Values"] for f in ba.ami_artifact_filters("web", "aws", "abc123", "ami-1")}
    assert names["tag:" + naming.LABEL_BUILD_HASH] == ["abc123"]
    assert names["tag:" + ba.LABEL_BASE_ID] == ["ami-1"]
    assert names["tag:" + naming.LABEL_KIND] == [naming.KIND_ARTIFACT] and names["state"] == ["available"]


class FakeEc2:
    def __init__(self, images):
        self.images = images

    def describe_images(self, Owners, Filters):  # noqa: N803 - boto3's argument names
        return {"Images": self.images}


def ami(image_id, build_id, created):
    return {"ImageId": image_id, "Name": "web-" + build_id, "CreationDate": created,
            "Tags": [{"Key": naming.LABEL_BUILD_ID, "Value": build_id}, {"Key": naming.LABEL_AMI_ID, "Value": image_id}]}


def test_amis_of_one_build_only_never_a_mix():
    x_east, x_west = ami("ami-x1", "X", "2026-11-25T09:00:00Z"), ami("ami-x2", "X", "2026-11-25T09:05:00Z")
    y_east = ami("ami-y1", "Y", "2026-11-25T10:00:00Z")  # the newer build lost its copy in the west
    regions = {"us-east-1": FakeEc2([x_east, y_east]), "eu-west-1": FakeEc2([x_west])}
    found = ba.find_amis(lambda service, region: regions[region], ["us-east-1", "eu-west-1"], "web", "aws", "h", "ami-src")
    assert {r: a["image_id"] for r, a in found.items()} == {"us-east-1": "ami-x1", "eu-west-1": "ami-x2"}
    assert {a["build_id"] for a in found.values()} == {"X"}
    regions["eu-west-1"] = FakeEc2([])
    assert ba.find_amis(lambda service, region: regions[region], ["us-east-1", "eu-west-1"], "web", "aws", "h",
                        "ami-src") is None


class FakeFilesystemAPI:
    """The engine's image inspect and the archive API's HEAD of a created container, over a dict of paths (a link: its
    target, a file: None)."""

    def __init__(self, paths, env):
        self.paths, self.env, self.asked, self.removed = paths, env, [], []

    def inspect_image(self, image_id):
        return {"Config": {"Env": self.env}}

    def create_container(self, image_id, **kwargs):
        return {"Id": "looker"}

    def remove_container(self, container, force=False, v=False):
        assert v, "a container of a base image with a VOLUME has a volume of its own: removed with it"
        self.removed.append(container)

    def _url(self, path, *args):
        return path.format(*args)

    def _raise_for_status(self, response):
        assert response.status_code == 200, "only 200 and 404 here"

    def head(self, url, params):
        import base64
        import json
        from types import SimpleNamespace

        path = params["path"]
        self.asked.append(path)
        if path not in self.paths:
            return SimpleNamespace(status_code=404, headers={})
        stat = {"name": path.rsplit("/", 1)[-1], "mode": 0o755, "linkTarget": self.paths[path] or ""}
        return SimpleNamespace(status_code=200, headers={
            "X-Docker-Container-Path-Stat": base64.b64encode(json.dumps(stat).encode()).decode()})


FALLBACK = ["python3.14", "python3.13", "python3.12", "python3.11", "python3.10", "python3.9", "/usr/bin/python3", "python3"]


def python_in(paths, env=("PATH=/usr/local/bin:/usr/bin",), **target):
    api = FakeFilesystemAPI(paths, list(env))
    client = FakeClient(None)
    client.api = api
    target = dict({"type": "docker", "base": "sha256:base"}, **target)
    return ba.python_in_base(target, docker_client_for=lambda _host, _tls=None: client, discover=FALLBACK), api


def test_the_interpreter_found_in_the_base_image_as_ansible_cores_discovery_finds_it():
    # the default where the image has it (a link to python3.11): taken, nothing else asked, the container removed
    (found, note), api = python_in({"/usr/bin/python3": "python3.11", "/usr/bin/python3.11": None})
    assert (found, note) == ("/usr/bin/python3", None)
    assert api.asked == ["/usr/bin/python3", "/usr/bin/python3.11"] and api.removed == ["looker"]
    # python:3.12-slim: only /usr/local/bin/python3.12, found by its name on the image's PATH, newest first
    (found, note), _api = python_in({"/usr/local/bin/python3.12": None, "/usr/local/bin/python3": "python3.12"})
    assert found == "/usr/local/bin/python3.12"
    assert note.startswith("python: /usr/bin/python3 is not in the base image; modules run with /usr/local/bin/python3.12")
    # PATH as the image's configuration sets it (no PATH: a shell's default)
    (found, _note), _api = python_in({"/opt/py/bin/python3": None}, env=["PATH=/opt/py/bin"])
    assert found == "/opt/py/bin/python3"
    (found, _note), _api = python_in({"/usr/local/bin/python3.10": None}, env=[])
    assert found == "/usr/local/bin/python3.10"
    # none: the default and the plan says so
    (found, note), _api = python_in({})
    assert found == "/usr/bin/python3" and "is NOT in the base image" in note
    # another path given is used as it is: not replaced by what discovery would find
    (found, note), api = python_in({"/usr/local/bin/python3.12": None}, python_interpreter="/opt/python/bin/python3")
    assert found == "/opt/python/bin/python3" and "NOT in the base image" in note
    assert api.asked == ["/opt/python/bin/python3"]
    # a base image not on the engine yet is not looked at
    assert ba.python_in_base({"type": "docker", "base": None}, discover=FALLBACK) == ("/usr/bin/python3", None)


def test_the_plan_says_when_the_base_image_is_of_another_architecture_than_its_engine():
    from types import SimpleNamespace

    def note(image, engine, **target):
        api = SimpleNamespace(inspect_image=lambda _id: image, version=lambda: engine)
        client = SimpleNamespace(api=api)
        target = dict({"type": "docker", "base": "sha256:base"}, **target)
        return ba.platform_note(target, docker_client_for=lambda _host, _tls=None: client)

    amd64 = {"Os": "linux", "Arch": "amd64"}
    assert note({"Os": "linux", "Architecture": "amd64"}, amd64) is None
    assert note({"Os": "linux", "Architecture": "arm64"}, amd64) == (
        "platform: the base image is linux/arm64 and the engine linux/amd64: its builder runs only if the engine "
        "emulates arm64 (binfmt_misc with qemu-user-static); without it, it stops as it starts (exec format error)")
    assert note({}, amd64) is None  # nothing to compare: no note
    assert note({"Architecture": "arm64"}, amd64, base=None) is None  # a base not on the engine yet
    assert note({"Architecture": "arm64"}, amd64, type="ec2") is None

    def unreachable(_host, _tls=None):
        raise OSError("no engine")
    assert ba.platform_note({"type": "docker", "base": "sha256:base"}, docker_client_for=unreachable) is None
