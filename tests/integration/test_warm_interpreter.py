# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The warm interpreter and the builder session: the same roles give the same image with them and without
them, modules really run in the warm interpreter (a forked child of the server) and commands really go
through the session's agent when they are on, and a builder whose session cannot start falls back."""

import subprocess
import time

import pytest

from conftest import BASE_IMAGE, ansible_env, run_build, sh_in_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROLE = """
- name: Gather the facts this role needs
  ansible.builtin.setup:
    gather_subset: [min]
- name: Create a group
  ansible.builtin.group:
    name: svc
- name: Create a user
  ansible.builtin.user:
    name: svc
    group: svc
    shell: /bin/bash
- name: Create a directory
  ansible.builtin.file:
    path: /srv/app
    state: directory
    owner: svc
    mode: "0750"
- name: Write a file from a template
  ansible.builtin.copy:
    content: "os={{ ansible_facts.distribution }} user={{ ansible_facts.user_id }} env={{ lookup('env', 'HOME') }}\\n"
    dest: /srv/app/info
    mode: "0640"
  notify: Record the handler
- name: Edit a line
  ansible.builtin.lineinfile:
    path: /srv/app/info
    line: "extra=1"
- name: Run a command with an environment
  ansible.builtin.shell: "echo build_env=$BUILD_FLAVOUR > /srv/app/env; umask > /srv/app/umask"
  environment:
    BUILD_FLAVOUR: warm-or-not
  changed_when: true
- name: Record which process ran this module
  ansible.builtin.shell: "tr '\\\\0' ' ' < /proc/$PPID/cmdline"
  register: who
  changed_when: false
- name: Keep it for the test
  ansible.builtin.copy:
    content: "{{ who.stdout }}\\n"
    dest: /module-process
    mode: "0644"
- name: Record which selector run_command reads a command's pipes with
  run_command_selector:
  register: selector
- name: Keep it for the test
  ansible.builtin.copy:
    content: "{{ selector.name }}\\n"
    dest: /run-command-selector
    mode: "0644"
- name: Record which process ran a raw command
  ansible.builtin.raw: "(tr '\\\\0' ' ' < /proc/$PPID/cmdline || echo none) > /raw-parent 2>/dev/null"
  changed_when: true
- name: A check-mode task reports without changing
  ansible.builtin.file:
    path: /srv/app/never
    state: touch
    mode: "0644"
  check_mode: true
- name: An expected failure is caught
  block:
    - name: Fail inside the module
      ansible.builtin.command: /bin/false
  rescue:
    - name: Record the failure
      ansible.builtin.copy:
        content: "rc={{ ansible_failed_result.rc }}\\n"
        dest: /srv/app/failure
        mode: "0644"
"""

HANDLERS = """
- name: Record the handler
  ansible.builtin.copy:
    content: "handler ran\\n"
    dest: /srv/app/handler
    mode: "0644"
"""

# a module of the role's own (library/): which selector ansible-core's run_command takes where the module runs
SELECTOR_MODULE = """
from ansible.module_utils import basic


def main():
    module = basic.AnsibleModule(argument_spec={})
    module.exit_json(changed=False, name=basic.selectors.PollSelector.__name__)


if __name__ == "__main__":
    main()
"""

STATE = ("cd /srv/app && for f in info env umask handler failure; do echo \"$f: $(cat $f)\"; done; "
         "ls /srv/app; stat -c '%U %G %a' /srv/app /srv/app/info; getent passwd svc | cut -d: -f1,6,7; ls /dev/shm")


def definition(warm):
    return {"image_name": "warmtest", "image_version": "1.0.0", "image_gather_facts": False, "image_cache": False,
            "image_force": True, "image_warm_interpreter": warm, "image_roles": ["app"],
            "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never",
                               "tags": ["warm" if warm else "cold"]}]}


def test_same_roles_same_image_with_and_without_the_warm_interpreter(docker_client, project, remove_images):
    remove_images("warmtest")
    project.role("app", ROLE, handlers=HANDLERS)
    project.file("roles/app/library/run_command_selector.py", SELECTOR_MODULE)
    results = {}
    for warm in (True, False):
        result = run_build(project.path, definition(warm), "-v")
        assert result.returncode == 0, result.output
        assert "the warm interpreter did not start" not in result.output
        if warm:  # no push, save or image_keep: no module runs on the controller, so no server is started there
            assert "no server: no module of this build runs on the controller as a module" in result.output
        tag = "warmtest:%s" % ("warm" if warm else "cold")
        results[warm] = (sh_in_image(docker_client, tag, STATE), sh_in_image(docker_client, tag, "cat /module-process"),
                         sh_in_image(docker_client, tag, "cat /raw-parent"),
                         sh_in_image(docker_client, tag, "cat /run-command-selector"))
        assert_no_relay_left()

    assert results[True][0] == results[False][0]
    state = results[True][0]
    assert "env: build_env=warm-or-not" in state and "handler: handler ran" in state and "failure: rc=1" in state
    assert "umask: 0022" in state and "never" not in state and "svc root 750" in state
    assert "os=Debian user=root env=/root" in state
    # a module forked from the warm server keeps the server's command line; a fresh one is python3 alone
    assert "immutable-images-warm/server.py" in results[True][1]
    assert "immutable-images-warm" not in results[False][1]
    # with the session, a command is a child of the agent; with docker_api, of no process in the container
    assert "immutable-images-warm/agent.py" in results[True][2]
    assert "immutable-images-warm" not in results[False][2]
    # in the warm server, run_command ends its loop once its command has ended, without its one-second stall
    assert (results[True][3].strip(), results[False][3].strip()) == ("_SelectorThatEndsWhenEmpty", "PollSelector")


