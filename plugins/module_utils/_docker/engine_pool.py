# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A pool of Docker engines (image_engines): which engine a docker target's builder runs on.

Concurrent builds (forks of one ansible-playbook, fleets, AWX slices on other machines) share nothing but
the engines, so an engine's load is read from the engine itself: the builder containers of the collection
on it (any build, any controller; they carry the builder kind label). Placement is optimistic: count,
choose the least busy engine with room, create the builder, then count again; a builder that finds itself
beyond max_builds there (ordered by the engine's creation time in nanoseconds, then id, an order every controller
sees alike whenever it looks) removes itself and tries again.
"""

from __future__ import annotations

import datetime
import os
import random
import re
import time

from ansible_collections.immutable.images.plugins.module_utils._common import naming
from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DockerFailure,
    RequestException,
    RefusedEngine,
    docker_errors,
    default_timeout,
    error_text,
    get_client,
    no_read_timeout,
)
from ansible_collections.immutable.images.plugins.module_utils._docker.engine import engine_url
from ansible_collections.immutable.images.plugins.module_utils._docker.registry_auth import RegistryAuth

CONNECT_TIMEOUT = 5  # seconds to wait for an engine of the pool before it is skipped
WAIT_FOR_ROOM = 3600  # seconds a builder waits for an engine below its max_builds
TLS_FILES = ("ca_cert", "client_cert", "client_key")


class NotAdmitted(Exception):
    """The builder was created beyond its engine's max_builds and removed again: place it anew."""


def normalize(entries, cwd):
    """image_engines -> [{docker_host, tls, max_builds}], tls paths absolute (relative to cwd, like a target's)."""
    pool = []
    for entry in entries or []:
        entry = {"docker_host": entry} if isinstance(entry, str) else dict(entry)
        tls = entry.get("tls") or None
        if tls:
            tls = {k: (os.path.normpath(os.path.join(cwd, os.path.expanduser(str(v)))) if k in TLS_FILES and v else v)
                   for k, v in tls.items()}
        pool.append({"docker_host": str(entry["docker_host"]), "tls": tls,
                     "max_builds": int(entry["max_builds"]) if entry.get("max_builds") is not None else None})
    return pool


def connect(engine, timeout=CONNECT_TIMEOUT):
    """A client of an engine of the pool, with a short timeout (raised to the modules' one once chosen)."""
    return get_client(engine["docker_host"], timeout=timeout, tls=engine.get("tls"))


def probe(pool, client_for=connect):
    """([(engine, client)] of the engines that answer, [(engine, reason)] of those that do not). An engine nothing may be
    built on (not a Docker engine; the current context, not there) raises RefusedEngine."""
    reachable, skipped = [], []
    for engine in pool:
        try:
            client = client_for(engine)  # asks the engine its API version: an engine that does not answer fails here
        except RefusedEngine:
            raise  # bad input, not an engine that is down: the plan fails
        except (DockerFailure, RequestException, docker_errors.DockerException) as e:
            skipped.append((engine, error_text(e)))
            continue
        reachable.append((engine, client))
    return reachable, skipped


def skipped_message(engine, reason):
    return "image_engines: the engine at %s does not answer, skipped: %s" % (engine["docker_host"], reason)


def builders_on(client, precise=False):
    """The collection's builders on an engine (created or running, any build): [(created, id)] oldest first.

    precise: created in nanoseconds, from each builder's inspect (the list has whole seconds). admit() needs it: two
    builders created in the same second were ordered by id, so one that looked before the other existed saw itself
    first, and the other, looking later, could see itself first too - both stayed, one over max_builds."""
    found = client.api.containers(all=True, filters={"label": "%s=%s" % (naming.LABEL_KIND, naming.KIND_BUILDER),
                                                     "status": ["created", "running"]})
    builders = [(int(c.get("Created") or 0) * 10 ** 9, c["Id"]) for c in found]
    if precise:
        builders = [(_created_ns(client, cid) or created, cid) for created, cid in builders]
    return sorted(builders)


def _created_ns(client, container_id):
    """A container's creation time in nanoseconds since the epoch (its RFC 3339 Created, e.g.
    2026-12-04T16:51:23.123456789Z), or None when it is gone or the time cannot be read."""
    try:
        text = client.api.inspect_container(container_id).get("Created") or ""
    except (docker_errors.APIError, RequestException):
        return None
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    if not match:
        return None
    seconds, fraction, zone = match.groups()
    when = datetime.datetime.fromisoformat(seconds + ("+00:00" if zone == "Z" else zone))
    return int(when.timestamp()) * 10 ** 9 + int(((fraction or "") + "0" * 9)[:9])


def choose(loads, rand=random):
    """Index of the engine to place a builder on, or None when every engine is at its max_builds.

    loads: [{count, max_builds, has_base}]. The fewest builders first, then one that has the base image
    already; among equals a random one, so that builds placed at the same moment spread over the pool.
    """
    room = [i for i, load in enumerate(loads) if load["max_builds"] is None or load["count"] < load["max_builds"]]
    if not room:
        return None
    best = min((loads[i]["count"], not loads[i]["has_base"]) for i in room)
    return rand.choice([i for i in room if (loads[i]["count"], not loads[i]["has_base"]) == best])


