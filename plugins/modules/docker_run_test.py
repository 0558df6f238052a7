#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_run_test
short_description: Run test of a candidate image - start it, wait until it is up, probe it, remove it
version_added: 0.2.0
description:
  - Starts a container from O(image) exactly as the image will run - its own C(CMD), C(ENTRYPOINT) and C(USER),
    nothing overridden except the extra environment in O(env) - and checks that it comes up and answers.
  - The container is labelled C(immutable.images.build-id=)O(build_id) and C(immutable.images.kind=verify),
    so that cleanup finds it by build id, and it is always removed (with its anonymous volumes), whether the
    test passes, fails or is interrupted. Nothing persists, so the module never reports a change.
  - It also carries the image name and target labels of O(image) and C(immutable.images.lease-seconds) (O(timeout)
    plus 120), so that the janitor (M(immutable.images.docker_cleanup)) leaves it and everything of its build alone until
    the test can no longer be running.
  - With O(network_mode=bridge) (or any network that publishes ports), O(port) is published on an ephemeral port of
    the engine's host, on one address only, and the probes go there. That is C(127.0.0.1) for an engine on this machine (a
    unix socket, a loopback address), else the address of the host of the engine's C(tcp://) or C(ssh://) URL (as
    resolved here; the engine's host must have that address, as a build host or a CI job's dind service does, not
    one behind NAT). With O(network_mode=host) they go to that address and O(port).
  - "First it waits for O(port) to accept TCP connections and for O(wait_for_command) to succeed, then it runs
    the probes O(http) and O(command_probe). Each check is retried with short polls until it passes or O(timeout)
    runs out. A container that exits fails the test at once, with its last log lines."
  - A failure has RV(stage=verify), a message that says what was expected and what came instead, and the
    container's last log lines in RV(logs).
  - "The options have the names of the keys of a C(run) entry of the image definition's C(image_verify), for example
    C({run: {port: 8080, http: {path: /health, status: 200, body_contains: ok}}}), so such an entry can be passed
    on as it is."
notes:
  - The probes run where the module runs, which must reach the engine's host at that address and port (a firewall
    between them fails the test at O(port)).
  - The image is never pulled; give the id of the candidate (or any reference the engine has).
extends_documentation_fragment:
  - immutable.images.docker
  - immutable.images.attributes
attributes:
  check_mode:
    support: full
    details: Does nothing in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Nothing persists; the module never reports a change.
