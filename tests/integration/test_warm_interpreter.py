"""The warm interpreter: the same roles give the same image with it and without it, and modules really
run in it (a forked child of the server) when it is on."""

import pytest

from conftest import BASE_IMAGE, run_build, sh_in_image

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
    results = {}
    for warm in (True, False):
        result = run_build(project.path, definition(warm))
        assert result.returncode == 0, result.output
        assert "the warm interpreter did not start" not in result.output
        tag = "warmtest:%s" % ("warm" if warm else "cold")
        results[warm] = (sh_in_image(docker_client, tag, STATE), sh_in_image(docker_client, tag, "cat /module-process"))

    assert results[True][0] == results[False][0]
    state = results[True][0]
    assert "env: build_env=warm-or-not" in state and "handler: handler ran" in state and "failure: rc=1" in state
    assert "umask: 0022" in state and "never" not in state and "svc root 750" in state
    assert "os=Debian user=root env=/root" in state
    # a module forked from the warm server keeps the server's command line; a fresh one is python3 alone
    assert "immutable-images-warm/server.py" in results[True][1]
    assert "immutable-images-warm" not in results[False][1]