def relays():
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if "module_utils/_warm/relay.py" in line]


def assert_no_relay_left():
    """A relay ends with its builder's exec or with ansible-playbook (checked every second)."""
    deadline = time.time() + 5
    while relays() and time.time() < deadline:
        time.sleep(0.2)
    assert relays() == []


FALLBACK_ROLE = """
- name: Write a file through the session
  ansible.builtin.copy:
    content: "before\\n"
    dest: /srv-before
    mode: "0644"
- name: Make the warm interpreter impossible to install again (a file where its directory goes)
  ansible.builtin.shell: rm -rf /dev/shm/immutable-images-warm && touch /dev/shm/immutable-images-warm
  changed_when: true
- name: End the session (the connection starts a new one, which cannot install what it needs)
  ansible.builtin.meta: reset_connection
- name: Write a file the docker_api way
  ansible.builtin.copy:
    content: "after\\n"
    dest: /srv-after
    mode: "0644"
- name: Run a command the docker_api way
  ansible.builtin.command: touch /srv-command
  changed_when: true
"""


def test_a_builder_without_a_session_falls_back_and_says_so(docker_client, project, remove_images):
    remove_images("warmtest")
    project.role("app", FALLBACK_ROLE)
    result = run_build(project.path, definition(True))
    assert result.returncode == 0, result.output
    assert result.output.count("no session with the builder") == 1, result.output
    assert "cannot install it in /dev/shm" in result.output
    state = sh_in_image(docker_client, "warmtest:warm", "cat /srv-before /srv-after; ls /srv-command")
    assert state.split() == ["before", "after", "/srv-command"]
    assert_no_relay_left()


CONTROLLER_PLAYBOOK = """
- name: Controller-side modules in the controller's warm interpreter
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Warm up
      immutable.images.warm_controller:
      register: warmup
    - name: Wait until it listens (a module that comes earlier runs the usual way)
      ansible.builtin.wait_for:
        path: "{{ warmup.env.IMMUTABLE_IMAGES_WARM.split('|')[0] }}"
        timeout: 20
    - name: Modules with its environment and pipelining
      environment: "{{ warmup.env }}"
      vars:
        ansible_pipelining: true
      block:
        - name: Record which process ran this module
          ansible.builtin.shell: "tr '\\\\0' ' ' < /proc/$PPID/cmdline; echo; echo \\"path=$PYTHONPATH\\""
          register: warm
          changed_when: false
        - name: A module fails as it would anywhere
          ansible.builtin.command: /bin/false
          register: failing
          failed_when: failing.rc != 1
    - name: The same module without it
      ansible.builtin.shell: "tr '\\\\0' ' ' < /proc/$PPID/cmdline"
      register: cold
      changed_when: false
    - name: Show both
      ansible.builtin.debug:
        msg: "WARM[{{ warm.stdout }}] COLD[{{ cold.stdout }}]"
"""


def long_local_temp(tmp_path):
    """ANSIBLE_LOCAL_TEMP deeper than a unix socket's address can name (107 bytes): as ansible-playbook's temporary
    directory is under a long home (~/.ansible/tmp/ansible-local-...), where the warm interpreter's and the session
    relays' sockets are."""
    path = tmp_path / ("long-home-" + "d" * 60)
    path.mkdir()
    assert len(str(path / "ansible-local-1234567abcdefgh" / "ii-0123456789abcdef.sock")) > 107
    return {"ANSIBLE_LOCAL_TEMP": str(path)}


