# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: docker_session
short_description: Run tasks in a docker builder through one persistent session
author:
  - immutable.images maintainers (@immutable-images)
version_added: 0.2.0
description:
  - The connection of the collection's docker builders (the launch role sets it for every docker builder).
    Instead of one C(docker exec) per command (create, start, inspect), every task of a builder goes through
    one session that lasts the whole build - a relay process on the controller holding one exec of an agent
    in the builder - and pipelined modules run in a warm Python interpreter in the builder (forked per module
    instead of a new interpreter each).
  - Commands run as C(/bin/sh -c CMD) children of the agent, as an exec would run them (same user, environment
    and working directory); files are written as that user. They also get the proxy variables that C(docker run)
    would give a container on this engine (the C(proxies) of the docker CLI's C(config.json)), which are never
    part of the container's own configuration, so never committed. Modules keep Ansible's semantics (pipelining,
    become, check mode, handlers) - only the transport changes.
  - With O(warm=true), the connection's first use for a builder starts its relay in the background, which
    installs the warm interpreter and the agent (in C(/dev/shm), never committed) through the Docker API and
    then starts the session. A builder that is replaced (a layer cache swap) or reset (C(reset_connection)) gets
    a new session on its next command.
  - With O(warm=false) it does what P(community.docker.docker_api#connection) does. So it does, after one
    warning per builder, where the session cannot start (no Python 3.9 or newer at O(python_interpreter), no
    C(/dev/shm), ...), and for C(become) with a password prompt. On a remote engine (C(tcp://), C(ssh://)) it
    then runs one exec per command on a stream of its own instead, because docker_api's exec stream loses
    output over TLS (community.docker#605).
  - A file larger than 16 MiB goes into or out of the builder (C(copy), C(unarchive) from the controller,
    C(fetch)) through an exec of its own, in pieces, not through the session, which holds a whole file in memory
    in three processes; so a file of any size passes in little memory.
  - A session never waits forever - the relay pings the agent and ends the session when nothing comes back
    for 30 seconds; a command without a session checks every 15 seconds without output that the engine
    still answers.
  - Set by the launch role for the builders of M(immutable.images.docker_builder); not meant for other containers.
options:
  remote_addr:
    description: The builder container's name or id.
    type: str
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_docker_host
  remote_user:
    description: The user commands run as inside the builder (the container's user when unset).
    type: str
    vars:
      - name: ansible_user
      - name: ansible_docker_user
    keyword:
      - name: remote_user
  docker_host:
    description: The Docker engine's URL (C(unix://...), C(tcp://...)); C(DOCKER_HOST) when unset.
    type: str
    vars:
      - name: ansible_docker_docker_host
    env:
      - name: DOCKER_HOST
  tls:
    description:
      - TLS settings of a C(tcp://) engine, as a target's C(tls) (C(ca_cert), C(client_cert), C(client_key),
        C(verify), C(hostname)); else E(DOCKER_TLS_VERIFY) and E(DOCKER_CERT_PATH).
    type: dict
    vars:
      - name: immutable_images_docker_tls
  warm:
    description:
      - Whether the builder gets a session and a warm interpreter (the definition's C(image_warm_interpreter),
        which the launch role passes on). V(false) is exactly P(community.docker.docker_api#connection).
    type: bool
    default: false
    vars:
      - name: immutable_images_warm
  python_interpreter:
    description:
      - The builder's Python, which runs the agent and the warm interpreter (3.9 or newer). Not an absolute
        path (V(auto)), no session.
    type: str
    vars:
      - name: ansible_python_interpreter
  extra_env:
    description: Environment variables of the builder's commands, as docker_api's C(extra_env).
    type: dict
    default: {}
    vars:
      - name: ansible_docker_extra_env
"""

import functools
import os
import shlex
import sys

from ansible.constants import DEFAULT_LOCAL_TMP
from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

from ansible_collections.immutable.images.plugins.module_utils._docker.engine import client_proxy_env, is_remote
from ansible_collections.immutable.images.plugins.module_utils._warm import relay as docker_session
from ansible_collections.immutable.images.plugins.plugin_utils import _redact as redact

display = redact.RedactingDisplay(Display())  # -vvv shows commands: with build_env names, not values

# A file larger than this goes into or out of the builder through an exec of its own, in pieces (DirectExec), not
# through the session: a session request holds the whole file in memory, in the task's worker, the relay and the
# agent each, and cannot carry 4 GiB. Below it the session's speed matters (modules, templates); above it the exec's
# start (a few tens of milliseconds) is small beside the transfer.
SESSION_FILE_LIMIT = 16 << 20


def _the_build_fails_when_the_builder_is_gone(method):
    """A command that could not reach the builder because its container is gone (removed, its main process killed -
    by the kernel's out-of-memory killer, say - or its engine restarted) fails its task instead of leaving the host
    unreachable: the provision role's rescue then reports the target as failed and the finalize play runs. Left
    unreachable, the only builder of a build made ansible-playbook stop before the finalize play, with no summary and
    exit code 4. Any other connection failure (an engine that does not answer, say) stays one."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except AnsibleConnectionFailure as e:
            gone = self.builder_gone()
            if gone:
                raise AnsibleError("%s (%s)" % (gone, e)) from None  # ansible-core finds a cause's kind
            raise
    return wrapper


class Connection(ConnectionBase):
    """One persistent session per builder (see module_utils/_warm/relay.py)."""

    transport = "immutable.images.docker_session"
    has_pipelining = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fallback = None

    def builder_env(self):
        """The environment of the builder's commands: the proxies `docker run` gives a container on this engine (the
        docker CLI's config.json), then extra_env. Never the container's own, which a commit would bake in."""
        env = client_proxy_env(self.get_option("docker_host"))
        env.update((str(k), str(v)) for k, v in (self.get_option("extra_env") or {}).items())
        return env

    def _session(self):
        env = self.builder_env()
        interpreter = self.get_option("python_interpreter") or ""
        if not self.get_option("warm") or not os.path.isabs(interpreter):
            interpreter = ""  # no session: docker_api's way
        container, user = self.get_option("remote_addr"), self.get_option("remote_user")
        return docker_session.socket_path(DEFAULT_LOCAL_TMP, container, user), container, user, env, interpreter

    def _connect(self):
        """The first use of the builder in this task: start its session in the background unless it runs (or
        cannot run); the command that needs it waits only as long as it still needs."""
        super()._connect()
        if not self._connected:
            self._connected = True
            self._start_session(wait=False)
        return self

    def _start_session(self, wait):
        path, container, user, env, interpreter = self._session()
        if not interpreter or os.path.exists(path) or os.path.exists(path + ".fallback"):
            return
        try:
            docker_session.start(path, container, user, env, interpreter, self.get_option("docker_host"), wait=wait,
                                 tls=self.get_option("tls"))
        except docker_session.SessionUnavailable as e:  # one started earlier in the background did not come up
            self._fall_back(path, str(e))
        except OSError:
            pass  # the next command tries again, and says so if it cannot

    def _request(self, header, payload=b""):
        """The agent's reply, or None when this command has to go the docker_api way."""
        path, container, user, env, interpreter = self._session()
        if not interpreter:
            return None  # the session is off (warm=false): docker_api's way, without a warning
        if self._fallback is not None or os.path.exists(path + ".fallback"):
            return None
        for attempt in (1, 2):
            try:
                return docker_session.request(path, header, payload)
            except docker_session.SessionUnavailable as e:
                if attempt == 2:
                    return self._fall_back(path, str(e))
                try:
                    docker_session.start(path, container, user, env, interpreter, self.get_option("docker_host"),
                                         tls=self.get_option("tls"))
                except (docker_session.SessionUnavailable, OSError) as e:
                    return self._fall_back(path, str(e))
            except docker_session.SessionBroken as e:
                raise AnsibleConnectionFailure(str(e))

    def _fall_back(self, path, why):
        marker = path + ".fallback"  # the builder's later tasks (each a new process) go straight to docker_api
        if not os.path.exists(marker):
            open(marker, "w").close()
            display.warning("%s: no session with the builder (%s); one docker exec per command from here on, "
                            "which is slower" % (self.get_option("remote_addr"), why))
        self._docker_api()
        return None

    def _docker_api(self):
        if self._fallback is None and is_remote(self.get_option("docker_host")):
            self._fallback = DirectExec(self)
        if self._fallback is None:
            from ansible.plugins.loader import connection_loader

            conn = connection_loader.get("community.docker.docker_api", self._play_context, shell=self._shell)
            redact.install(sys.modules[type(conn).__module__])  # its EXEC lines too: names, not values
            direct = {k: self.get_option(k) for k in ("remote_addr", "remote_user", "docker_host")}
            direct["extra_env"] = self.builder_env()
            conn.set_options(direct={k: v for k, v in direct.items() if v is not None})
            conn.set_become_plugin(self.become)
            self._fallback = conn._connect()
        return self._fallback

    @_the_build_fails_when_the_builder_is_gone
    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        if sudoable and self.become and self.become.expect_prompt():  # a password prompt to answer: docker_api can
            return self._docker_api().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        display.vvv("EXEC %s (session)" % cmd, host=self.get_option("remote_addr"))
        executable = self._play_context.executable
        header = {"op": "exec", "cmd": cmd, "executable": executable, "stdin": in_data is not None}
        interpreter = self._session()[4]
        if in_data is not None and interpreter and cmd in (
                interpreter, "%s -c %s" % (executable, shlex.quote(interpreter)),
                # ansible-core before 2.20 appends `&& sleep 0` (an SSH race's mitigation, nothing for the module)
                "%s -c %s" % (executable, shlex.quote(self._shell.append_command(interpreter, "sleep 0")))):
            header["warm"] = True  # a pipelined module and nothing else: the agent hands it to the warm server
        reply = self._request(header, in_data or b"")
        if reply is None:
            return self._docker_api().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        info, data = reply
        if "error" in info:
            raise AnsibleConnectionFailure("%s: %s" % (self.get_option("remote_addr"), info["error"]))
        return info["rc"], data[:info["stdout"]], data[info["stdout"]:]

    @staticmethod
    def _in_builder(path):
        # As docker_api does: a relative path is relative to /, not to a home that may not exist.
        return os.path.normpath(path if path.startswith("/") else "/" + path)

    @_the_build_fails_when_the_builder_is_gone
    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        try:
            with open(in_path, "rb") as f:
                if os.fstat(f.fileno()).st_size > SESSION_FILE_LIMIT and self._session()[4]:
                    display.vvv("PUT %s TO %s (in pieces)" % (in_path, out_path), host=self.get_option("remote_addr"))
                    return DirectExec(self).put_file(in_path, out_path)
                display.vvv("PUT %s TO %s (session)" % (in_path, out_path), host=self.get_option("remote_addr"))
                data, mode = f.read(), os.fstat(f.fileno()).st_mode & 0o700
        except FileNotFoundError:
            raise AnsibleFileNotFound("file or module does not exist: %s" % in_path)
        reply = self._request({"op": "put", "path": self._in_builder(out_path), "mode": mode}, data)
        if reply is None:
            return self._docker_api().put_file(in_path, out_path)
        if "error" in reply[0]:
            where = self.get_option("remote_addr")
            raise AnsibleConnectionFailure("cannot put %s into %s: %s" % (in_path, where, reply[0]["error"]))

    @_the_build_fails_when_the_builder_is_gone
    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        display.vvv("FETCH %s TO %s (session)" % (in_path, out_path), host=self.get_option("remote_addr"))
        reply = self._request({"op": "fetch", "path": self._in_builder(in_path), "limit": SESSION_FILE_LIMIT})
        if reply is None:
            return self._docker_api().fetch_file(in_path, out_path)
        info, data = reply
        if info.get("large"):
            display.vvv("FETCH %s (in pieces)" % in_path, host=self.get_option("remote_addr"))
            return DirectExec(self).fetch_file(in_path, out_path)
        if info.get("missing"):
            raise AnsibleFileNotFound("file not found in %s: %s" % (self.get_option("remote_addr"), in_path))
        if "error" in info:
            where = self.get_option("remote_addr")
            raise AnsibleConnectionFailure("cannot fetch %s from %s: %s" % (in_path, where, info["error"]))
        with open(out_path, "wb") as f:
            f.write(data)

    def builder_gone(self):
        """Why the builder is gone, as one line, when its engine says it is (no such container, or it stopped);
        None while it runs, or when its engine cannot be asked."""
        from ansible_collections.immutable.images.plugins.module_utils._docker.builder import STOPPED_AT_START
        from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
            DockerFailure, RequestException, docker_errors, get_client)

        name = self.get_option("remote_addr")
        try:
            state = get_client(self.get_option("docker_host"), timeout=30, tls=self.get_option("tls")).api.inspect_container(
                name).get("State") or {}
        except docker_errors.NotFound:
            return ("the builder %s is gone: its container no longer exists (removed, or its main process ended and "
                    "the engine removed it: killed, for example by the kernel's out-of-memory killer, or its engine "
                    "restarted; %s)" % (name, STOPPED_AT_START))
        except (DockerFailure, RequestException, docker_errors.DockerException):
            return None
        if state.get("Running") or state.get("Paused"):
            return None
        why = "; killed by the kernel's out-of-memory killer" if state.get("OOMKilled") else (
            "; it ran for less than a second: %s" % STOPPED_AT_START if _ran_briefly(state) else "")
        return "the builder %s is gone: its container stopped (exit code %s%s)" % (name, state.get("ExitCode"), why)

    def reset(self):
        """reset_connection (and a layer cache swap, which replaces the builder's container): end the session;
        a new one starts at once in the background, with the container that has the name now."""
        self.end_session()
        self._start_session(wait=False)

    def end_session(self):
        """End the builder's session, starting none (the builder is about to be replaced, or nothing runs on it any
        more but through a session started when needed)."""
        docker_session.stop(self._session()[0])

    def settle(self):
        """Return once no session of the builder is starting (it makes execs in the builder): before a commit, which
        pauses the builder, and an exec started meanwhile would deadlock it (relay.settle)."""
        docker_session.settle(self._session()[0])

    def close(self):
        super().close()
        self._connected = False


class DirectExec:
    """One exec per command on a stream of our own (module_utils/_docker/exec_stream.py), for remote engines when
    there is no session: what docker_api does, without its exec stream, which loses output over TLS. With a session,
    the files larger than SESSION_FILE_LIMIT go this way, on every engine."""

    def __init__(self, connection):
        self.connection = connection
        self._api = None

    def _connect(self):
        return self

    def _run(self, argv, stdin=None, stdout=None):
        from ansible_collections.immutable.images.plugins.module_utils._docker import exec_stream as engine_stream
        from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure, get_client

        conn = self.connection
        try:
            if self._api is None:
                self._api = get_client(conn.get_option("docker_host"), timeout=30, tls=conn.get_option("tls")).api
            return engine_stream.run(self._api, conn.get_option("remote_addr"), argv, stdin=stdin,
                                     user=conn.get_option("remote_user") or "", environment=conn.builder_env(),
                                     stdout=stdout)
        except (DockerFailure, engine_stream.StreamError) as e:
            raise AnsibleConnectionFailure("%s: %s" % (conn.get_option("remote_addr"), e))
        except Exception as e:  # noqa: BLE001 - the SDK's errors (APIError, requests') say what went wrong
            raise AnsibleConnectionFailure("%s: %s" % (conn.get_option("remote_addr"), e))

    def exec_command(self, cmd, in_data=None, sudoable=True):
        executable = self.connection._play_context.executable or "/bin/sh"
        return self._run([executable, "-c", cmd], in_data)

    def put_file(self, in_path, out_path):
        """The file streamed into `cat` in pieces: never whole in memory, of any size."""
        try:
            f = open(in_path, "rb")
        except FileNotFoundError:
            raise AnsibleFileNotFound("file or module does not exist: %s" % in_path)
        with f:
            mode = os.fstat(f.fileno()).st_mode & 0o700
            path = shlex.quote(Connection._in_builder(out_path))
            rc, _out, err = self._run(["/bin/sh", "-c", "umask 077 && cat > %s && chmod %o %s" % (path, mode, path)], f)
        if rc != 0:
            raise AnsibleConnectionFailure("cannot put %s into %s: %s" % (in_path, self.connection.get_option("remote_addr"),
                                                                          err.decode("utf-8", "replace").strip()))

    def fetch_file(self, in_path, out_path):
        """The output of `cat` written as it comes: never whole in memory, of any size. Into a file beside out_path,
        which replaces out_path once the whole file came: a failed fetch leaves out_path as it was."""
        directory, name = os.path.split(os.path.abspath(out_path))
        part = os.path.join(directory, ".%s.%d.part" % (name, os.getpid()))  # the mode a new out_path would have
        try:
            with open(part, "wb") as f:
                rc, _out, err = self._run(["cat", Connection._in_builder(in_path)], stdout=f)
            if rc == 0:
                os.replace(part, out_path)
        finally:
            _remove(part)
        if rc != 0:
            where = self.connection.get_option("remote_addr")
            if b"No such file" in err:
                raise AnsibleFileNotFound("file not found in %s: %s" % (where, in_path))
            raise AnsibleConnectionFailure("cannot fetch %s from %s: %s" % (in_path, where, err.decode("utf-8", "replace").strip()))


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _ran_briefly(state):
    """Whether a stopped container's main process ran for less than a second (its engine's StartedAt and FinishedAt,
    RFC 3339 with nanoseconds)."""
    import datetime

    def at(text):
        day, _dot, rest = (text or "").rstrip("Z").partition(".")
        return datetime.datetime.fromisoformat(day + "+00:00").timestamp() + float("0." + (rest or "0"))
    if str(state.get("StartedAt")).startswith("0001-"):  # the engine's zero time: never started
        return False
    try:
        return 0 <= at(state.get("FinishedAt")) - at(state.get("StartedAt")) < 1
    except (ValueError, OverflowError, OSError):  # an unset time, or one this platform cannot convert
        return False
