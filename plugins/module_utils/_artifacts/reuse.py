# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Find an artifact that was already built from the same inputs, so a build can reuse it.

An artifact matches when it carries our labels/tags for the image name and target, the same build
hash, and was built from the same base (the base image id, or the source AMI id) as the build
would use now: the build hash covers the definition, files and roles, not what a base image tag
or an AMI filter points to today.
"""

from __future__ import annotations

from ansible_collections.immutable.images.plugins.module_utils._common import naming
# At module level on purpose: the image_definition action imports this module in ansible-playbook's own process,
# before it forks the plan's worker, so the Docker SDK is imported once there and every worker has it already.
from ansible_collections.immutable.images.plugins.module_utils._docker.client import RefusedEngine, get_client, listed_images, path_stat

LABEL_BASE_ID = naming.LABEL_PREFIX + ".base-id"


def docker_artifact_filters(image_name, target, build_hash):
    return {"label": ["%s=%s" % (naming.LABEL_IMAGE_NAME, image_name), "%s=%s" % (naming.LABEL_TARGET, target),
                      "%s=%s" % (naming.LABEL_BUILD_HASH, build_hash),
                      "%s=%s" % (naming.LABEL_KIND, naming.KIND_ARTIFACT)]}


def find_docker_artifact(client, image_name, target, build_hash, base_id):
    """The newest matching image on the engine as {image_id, tags, created, build_id}, or None.

    `base_id` is the id of the base image as it is on the engine now; None (not pulled yet) never
    matches, since the build may end up on another base.
    """
    if not base_id:
        return None
    found = []
    for image in listed_images(client, docker_artifact_filters(image_name, target, build_hash)):
        labels = (image.attrs.get("Config") or {}).get("Labels") or {}
        # an image built FROM our artifact inherits every label: only the comment says who made it
        if labels.get(LABEL_BASE_ID) == base_id and naming.is_our_docker_image(image.attrs):
            found.append((image.attrs.get("Created") or "", image))
    if not found:
        return None
    image = max(found, key=lambda pair: pair[0])[1]
    labels = image.attrs["Config"]["Labels"]
    return {"image_id": image.id, "tags": list(image.tags), "created": image.attrs.get("Created"),
            "build_id": labels.get(naming.LABEL_BUILD_ID)}


def ami_artifact_filters(image_name, target, build_hash, source_ami):
    return [
        {"Name": "tag:" + naming.LABEL_IMAGE_NAME, "Values": [image_name]},
        {"Name": "tag:" + naming.LABEL_TARGET, "Values": [target]},
        {"Name": "tag:" + naming.LABEL_BUILD_HASH, "Values": [build_hash]},
        {"Name": "tag:" + naming.LABEL_KIND, "Values": [naming.KIND_ARTIFACT]},
        {"Name": "tag:" + LABEL_BASE_ID, "Values": [source_ami]},
        {"Name": "state", "Values": ["available"]},
    ]


def find_amis(client_for, regions, image_name, target, build_hash, source_ami):
    """{region: {image_id, name, build_id}} of the newest build whose AMIs exist in every region, else None.

    One build only: a build whose copy is missing in one region is not reusable (building again is
    the only way the user gets every region they asked for), and mixing the AMIs of two builds
    with the same inputs would report an artifact no build made.
    """
    per_region = {}
    for region in regions:
        images = client_for("ec2", region).describe_images(Owners=["self"], Filters=ami_artifact_filters(
            image_name, target, build_hash, source_ami))["Images"]
        by_build = {}
        for image in sorted(images, key=lambda i: i.get("CreationDate") or ""):  # the newest of a build wins
            if not naming.is_our_ami(image):
                continue  # a copy made outside the build carries our tags, but not its own id
            tags = {t["Key"]: t["Value"] for t in image.get("Tags") or []}
            by_build[tags.get(naming.LABEL_BUILD_ID)] = image
        per_region[region] = by_build
    common = set.intersection(*(set(b) for b in per_region.values())) if per_region else set()
    common.discard(None)
    if not common:
        return None
    build_id = max(common, key=lambda b: per_region[regions[0]][b].get("CreationDate") or "")
    return {r: {"image_id": per_region[r][build_id]["ImageId"], "name": per_region[r][build_id].get("Name"),
                "build_id": build_id} for r in regions}


def check_target(target, image_name, build_hash, force=False, docker_client_for=None, aws_factory_for=None):
    """(base, reuse, note) for a planned target, on the controller.

    base: the base image id / source AMI id the build would start from now (None when unknown);
    reuse: the matching artifact (docker: find_docker_artifact; ec2: {"amis": find_amis}) or None;
    note: one line for the plan saying why nothing is reused, or what is.
    """
    try:
        if target["type"] == "docker":
            return _check_docker(target, image_name, build_hash, force, docker_client_for or docker_client)
        return _check_ec2(target, image_name, build_hash, force, aws_factory_for or _aws_factory)
    except RefusedEngine:
        raise  # not an engine that is down: nothing is to be built there
    except Exception as e:  # noqa: BLE001 - the plan says so and the build goes on; launch reports real errors
        return None, None, "could not look for an existing artifact: %s" % (e,)


def _check_docker(target, image_name, build_hash, force, client_for):
    client = client_for(target.get("docker_host"), target.get("tls"))
    try:
        base_id = client.images.get(target["base_image"]).id
    except Exception:  # noqa: BLE001 - NotFound, or a name the engine cannot parse: the builder reports it
        base_id = None
    if force:
        return base_id, None, "image_force: rebuilding"
    if target.get("pull") == "always":
        return base_id, None, "pull: always - the base may change, so nothing is reused"
    if not base_id:
        return None, None, "base image not on the engine yet (it will be pulled)"
    found = find_docker_artifact(client, image_name, target["name"], build_hash, base_id)
    if not found:
        return base_id, None, None
    found["missing_refs"] = [r for r in target.get("image_refs") or [] if r not in found["tags"]]
    return base_id, found, "image %s" % found["image_id"][7:19]


DEFAULT_INTERPRETER = "/usr/bin/python3"
# A shell's PATH where the image's configuration sets none
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def python_in_base(target, docker_client_for=None, discover=()):
    """(interpreter, note) for a docker target: the Python its modules run with, and one line for the plan, or None.

    The target's python_interpreter when the base image has it. When it has not and it is the default, the first of
    `discover` (ansible-core's INTERPRETER_PYTHON_FALLBACK) found there as ansible-core's interpreter discovery finds
    it, on the image's PATH, as a play against a container of the image would use (python:3.12-slim has
    /usr/local/bin/python3.12 only). Only for a base image on the engine already (one still to be pulled is not
    looked at). A base without Python can still be built from: a first role can install it with ansible.builtin.raw.
    """
    interpreter = target.get("python_interpreter") or DEFAULT_INTERPRETER
    if target["type"] != "docker" or not target.get("base"):
        return interpreter, None
    candidates = [interpreter] + (list(discover) if interpreter == DEFAULT_INTERPRETER else [])
    try:
        client = (docker_client_for or docker_client)(target.get("docker_host"), target.get("tls"))
        found = find_in_image(client, target["base"], candidates, target.get("labels"))
    except Exception as e:  # noqa: BLE001 - the plan says so; the builder reports real errors
        return interpreter, "python: could not look for %s in the base image: %s" % (interpreter, e)
    if found == interpreter:
        return interpreter, None
    if found:
        return found, ("python: %s is not in the base image; modules run with %s, the first ansible-core's interpreter "
                       "discovery finds there (python_interpreter chooses another)" % (interpreter, found))
    return interpreter, ("python: %s is NOT in the base image: every module fails unless a first role installs Python "
                         "with ansible.builtin.raw (and image_gather_facts: false), or python_interpreter names the "
                         "right path" % interpreter)


def platform_note(target, docker_client_for=None):
    """One line for the plan when a docker target's base image (on the engine already) is of another architecture than
    its engine: a builder of it runs only where the engine emulates that architecture (binfmt_misc with
    qemu-user-static, as Docker Desktop has), which cannot be asked of an engine; elsewhere it stops as it starts
    (exec format error) and the first task finds it gone. None otherwise."""
    if target["type"] != "docker" or not target.get("base"):
        return None
    try:
        client = (docker_client_for or docker_client)(target.get("docker_host"), target.get("tls"))
        image = client.api.inspect_image(target["base"])
        engine = client.api.version()
    except Exception:  # noqa: BLE001 - only a hint: the builder reports real errors
        return None
    image_arch, engine_arch = image.get("Architecture"), engine.get("Arch")
    if not image_arch or not engine_arch or image_arch == engine_arch:
        return None
    return ("platform: the base image is %s/%s and the engine %s/%s: its builder runs only if the engine emulates %s "
            "(binfmt_misc with qemu-user-static); without it, it stops as it starts (exec format error)"
            % (image.get("Os") or "linux", image_arch, engine.get("Os") or "linux", engine_arch, image_arch))


def find_in_image(client, image_id, names, labels=None):
    """The first of `names` that is in the image (links followed), as `command -v` finds it there: a name without a
    slash in each directory of the image's PATH, an absolute path as it is; or None. Looked at through the archive
    API of a container that is created but never started (nothing runs), removed again at once. About 0.05 s."""
    env = client.api.inspect_image(image_id)["Config"].get("Env") or []
    path = next((e[len("PATH="):] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
    container = client.api.create_container(image_id, entrypoint=["/bin/sh"], labels=labels or {},
                                            network_disabled=True, use_config_proxy=False)["Id"]
    try:
        for name in names:
            for full in [name] if "/" in name else [d.rstrip("/") + "/" + name for d in path.split(":") if d.startswith("/")]:
                if path_stat(client.api, container, full) is not None:
                    return full
        return None
    finally:
        client.api.remove_container(container, force=True, v=True)  # with the volumes of the base image's VOLUME


def _check_ec2(target, image_name, build_hash, force, factory_for):
    from ansible_collections.immutable.images.plugins.module_utils._ec2.builder import resolve_source_ami

    client_for = factory_for(target["region"])
    source = resolve_source_ami(client_for("ec2", target["region"]), target.get("source_ami"),
                                target.get("source_ami_filter"), lambda: client_for("ssm", target["region"]))["ImageId"]
    if force:
        return source, None, "image_force: rebuilding"
    regions = [target["region"]] + [r for r in target.get("copy_to_regions") or [] if r != target["region"]]
    found = find_amis(client_for, regions, image_name, target["name"], build_hash, source)
    if not found:
        return source, None, None
    build_id = next(iter(found.values()))["build_id"]
    return source, {"amis": found, "build_id": build_id}, ", ".join(
        "%s in %s" % (a["image_id"], r) for r, a in found.items())


def docker_client(docker_host, tls=None):
    return get_client(docker_host, timeout=30, tls=tls)


def _aws_factory(region):
    from ansible_collections.immutable.images.plugins.module_utils._ec2.client import client_factory

    return client_factory(region)
