# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-role layer cache for docker builders.

After a role succeeds with no handler pending, the builder is committed to a cache image. The key of
role N chains the key of role N-1 (the base image id for the first role) with the files' digest, the
role's name, content digest and tags, its variables *as templated on the builder* (key_values), and the build's
facts setting and command-line tags - so a changed variable, file, role, setting or base image
invalidates that role and every one after it. A layer is stored only when no handler is pending (a
pending handler runs at the end of provisioning, as in a play); the roles that ran with handlers
pending are stored as one layer, under the last role's key, after the handlers ran.

A hit does not touch the builder: consecutive hits only move the "current layer". The builder is
re-created from the current layer once, before the first role that has to run (or at the end),
which keeps a fully cached build to one container swap - or none, when nothing runs on the builder after
the roles and the last layer's package inventory is recorded (read_inventory): the artifact is then made
from that layer.
"""

from __future__ import annotations

import hashlib
import json
import os

from ansible.errors import AnsibleUndefinedVariable

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.builder import DockerBuilder
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DockerFailure,
    RequestException,
    docker_errors,
    error_text,
    no_read_timeout,
)

# A layer is found by its tag. Its labels are the build labels (kind=cache), all of which the final
# commit overrides, so nothing cache-specific can leak into an artifact through the engine's merge.
CACHE_REPOSITORY = "immutable-images-cache/%s"


def state_path(workdir, container):
    """The builder's cache state (action/layer_cache.py says what it holds): a file of the build's work directory."""
    return os.path.join(workdir, "layers-%s.json" % container)


def read_state(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def builder_layer(workdir, container):
    """(layer, left_behind) after provisioning: the cache layer the artifact is made of, and whether the builder was
    left at an earlier one (sync stored the last role's layer, or swapped the builder to the last cached one, or left
    it where it was because nothing runs on it any more; and nothing since has written to it). (None, False): no
    cache, no roles, a role whose layer is not stored."""
    state = read_state(state_path(workdir, container))
    if not state.get("synced") or not state.get("layer"):
        return None, False
    if state["layer"] == state.get("at"):
        return state["layer"], False
    return (state["layer"], True) if state.get("left_behind") else (None, False)


# The package inventory of a layer, for the SBOM of a build whose every role came from the cache: read on the builder
# by the build that stored or swapped to that layer, and kept on the controller (the user's cache directory), so that
# such a build needs no container of the layer. A record is keyed by the layer's image id (a digest of the image's
# content) and by the inventory code (its module and parsers), so it is the inventory that code would read again.
INVENTORY_RECORDS = 100  # the newest records kept; an older layer's inventory is read again


def inventory_dir():
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                        "immutable-images", "inventories")


def _inventory_code():
    plugins = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    digest = hashlib.sha256()
    for path in (("modules", "package_inventory.py"), ("module_utils", "_artifacts", "package_inventory.py")):
        with open(os.path.join(plugins, *path), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def _inventory_path(layer):
    name = hashlib.sha256(("%s\0%s" % (layer, _inventory_code())).encode("utf-8")).hexdigest()
    return os.path.join(inventory_dir(), name + ".json")


def read_inventory(layer):
    """The recorded inventory ({os, packages}) of the layer, or None (none recorded, unreadable, not this layer's)."""
    try:
        with open(_inventory_path(layer)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("layer") != layer or not isinstance(record.get("packages"), list) \
            or not isinstance(record.get("os"), (dict, type(None))):
        return None
    return {"os": record["os"], "packages": record["packages"]}


def write_inventory(layer, inventory):
    """Record the inventory of the layer (readable by this user only); the oldest records beyond INVENTORY_RECORDS
    go. A record that cannot be written is not an error: the next build reads the inventory on a builder again."""
    tmp = None
    try:
        path = _inventory_path(layer)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = "%s.%d" % (path, os.getpid())
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump({"layer": layer, "os": inventory.get("os"), "packages": inventory.get("packages") or []}, f)
        os.replace(tmp, path)
        tmp = None
        records = [os.path.join(inventory_dir(), n) for n in os.listdir(inventory_dir()) if n.endswith(".json")]
        for old in sorted(records, key=os.path.getmtime)[:-INVENTORY_RECORDS]:
            os.unlink(old)
    except OSError:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def cache_key(parent, files_digest, role_name, role_digest, role_vars, role_tags=None, play=None, environment=None,
              target=None, role_params=None):
    """The cache key of one role: parent is the previous role's key (the base image id for the first role),
    role_vars the templated values the role receives (its entry's vars), role_params those of its entry's role
    parameters (which rank above them), role_tags its entry's tags, play what else decides
    what the role does (the facts setting, the tags selected on the command line), environment the task
    environment it runs with (build_env: only its sha256 goes into the key, never its values) and target the name
    of the target: a role can read it (image_target.name, inventory_hostname), so targets never share a layer."""
    data = {"parent": parent, "files": files_digest, "role": role_name, "digest": role_digest, "vars": role_vars,
            "tags": role_tags or [], "play": play or {}}
    if environment:  # left out when empty
        data["env"] = environment
    if role_params:  # left out when empty: an entry without them keeps its key
        data["params"] = role_params
    if target is not None:
        data["target"] = target
    data = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


# What a variable of a role's entry counts as in its key when it names a variable not defined at the lookup (key_values)
UNDEFINED_AT_LOOKUP = "immutable.images: undefined at lookup"


def key_values(templar, values):
    """A role entry's vars or role parameters (untemplated, as in the plan) as its key counts them: each templated as
    the role will see it, one by one. A play templates a role's variable only when a task reads it, so one may name
    what is not defined when the role's layer is looked up: the role's own defaults or vars, what the role sets, a
    later role's defaults, or nothing at all when no task reads it. Such a variable counts by its text (what it names
    through the role is in the role's digest) instead of failing the build that a play would run."""
    counted = {}
    for name, value in (values or {}).items():
        try:
            counted[name] = templar.template(value)
        except AnsibleUndefinedVariable:
            counted[name] = [UNDEFINED_AT_LOOKUP, value]
    return counted


def expected_layer(client, image_name, base_id, files_digest, roles, play, environment, target):
    """(image id, how many roles, its key) of the deepest layer that the build's lookups are expected to find, or
    (None, 0, None).

    The plan's guess, so that the builder can start from it (docker_builder from_layer) instead of the base image and
    a swap to the last cached layer: the keys of the first roles, in order, computed as the lookups compute them, as
    far as they can be known before the builder runs (roles: dicts of name, digest, vars, tags and params, where
    vars or params is None for an entry whose vars or params hold a template, which only the builder can template)
    and as long as each layer is on the engine. A guess only: the lookups still decide, and send the builder to
    another layer if they find another."""
    key, found, count, found_key = base_id, None, 0, None
    for role in roles:
        if role["vars"] is None or role["params"] is None:
            break
        key = cache_key(key, files_digest, role["name"], role["digest"], role["vars"], role["tags"], play, environment,
                        target, role["params"])
        try:
            found = client.api.inspect_image("%s:%s" % (CACHE_REPOSITORY % image_name, key))["Id"]
        except (docker_errors.APIError, RequestException):
            break
        count, found_key = count + 1, key
    return found, count, found_key


class LayerCache:
    def __init__(self, client):
        self.client = client

    def pin(self, image_name, key, labels):
        """Look up the layer for key and hold it: (image id, pin container id), or None on a miss.

        The pin is a container created (never started) from the layer's tag: the engine resolves the tag and
        records the container's use of the image in one step, and from then on refuses to delete the image
        for the janitor's unforced removal by tag (cleanup.py). So a layer found is a layer that stays until the
        builder runs from it (then the running builder holds it) and the pin is removed (unpin)."""
        ref = "%s:%s" % (CACHE_REPOSITORY % image_name, key)
        pin_labels = dict(labels, **{naming.LABEL_KIND: naming.KIND_CACHE_PIN})
        try:
            pin = self.client.api.create_container(ref, entrypoint=["/bin/true"], command=[], labels=pin_labels,
                                                   network_disabled=True, use_config_proxy=False)["Id"]
            return self.client.api.inspect_container(pin)["Image"], pin
        except docker_errors.NotFound:
            return None  # no such layer (never stored, or pruned): a miss
        except (docker_errors.APIError, RequestException) as e:
            raise DockerFailure("cache", "cannot look up the layer %s: %s" % (ref, error_text(e)))

    def unpin(self, pin):
        """Remove a pin (pin()); gone already is fine. A pin left behind is removed with the build's builders."""
        if not pin:
            return
        try:
            self.client.api.remove_container(pin, force=True, v=True)  # with the volumes of an image's VOLUME
        except (docker_errors.APIError, RequestException):
            pass  # NotFound, or the engine busy: the end-of-build cleanup removes it by its labels

    def store(self, container_name, key, image_name, labels):
        """Commit the builder as the cache layer for key; return the new image id.

        The container's config goes in as it is: a cache layer is never an artifact, and the final
        commit sets the artifact's config explicitly from the base image's.
        """
        cache_labels = dict(labels, **{naming.LABEL_KIND: naming.KIND_CACHE})
        try:
            with no_read_timeout(self.client):  # a large layer takes as long as it takes
                image_id = self.client.api.commit(container_name, conf={"Labels": cache_labels}, pause=True,
                                                  message=naming.build_comment(labels.get(naming.LABEL_BUILD_ID)))["Id"]
            # Tagged: that is how it is found, and a tagged image is not a dangling one that cleanup removes.
            self.client.api.tag(image_id, CACHE_REPOSITORY % image_name, key)
        except (docker_errors.APIError, RequestException) as e:
            raise DockerFailure("cache", "cannot store the layer cache of %s: %s" % (container_name, error_text(e)))
        return image_id

    def swap(self, container_name, image_id, target, lease_pid=None):
        """Re-create the builder from a cached layer, with the same name, labels and settings (its connection is
        reset by the caller: it finds the new container by the same name)."""
        builder = DockerBuilder(self.client)
        builder.remove(container_name)
        builder.launch(container_name, image_id, target["labels"], pull="never", platform=target.get("platform"),
                       network_mode=target.get("network_mode"), volumes=target.get("build_volumes"),
                       privileged=target.get("privileged"), lease_pid=lease_pid, docker_host=target.get("docker_host"))