def admitted(builders, container_id, max_builds):
    """Whether a builder just created is within its engine's max_builds: among the oldest max_builds there."""
    if max_builds is None:
        return True
    ids = [cid for _created, cid in builders]
    return container_id not in ids or ids.index(container_id) < max_builds


def has_image(client, image):
    try:
        client.images.get(image)
        return True
    except docker_errors.ImageNotFound:
        return False
    except (docker_errors.APIError, RequestException):
        return False


def ensure_base(client, image, pull, others, platform=None, auth=None):
    """Make the base image available on the chosen engine; (image, how) where how says what was done.

    pull: always pulls; missing pulls when the image is not there, and copies it from another engine of the pool
    when the pull fails; never copies it from another engine of the pool (docker save | docker load through the
    controller) when it is not there.
    """
    where = engine_url(client.api.immutable_engine["url"])
    if pull != "always":
        try:
            return client.images.get(image), "present on %s" % where
        except docker_errors.ImageNotFound:
            pass
    pull_error = None
    if pull != "never":
        try:
            auth_config = RegistryAuth.of(auth, "launch").for_image(image)
            return client.images.pull(image, platform=platform, auth_config=auth_config), "pulled on %s" % where
        except (docker_errors.APIError, RequestException) as e:
            pull_error = error_text(e)
            if pull == "always":
                raise DockerFailure("launch", "cannot pull base image %s on %s: %s" % (image, where, pull_error))
    source = next((other for other in others if has_image(other, image)), None)
    if source is None:
        why = "cannot pull it: %s" % pull_error if pull_error else "pull is 'never'"
        raise DockerFailure("launch", "base image %s is not on the engine at %s, %s, and no other engine of "
                                      "image_engines has it" % (image, where, why))
    source_url = source.api.immutable_engine["url"]
    try:
        with no_read_timeout(client), no_read_timeout(source):  # as long as a large image takes
            for status in client.api.load_image(source.api.get_image(image)):
                if status.get("error"):
                    raise DockerFailure("launch", "cannot load base image %s into %s: %s" % (image, where, status["error"]))
        return client.images.get(image), "copied from %s to %s (docker save | docker load through the controller)" % (
            source_url, where)
    except (docker_errors.APIError, RequestException) as e:
        raise DockerFailure("launch", "cannot copy base image %s from %s to %s: %s" % (image, source_url, where, error_text(e)))


def place(pool, image, pull, start, platform=None, timeout=None, client_for=connect, wait=WAIT_FOR_ROOM,
          clock=time.monotonic, sleep=time.sleep, rand=random, name="the builder", pull_auth=None):
    """Start a builder on the least busy engine of the pool that answers and has room.

    start(client, admit) starts the builder on that engine; it calls admit(container_id) once the builder is
    created and raises NotAdmitted when that says no. Returns (engine, client, start's result, notes).
    """
    deadline = clock() + wait
    notes = []
    while True:
        reachable, skipped = probe(pool, client_for)
        loads = []
        for engine, client in list(reachable):
            try:
                loads.append({"engine": engine, "client": client, "count": len(builders_on(client)),
                              "max_builds": engine.get("max_builds"), "has_base": has_image(client, image)})
            except (docker_errors.APIError, RequestException) as e:
                skipped.append((engine, error_text(e)))
        for engine, reason in skipped:
            message = skipped_message(engine, reason)
            if message not in notes:
                notes.append(message)
        if not loads:
            raise DockerFailure("launch", "image_engines: no engine of the pool answers (%s)"
                                % "; ".join("%s: %s" % (e["docker_host"], r) for e, r in skipped))
        index = choose(loads, rand)
        if index is None:
            if clock() > deadline:
                raise DockerFailure("launch", "image_engines: every engine stayed at its max_builds for %d s (%s)" % (
                    wait, ", ".join("%s: %d" % (load["engine"]["docker_host"], load["count"]) for load in loads)))
            sleep(rand.uniform(2, 5))
            continue
        chosen = loads[index]
        client = chosen["client"]
        for load in loads:  # the probe's few seconds were for the connection; a save or load takes longer
            load["client"].api.timeout = timeout or default_timeout()
        others = [load["client"] for load in loads if load is not chosen]
        _image, how = ensure_base(client, image, pull, others, platform, pull_auth)

        def admit(container_id, client=client, max_builds=chosen["max_builds"]):
            return admitted(builders_on(client, precise=True), container_id, max_builds)

        try:
            result = start(client, admit)
        except NotAdmitted:
            sleep(rand.uniform(0.2, 1.0))  # another build took the last place on that engine first
            continue
        notes.append("%s: placed on %s (%d builder(s) there before, max_builds %s); base image %s" % (
            name, chosen["engine"]["docker_host"], chosen["count"], chosen["max_builds"] or "unlimited", how))
        return chosen["engine"], client, result, notes