@pytest.mark.parametrize("home", ["default", "long"])
def test_controller_modules_run_in_the_controller_warm_interpreter(tmp_path, home):
    (tmp_path / "controller.yml").write_text(CONTROLLER_PLAYBOOK)
    env = long_local_temp(tmp_path) if home == "long" else None
    result = subprocess.run(["ansible-playbook", "controller.yml"], cwd=tmp_path, env=ansible_env(env),
                            capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    warm = output.split("WARM[")[1].split("]")[0]
    cold = output.split("COLD[")[1].split("]")[0]
    assert "_warm/server.py" in warm and "_warm/server.py" not in cold
    assert "/warm/client" not in warm.split("path=")[1]  # the client's directory is not passed on
    deadline = time.time() + 5  # the server ends with ansible-playbook
    while time.time() < deadline and _servers(str(tmp_path)):
        time.sleep(0.2)
    assert not _servers(str(tmp_path))


PREBUILD_PLAYBOOK = """
- name: What the warm interpreter imports and builds in advance
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Warm up, for a role and a target type
      immutable.images.warm_controller:
        roles: ["{{ playbook_dir }}/roles/app"]
        target_types: [TARGET_TYPE]
      register: warm
    - name: Wait until the last of them is built (they are built in order)
      ansible.builtin.find:
        paths: "{{ warm.socket | dirname | dirname }}/ansiballz_cache"
        patterns: ["*LAST_MODULE*"]
      register: last
      until: last.matched > 0
      retries: 150
      delay: 0.2
    - name: List the payload cache
      ansible.builtin.find:
        paths: "{{ warm.socket | dirname | dirname }}/ansiballz_cache"
        excludes: ["*.lock"]
      register: cache
    - name: Ask a module in the warm interpreter what it has imported
      preloaded:
      environment: "{{ warm.env }}"
      vars:
        ansible_pipelining: true
      register: imported
    - name: Show both
      ansible.builtin.debug:
        msg: "CACHE[{{ cache.files | map(attribute='path') | map('basename') | join(' ') }}] IMPORTED[{{ imported.modules | join(' ') }}]"
"""
PREBUILD_ROLE = """
- name: Packages
  ansible.builtin.apt:
    name: git
- name: A template (its action runs copy, file and stat)
  template:
    src: a.j2
    dest: /a
- name: Debug runs no module of its own
  ansible.builtin.debug:
    msg: hello
"""
PRELOADED_MODULE = """#!/usr/bin/python
import sys

from ansible.module_utils.basic import AnsibleModule

module = AnsibleModule(argument_spec={})
module.exit_json(changed=False, modules=sorted(m for m in ("boto3", "docker", "requests") if m in sys.modules))
"""
# docker_builder, the commit and the clean-up run in their action's worker (execute_module): no payload, no import here
COLLECTION_MODULES = {"docker": ("package_inventory",),
                      "ec2": ("ec2_builder", "package_inventory", "ec2_ami_create", "ec2_cleanup")}


@pytest.mark.parametrize("target_type, preloaded", [("docker", ""), ("ec2", "boto3")])
def test_the_warm_interpreter_prepares_what_the_build_runs(tmp_path, target_type, preloaded):
    """It builds in advance the payloads of the collection's modules for the build's target types and of the modules
    the roles name (those that copy and template run included), not modules no task of the build runs (on two cores,
    the CPU for them was taken from the build), and imports what those modules import."""
    playbook = PREBUILD_PLAYBOOK.replace("TARGET_TYPE", target_type)
    (tmp_path / "prebuild.yml").write_text(playbook.replace("LAST_MODULE", COLLECTION_MODULES[target_type][-1]))
    (tmp_path / "roles" / "app" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "app" / "tasks" / "main.yml").write_text(PREBUILD_ROLE)
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "preloaded.py").write_text(PRELOADED_MODULE)
    result = subprocess.run(["ansible-playbook", "prebuild.yml"], cwd=tmp_path, env=ansible_env(),
                            capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    built = {name.split("-")[0] for name in output.split("CACHE[")[1].split("]")[0].split()}
    expected = {"ansible_collections.immutable.images.plugins.modules." + m for m in COLLECTION_MODULES[target_type]}
    expected |= {"ansible.modules." + m for m in ("apt", "copy", "file", "stat", "find")}  # find: this playbook's
    assert built == expected, output
    assert output.split("IMPORTED[")[1].split("]")[0] == preloaded, output


def _servers(_tmp):
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if "_warm/server.py" in line and "ansible-local-" in line]


SESSION_AT_UPLOAD_ROLE = """
- name: Wait, on the controller, for a session relay that no task of the builder has asked for yet
  ansible.builtin.command: pgrep -f module_utils/_warm/relay.py
  delegate_to: localhost
  register: relay_processes
  until: relay_processes.rc == 0
  retries: 50
  delay: 0.2
  changed_when: false
- name: Then use the builder
  ansible.builtin.command: touch /after-the-wait
  changed_when: true
"""


@pytest.mark.parametrize("home", ["default", "long"])
def test_the_builder_session_starts_before_the_builder_first_task(docker_client, project, remove_images, tmp_path, home):
    """The relay (which installs the warm interpreter and the agent) starts in the background before any task of
    the builder needs it: from docker_builder's hook at launch, or the connection's first use (the upload of
    image_files connects it first); nothing of it reaches the image. Also when its socket's path is longer than a
    unix socket's address (a long home)."""
    remove_images("warmtest")
    assert_no_relay_left()  # so that the relay the role waits for is this build's
    project.role("app", SESSION_AT_UPLOAD_ROLE)
    project.file("files/hello.txt", "hello\n")
    build = dict(definition(True), image_files=[{"src": "files/", "dest": "/opt/upload"}])
    result = run_build(project.path, build, env=long_local_temp(tmp_path) if home == "long" else None)
    assert result.returncode == 0, result.output
    assert "no session with the builder" not in result.output
    state = sh_in_image(docker_client, "warmtest:warm", "ls /after-the-wait; cat /opt/upload/hello.txt; ls /dev/shm")
    assert state.split() == ["/after-the-wait", "hello"]  # and nothing of the speed layer in the image
    assert_no_relay_left()