options:
  image:
    description: The image to test, by id (the committed candidate, before it is tagged) or reference.
    type: str
    required: true
  build_id:
    description: Build id the test container is labelled with (C(immutable.images.build-id)).
    type: str
    required: true
  timeout:
    description:
      - Seconds the whole test may take, from the start of the container to the last probe.
      - Unlike in the other Docker modules, not the timeout of an engine API call (this module uses E(DOCKER_TIMEOUT),
        else 120 s, for those).
    type: int
    default: 60
  port:
    description:
      - TCP port the image serves on (inside the container). The test waits until it accepts connections.
      - Required by O(http).
    type: int
  wait_for_command:
    description:
      - Command run in the container (C(docker exec), as the image's user) until it exits 0, for example
        V([test, -f, /run/app.ready]). Retried with short polls until O(timeout).
      - A list is run as it is; a string is run by C(/bin/sh -c).
    type: raw
  http:
    description: HTTP probe, retried until it gets the expected answer or O(timeout) runs out. Needs O(port).
    type: dict
    suboptions:
      path:
        description: Path of the C(GET) request, with its query string if any.
        type: str
        default: /
      status:
        description: Expected HTTP status. Redirects are not followed.
        type: int
        default: 200
      body_contains:
        description: Text the body must contain.
        type: str
      body_regex:
        description: Python regular expression the body must match (C(re.search)).
        type: str
      scheme:
        description: V(https) does not check the certificate.
        type: str
        choices: [http, https]
        default: http
  command_probe:
    description:
      - Command probe, run in the container (C(docker exec), as the image's user) after the wait, and retried
        until it gives the expected result or O(timeout) runs out.
    aliases: [command]
    type: dict
    suboptions:
      cmd:
        description: The command; a list is run as it is, a string by C(/bin/sh -c).
        type: raw
        required: true
      rc:
        description: Expected exit code.
        type: int
        default: 0
      stdout_contains:
        description: Text the standard output must contain.
        type: str
  network_mode:
    description: Network of the test container, for example V(bridge), V(host) or the name of a network.
    type: str
    default: bridge
  env:
    description: Extra environment variables for the test container only (not in the image).
    type: dict
    default: {}
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Run test of the candidate image
  immutable.images.docker_run_test:
    image: "{{ commit.image_id }}"
    build_id: "{{ image_build_id }}"
    port: 8080
    http:
      path: /health
      status: 200
      body_contains: ok

- name: A worker without a port - wait for its ready file, then check its version
  immutable.images.docker_run_test:
    image: "{{ commit.image_id }}"
    build_id: "{{ image_build_id }}"
    timeout: 30
    env: {WORKER_DRY_RUN: "1"}
    wait_for_command: [test, -f, /run/worker.ready]
    command:
      cmd: [worker, --version]
      stdout_contains: "1.4"

- name: "The keys of a run entry of image_verify: {run: {port: 8080, command: {...}}}"
  immutable.images.docker_run_test:
    image: "{{ commit.image_id }}"
    build_id: "{{ image_build_id }}"
    port: 8080
    command:
      cmd: python3 -c 'import app; print(app.VERSION)'
      stdout_contains: "1.4.2"
"""

RETURN = r"""
passed:
  description: The checks that passed, in order (on failure, those that passed before it).
  returned: always, except in check mode
  type: list
  elements: str
  sample: ["started", "port 8080/tcp open (127.0.0.1:32771)", "http GET /health: status 200, body contains 'ok'"]
container:
  description: Name of the test container (removed again).
  returned: always, except in check mode
  type: str
  sample: immutable-webapp-container-20261123T2135Z-7f3a9c-verify-1a2b
image_id:
  description: Id of the image tested.
  returned: success
  type: str
host_port:
  description: Port of the engine's host the probes used (O(port) itself with host networking).
  returned: success, when O(port) was given
  type: int
  sample: 32771
elapsed:
  description: Seconds from the start of the container to the last check.
  returned: success
  type: float
stage:
  description: V(verify), on failure.
  returned: failure
  type: str
  sample: verify
failed_check:
  description:
    - What failed - V(options), V(image), V(start), V(exited) (the container stopped), V(port), V(wait_for_command),
      V(http), V(command), V(engine) (an engine error), V(cleanup) (the container could not be removed) or
      V(interrupted) (the module got C(SIGTERM); the container was removed).
  returned: failure
  type: str
  sample: http
logs:
  description: The last 50 lines of the test container's output (stdout and stderr).
  returned: failure
  type: list
  elements: str
exit_code:
  description: Exit code of the container, when it exited before the test ended.
  returned: failure, when the container exited
  type: int
"""

import signal

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.images.plugins.module_utils._docker.client import (
    DOCKER_COMMON_ARGS,
    DockerFailure,
    get_client,
)
from ansible_collections.immutable.images.plugins.module_utils._docker.run_test import (
    DEFAULT_TIMEOUT,
    Interrupted,
    RunTest,
    VerifyFailure,
)


def _interrupted(signum, _frame):
    raise Interrupted("signal %d" % signum)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            DOCKER_COMMON_ARGS,
            timeout=dict(type="int", default=DEFAULT_TIMEOUT),
            image=dict(type="str", required=True),
            build_id=dict(type="str", required=True),
            port=dict(type="int"),
            wait_for_command=dict(type="raw"),
            http=dict(type="dict", options=dict(
                path=dict(type="str", default="/"),
                status=dict(type="int", default=200),
                body_contains=dict(type="str"),
                body_regex=dict(type="str"),
                scheme=dict(type="str", choices=["http", "https"], default="http"),
            )),
            command_probe=dict(type="dict", aliases=["command"], options=dict(
                cmd=dict(type="raw", required=True),
                rc=dict(type="int", default=0),
                stdout_contains=dict(type="str"),
            )),
            network_mode=dict(type="str", default="bridge"),
            env=dict(type="dict", default={}),
        ),
        required_one_of=[("port", "wait_for_command", "command_probe")],
        required_by={"http": "port"},
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode:
        module.exit_json(changed=False, msg="check mode: the run test of %s was not run" % p["image"])
    try:
        client = get_client(p["docker_host"])
    except DockerFailure as e:
        module.fail_json(msg=str(e), stage="verify", failed_check="engine", passed=[])
    signal.signal(signal.SIGTERM, _interrupted)  # the test container is removed on the way out
    try:
        result = RunTest(client).run(
            p["image"], p["build_id"], port=p["port"], wait_for_command=p["wait_for_command"], http=p["http"],
            command=p["command_probe"], timeout=p["timeout"], network_mode=p["network_mode"],
            env={str(k): str(v) for k, v in p["env"].items()})
    except VerifyFailure as e:
        module.fail_json(msg=str(e), stage=e.stage, **e.result())
    except Interrupted as e:
        module.fail_json(msg="the run test of %s was interrupted (%s); its container was removed" % (p["image"], e),
                         stage="verify", failed_check="interrupted", passed=[])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
