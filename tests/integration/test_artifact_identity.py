# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Artifacts are ours only when we can prove it (issue 15, point 4), on a real engine.

An image built FROM an artifact inherits every label of it. Reuse, retention, the end-of-build
cleanup and the janitor must still never take it for ours: they identify an artifact by the comment
the build's own commit gave it, which a child does not inherit.
"""

import io
import json

import pytest

from conftest import BASE_IMAGE, run_build

from ansible_collections.immutable.images.plugins.module_utils._docker import janitor as cleanup
from ansible_collections.immutable.images.plugins.module_utils._common import naming

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAME = "trust-ident"


def definition(version, **extra):
    spec = {"image_name": NAME, "image_version": version, "image_gather_facts": False, "image_roles": [],
            "image_manifest": "manifest.json", "image_cache": False,
            "image_targets": [{"name": "container", "type": "docker", "base_image": "trust-ident-base:1",
                               "pull": "never"}]}
    spec.update(extra)
    return spec


def build_from(client, parent, tag=None):
    """docker build FROM parent (a label-only Dockerfile): the child inherits every label of the parent."""
    dockerfile = io.BytesIO(("FROM %s\nLABEL child=yes\n" % parent).encode())
    image, _logs = client.images.build(fileobj=dockerfile, tag=tag, rm=True, forcerm=True)
    return image


@pytest.fixture
def base(docker_client, remove_images):
    """A base image of our own (so that nothing else on the shared engine builds on it)."""
    from conftest import BASE_IMAGE
    remove_images(NAME)
    remove_images("trust-ident-base")
    docker_client.images.get(BASE_IMAGE).tag("trust-ident-base", "1")
    made = []
    yield made
    for image_id in reversed(made):
        try:
            docker_client.api.remove_image(image_id, force=True)
        except Exception:  # noqa: BLE001 - gone already
            pass


def test_an_image_built_from_the_artifact_is_never_taken_for_ours(docker_client, project, base):
    first = run_build(project.path, definition("1.0.0"))
    assert first.returncode == 0, first.output
    built = json.loads((project.path / "manifest.json").read_text())["targets"][0]["artifact"]
    original = built["image_id"]
    attrs = docker_client.images.get(original).attrs
    assert naming.is_our_docker_image(attrs)
    labels = attrs["Config"]["Labels"]
    assert not any(k.startswith(naming.LABEL_PREFIX + ".controller") for k in labels), labels
    assert not any(k.startswith(naming.LABEL_PREFIX + ".controller")
                   for k in (attrs.get("ContainerConfig") or {}).get("Labels") or {})

    # Someone builds on the artifact and tags the result in the same repository: it is newer, and has
    # our labels (build hash, base id, kind=artifact) - everything but our comment.
    child = build_from(docker_client, "%s:1.0.0" % NAME, tag="%s:child" % NAME)
    base.append(child.id)
    assert child.labels[naming.LABEL_BUILD_ID] == labels[naming.LABEL_BUILD_ID]
    assert not naming.is_our_docker_image(child.attrs)

    # An identical rebuild reuses the original: its tags stay on the original image id.
    again = run_build(project.path, definition("1.0.0"))
    assert again.returncode == 0, again.output
    assert "already built by build %s" % labels[naming.LABEL_BUILD_ID] in again.output
    assert json.loads((project.path / "manifest.json").read_text())["targets"][0]["artifact"]["image_id"] == original
    for tag in ("1.0.0", "latest"):
        assert docker_client.images.get("%s:%s" % (NAME, tag)).id == original
    assert docker_client.images.get("%s:child" % NAME).id == child.id

    # The janitor and the end-of-build cleanup: an untagged child with our labels is not ours.
    orphan = build_from(docker_client, "%s:1.0.0" % NAME)
    base.append(orphan.id)
    janitor = cleanup.DockerJanitor(docker_client)
    found = {r["id"] for r in janitor.find(older_than=naming.utc_now())}
    found |= {r["id"] for r in janitor.find(build_id=labels[naming.LABEL_BUILD_ID], superseded_of=NAME)}
    assert orphan.id not in found and child.id not in found

    # Retention with keep 1 after a newer version: the original goes (its tags), the child keeps its tag.
    newer = run_build(project.path, definition("1.0.1", image_keep={"count": 1}))
    assert newer.returncode == 0, newer.output
    assert docker_client.images.get("%s:child" % NAME).id == child.id
    assert docker_client.images.get(orphan.id).id == orphan.id
    assert "%s:1.0.0" % NAME not in [t for i in docker_client.images.list(NAME) for t in i.tags]


def test_the_rollback_of_an_interrupted_build_takes_its_own_commits_only(docker_client):
    """The guard's pass for an interrupted build (build_guard.clean, as its late passes run it): the artifact its
    commit made (tagged: the push was next) and a commit the engine finished after its client was gone (untagged)
    are removed, found by their own commit comment; an image built FROM the artifact meanwhile, which has the same
    labels, stays with its tag."""
    from ansible_collections.immutable.images.plugins.plugin_utils._guard import build_guard

    build_id = naming.new_build_id()
    labels = naming.build_labels(build_id, "guard-rollback", "container", naming.KIND_ARTIFACT, "0123456789ab", "1.0.0")
    base = docker_client.images.get(BASE_IMAGE).id
    made = []
    try:
        def commit(image, comment, repository=None, tag=None, new_labels=None):
            container = docker_client.api.create_container(image, command=["true"], labels=new_labels or {})["Id"]
            try:
                image_id = docker_client.api.commit(container, repository=repository, tag=tag, message=comment,
                                                    conf={"Labels": new_labels} if new_labels else None)["Id"]
            finally:
                docker_client.api.remove_container(container, force=True)
            made.append(image_id)
            return image_id
        artifact = commit(base, naming.build_comment(build_id), "guard-rollback", "1.0.0", labels)
        late = commit(base, naming.build_comment(build_id), new_labels=labels)
        child = commit(artifact, "", "guard-rollback", "child")  # a derived image: the artifact's labels, its own comment
        assert docker_client.images.get(child).labels[naming.LABEL_BUILD_ID] == build_id
        logged = []
        build_guard.clean({"build_id": build_id, "docker_hosts": [""]}, log=logged.append)
        left = {i.id: i.tags for i in docker_client.images.list(all=True, filters={"label": naming.LABEL_BUILD_ID + "=" + build_id})}
        assert late not in left, logged
        # the child holds the artifact's layers, so the engine cannot delete it: it loses its tag and stays its parent
        assert left.get(artifact, []) == [], logged
        assert docker_client.images.get("guard-rollback:child").id == child
        assert docker_client.images.get(child).attrs["Parent"] == artifact
    finally:
        for image_id in reversed(made):
            try:
                docker_client.images.remove(image_id, force=True)
            except Exception:  # noqa: BLE001 - gone already
                pass


def test_the_janitor_passes_over_what_goes_while_it_looks(docker_client, monkeypatch):
    """The janitor lists, then looks at each thing listed; another build on the engine removes its builder (AutoRemove)
    or its cache layer in between: each is passed over (the SDK's listings fail on them), the rest is found."""
    build_id = naming.new_build_id()
    name = "janitor-race"

    def labels(kind):
        return naming.build_labels(build_id, name, "container", kind, "0123456789ab", "1.0.0", "2026-01-01T00:00:00Z")
    made = []
    try:
        for kind in (naming.KIND_BUILDER, naming.KIND_BUILDER):
            made.append(("container", docker_client.api.create_container(BASE_IMAGE, "true", labels=labels(kind))["Id"]))
        for kind, tag in ((naming.KIND_CACHE, cleanup.CACHE_PREFIX + name + ":a"), (naming.KIND_CACHE, cleanup.CACHE_PREFIX + name + ":b"),
                          (naming.KIND_ARTIFACT, name + ":a"), (naming.KIND_ARTIFACT, name + ":b")):
            image = docker_client.containers.get(made[0][1]).commit(
                changes=["LABEL %s=%s" % item for item in labels(kind).items()], message=naming.build_comment(build_id))
            docker_client.api.tag(image.id, *tag.rsplit(":", 1))
            made.append(("image", image.id))
        # one of each kind goes at the moment it is looked at
        going = {made[1][1], made[3][1], made[5][1]}
        inspect_container, inspect_image = docker_client.api.inspect_container, docker_client.api.inspect_image

        def remove_first(inspect, remove):
            def look(rid):
                if rid in going:
                    going.discard(rid)
                    remove(rid)
                return inspect(rid)
            return look
        monkeypatch.setattr(docker_client.api, "inspect_container",
                            remove_first(inspect_container, lambda rid: docker_client.api.remove_container(rid, force=True)))
        monkeypatch.setattr(docker_client.api, "inspect_image",
                            remove_first(inspect_image, lambda rid: docker_client.api.remove_image(rid, force=True)))
        janitor = cleanup.DockerJanitor(docker_client)
        assert [r["id"] for r in janitor.find(older_than=naming.utc_now(), image_names=[name])] == [made[0][1]]
        assert [r["id"] for r in janitor.stale_cache(0, image_names=[name])] == [made[2][1]]
        assert [r["id"] for r in janitor.unfinished_artifacts(build_id)] == [made[4][1]]
        assert not going  # each was removed while the janitor looked
    finally:
        monkeypatch.undo()
        for kind, rid in made:
            try:
                (docker_client.api.remove_container if kind == "container" else docker_client.api.remove_image)(rid, force=True)
            except Exception:  # noqa: BLE001 - gone already
                pass
