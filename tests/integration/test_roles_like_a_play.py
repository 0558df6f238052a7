# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Roles in a builder behave as in a play (issue 14): the facts a play gathers, nothing of ours in
ansible_facts, --tags/--skip-tags and entry tags select among the roles' tasks, handlers run once at
the end (also across roles, also with the layer cache), and services' runtime state (/run, /tmp) never
reaches the image."""

import hashlib
import json
import os
import random
import re
import subprocess

import pytest

from conftest import BASE_IMAGE, ansible_env, engine_state, new_resources, run_build, sh_in_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]

FACTS_ROLE = """
- name: Read facts a play gathers by default (not in the min subset)
  ansible.builtin.copy:
    dest: /facts.json
    content: "{{ {'vcpus': ansible_processor_vcpus, 'mounts': ansible_mounts | length,
                  'ipv4': ansible_default_ipv4 | default('no ip command'), 'subset': ansible_facts.gather_subset,
                  'processors': ansible_processor_count,
                  'service_mgr': ansible_service_mgr} | to_json }}"
    mode: "0644"

- name: Record what a play's magic variables say
  ansible.builtin.copy:
    dest: /play.json
    content: "{{ {'inventory_hostname': inventory_hostname, 'group_names': group_names,
                  'check_mode': ansible_check_mode, 'diff_mode': ansible_diff_mode,
                  'role_path': role_path, 'play_hosts': ansible_play_hosts,
                  'fact_keys': ansible_facts.keys() | select('match', 'immutable') | list} | to_json }}"
    mode: "0644"
"""

# A "service": started by a role, it must keep running for later roles and handlers, and its pid file and
# temporary files must not reach the image.
WEB_ROLE = """
- name: Start the web service
  ansible.builtin.shell: |
    nohup sleep 600 >/dev/null 2>&1 &
    echo $! > /run/web.pid
    echo lock > /var/run/web.lock
    echo scratch > /tmp/web.tmp
    echo scratch > /var/tmp/web.tmp
  args:
    creates: /run/web.pid

- name: Configure the web service
  ansible.builtin.copy:
    dest: /etc/web.conf
    content: "configured\\n"
    mode: "0644"
  notify: Restart web
"""

WEB_HANDLERS = """
- name: Restart web
  ansible.builtin.shell: |
    pid="$(cat /run/web.pid)"
    kill -0 "$pid" 2>/dev/null || echo "web was not running" >> /handler-runs
    # a stop as by start-stop-daemon waits until the pid is gone: PID 1 must reap it
    kill "$pid"
    for _ in 1 2 3 4 5 6 7 8 9 10; do [ -e "/proc/$pid" ] || break; sleep 0.5; done
    [ ! -e "/proc/$pid" ] || echo "web was not reaped" >> /handler-runs
    echo restarted >> /handler-runs
  changed_when: true
"""

# Notifies a handler another role defines; a play runs it once, at the end: not yet here.
APP_ROLE = """
- name: The web service started by the previous role still runs, and its handler has not run yet
  ansible.builtin.shell: kill -0 "$(cat /run/web.pid)" && test ! -e /handler-runs
  changed_when: false

- name: Configure the app
  ansible.builtin.copy:
    dest: /etc/app.conf
    content: "app\\n"
    mode: "0644"
  notify: Restart web
"""


def definition(name, roles, **extra):
    spec = {"image_name": name, "image_version": "1.0.0", "image_roles": roles,
            "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never"}]}
    spec.update(extra)
    return spec


def task_ran(output, task):
    """Whether the task ran (ok/changed), not merely appeared skipped (a cached role is included, tasks skipped)."""
    return re.search(r"TASK \[%s\] \**\n(ok|changed):" % re.escape(task), output) is not None


def build_hash(output):
    return re.search(r"build \S+, hash ([0-9a-f]+)", output).group(1)


GATHERING = "immutable.images.provision : Gathering Facts"


def built_as_played(docker_client, project, tmp_path, name, entries, listing):
    """Build image `name` of the project's roles `entries` (no facts), run the same list as a plain play's roles
    (plain_play), and return the output of the shell command `listing` in the image, which must be the play's."""
    proc = run_build(project.path, definition(name, entries, image_gather_facts=False))
    assert proc.returncode == 0, proc.output[-4000:]
    built = sh_in_image(docker_client, name + ":1.0.0", listing)
    assert plain_play(docker_client, project, tmp_path, name + "-container", entries, listing) == built
    return built


def plain_play(docker_client, project, tmp_path, host, roles, listing):
    """Run `roles` in a plain play in the project directory against a container of the base image, named `host` in
    the group image_builders as a builder is, without facts; the output of the shell command `listing` there."""
    container = docker_client.containers.run(BASE_IMAGE, ["-c", "sleep 600"], entrypoint=["/bin/sh"], detach=True,
                                             network_mode="none", labels={"immutable.images.test": host})
    try:
        (tmp_path / "inventory.yml").write_text(json.dumps({"image_builders": {"hosts": {host: {
            "ansible_host": container.name, "ansible_connection": "community.docker.docker_api",
            "ansible_python_interpreter": "/usr/bin/python3"}}}}))
        (project.path / "plain.yml").write_text(json.dumps([{"hosts": "image_builders", "gather_facts": False,
                                                             "roles": roles}]))
        plain = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inventory.yml"), "plain.yml"],
                               cwd=str(project.path), env=ansible_env(), capture_output=True, text=True, timeout=300,
                               check=False)
        assert plain.returncode == 0, plain.stdout + plain.stderr
        return container.exec_run(["sh", "-c", listing]).output.decode()
    finally:
        container.remove(force=True)


def test_facts_magic_vars_handlers_and_services_as_in_a_play(docker_client, project, remove_images):
    remove_images("roles-play")
    project.role("facts", FACTS_ROLE)
    project.role("web", WEB_ROLE, handlers=WEB_HANDLERS)
    project.role("app", APP_ROLE)
    spec = definition("roles-play", ["facts", "web", "app"])  # image_gather_facts and image_cache: defaults

    cold = run_build(project.path, spec)
    assert cold.returncode == 0, cold.output
    # no role input is a template: the first role's lookup (a miss) gathered the facts, not a step before the roles
    assert not task_ran(cold.output, GATHERING) and "TASK [%s]" % GATHERING in cold.output
    assert cold.output.count("RUNNING HANDLER [web : Restart web]") == 1, cold.output
    out = sh_in_image(docker_client, "roles-play:1.0.0",
                      "cat /facts.json; echo; cat /play.json; echo; cat /handler-runs;"
                      " ls -A /run /tmp /var/tmp /run/lock")
    facts, play, rest = out.split("\n", 2)
    facts, play = json.loads(facts), json.loads(play)
    # default_ipv4 needs iproute2, which the base image lacks: undefined, as in a play against the same container
    assert facts["vcpus"] >= 1 and facts["processors"] >= 1 and facts["mounts"] >= 1, facts
    assert facts["subset"] == ["all"] and facts["ipv4"] == "no ip command", facts
    assert facts["service_mgr"] == "sysvinit", facts  # PID 1 is the keepalive, not systemd: see docs
    assert play["fact_keys"] == [], "our state is in the roles' ansible_facts"
    assert play["group_names"] == ["image_builders"] and play["play_hosts"] == [play["inventory_hostname"]]
    assert play["check_mode"] is False and play["diff_mode"] is False
    assert play["role_path"].endswith("/roles/facts")
    assert rest.splitlines()[0] == "restarted", "the handler ran once, at the end, with the service running"
    assert "restarted" not in rest.splitlines()[1:]
    for leftover in ("web.pid", "web.lock", "web.tmp"):
        assert leftover not in rest, "the build's runtime state reached the image: %s" % rest

    # With the cache: the roles ran with a handler pending, so their layer was stored after it ran.
    warm = run_build(project.path, dict(spec, image_force=True))
    assert warm.returncode == 0, warm.output
    assert not task_ran(warm.output, "app : Configure the app"), "the last role's layer was not reused"
    assert not task_ran(warm.output, GATHERING), "facts were gathered although every layer came from the cache"
    assert sh_in_image(docker_client, "roles-play:1.0.0", "cat /handler-runs") == "restarted\n"


SETUP_ROLE = """
- name: Gather facts when nobody did (the os_hardening pattern)
  ansible.builtin.setup:
  when: not ansible_facts

- name: Use them
  ansible.builtin.copy:
    dest: /os.txt
    content: "{{ ansible_facts.os_family }}\\n"
    mode: "0644"
"""


def test_setup_when_not_ansible_facts_and_facts_setting_in_hash(docker_client, project, remove_images):
    remove_images("roles-nofacts")
    project.role("first", "- name: A role before\n  ansible.builtin.command: 'true'\n  changed_when: false\n")
    project.role("hardening", SETUP_ROLE)
    spec = definition("roles-nofacts", ["first", "hardening"], image_gather_facts=False)
    result = run_build(project.path, spec)
    assert result.returncode == 0, result.output
    gathered = result.output.split("TASK [hardening : Gather facts when nobody did", 1)[1].split("TASK [", 1)[0]
    assert "ok: [" in gathered and "skipping" not in gathered, gathered  # ansible_facts was empty
    assert sh_in_image(docker_client, "roles-nofacts:1.0.0", "cat /os.txt") == "Debian\n"

    # a role entry's vars may refer to facts: they are gathered before the roles, as in a play
    subset = run_build(project.path, dict(spec, image_gather_facts=["min"], image_roles=[
        {"role": "first", "vars": {"family": "{{ ansible_facts.os_family }}"}}, "hardening"]))
    assert subset.returncode == 0, subset.output
    assert task_ran(subset.output, GATHERING), subset.output
    assert build_hash(subset.output) != build_hash(result.output)
    assert task_ran(subset.output, "hardening : Use them"), "a build with other facts was reused"

    bad = run_build(project.path, dict(spec, image_gather_facts="yes please"))
    assert bad.returncode != 0 and "image_gather_facts: must be true" in bad.output, bad.output


REMEMBERING_ROLE = """
- name: Gather facts when nobody did (the os_hardening pattern)
  ansible.builtin.setup:
    gather_subset: [min]
  when: not ansible_facts

- name: Install once (a role that remembers what it did in a cacheable fact)
  ansible.builtin.copy: {dest: /installed, content: "{{ ansible_facts.distribution }}\\n", mode: "0644"}
  when: not app_installed | default(false)

- name: Remember it
  ansible.builtin.set_fact:
    app_installed: true
    cacheable: true
"""

# What an earlier run left in the fact cache under the builder's name, as an earlier build's builder would.
EARLIER_PLAY = """
- name: An earlier run with a host of the builder's name
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The host
      ansible.builtin.add_host:
        {name: roles-factcache-container, ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}"}

- name: Its facts
  hosts: roles-factcache-container
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: What the role remembers
      ansible.builtin.set_fact:
        app_installed: true
        cacheable: true
"""


def test_a_fact_cache_gives_a_builder_no_earlier_facts_and_keeps_none_of_its_own(docker_client, project, remove_images):
    """fact_caching: jsonfile, as many an ansible.cfg has it. The cache holds facts for the builder's name (the
    controller's, and a role's cacheable marker) from an earlier run: the builder sees none of them (the role gathers
    and installs), and after the build the cache holds nothing of it, neither the builder's facts nor the controller's
    warm interpreter environment."""
    remove_images("roles-factcache")
    cache = project.path / "facts"
    project.file("ansible.cfg", "[defaults]\nfact_caching = jsonfile\nfact_caching_connection = %s\n" % cache)
    project.role("remembers", REMEMBERING_ROLE)
    project.file("earlier.yml", EARLIER_PLAY)
    earlier = subprocess.run(["ansible-playbook", "earlier.yml"], cwd=str(project.path), env=ansible_env(),
                             capture_output=True, text=True, check=False)
    assert earlier.returncode == 0, earlier.stdout + earlier.stderr
    assert [name for name in os.listdir(cache) if "roles-factcache-container" in name]  # jsonfile's name for it

    result = run_build(project.path, definition("roles-factcache", ["remembers"], image_gather_facts=False))
    assert result.returncode == 0, result.output
    assert task_ran(result.output, "remembers : Gather facts when nobody did (the os_hardening pattern)"), result.output
    assert sh_in_image(docker_client, "roles-factcache:1.0.0", "cat /installed") == "Debian\n"
    left = {name: (cache / name).read_text() for name in os.listdir(cache)}
    # ansible-core itself writes an entry for localhost in any run (a plain play's too), here an empty one
    assert not [name for name in left if "factcache" in name] and "IMMUTABLE_IMAGES" not in str(left), left


# The three plays of one build, in a playbook of one's own (its definition as the launch and finalize plays' vars).
THREE_PLAYS = """
- name: Launch {build}
  hosts: localhost
  gather_facts: false
  vars: &definition{build}
    image_name: {name}
    image_version: "{version}"
    image_roles: [remembers]
    image_gather_facts: false
    image_cache: false
    image_force: true
    image_targets: [{{name: container, type: docker, base_image: "{base}", pull: never}}]
  roles: [immutable.images.launch]

- name: Provision {build}
  hosts: image_builders
  gather_facts: false
  roles: [immutable.images.provision]

- name: Finalize {build}
  hosts: localhost
  gather_facts: false
  vars: *definition{build}
  roles: [immutable.images.finalize]
"""


def test_each_build_of_a_run_starts_new_builders_as_two_runs_would(docker_client, project, remove_images):
    """A playbook runs the three plays twice for two versions of one image, then once for another image. Each build's
    builder is a new machine, as in two runs: the second of the same name sees nothing the first gathered or set (the
    role gathers and installs again), and the third build's provision play runs on its own builder only (not on the
    earlier builds', removed by then)."""
    remove_images("roles-twice")
    remove_images("roles-other")
    project.role("remembers", REMEMBERING_ROLE)
    project.file("three.yml", "".join(THREE_PLAYS.format(build=build, name=name, version=version, base=BASE_IMAGE)
                                      for build, name, version in (("A", "roles-twice", "1.0.0"),
                                                                   ("B", "roles-twice", "2.0.0"),
                                                                   ("C", "roles-other", "1.0.0"))))
    result = subprocess.run(["ansible-playbook", "three.yml"], cwd=str(project.path), env=ansible_env(),
                            capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for image in ("roles-twice:1.0.0", "roles-twice:2.0.0", "roles-other:1.0.0"):
        assert sh_in_image(docker_client, image, "cat /installed") == "Debian\n", image
    provision_c = output[output.index("PLAY [Provision C]"):output.index("PLAY [Finalize C]")]
    assert "[roles-twice-container]" not in provision_c and "[roles-other-container]" in provision_c, provision_c
    assert "fatal:" not in output, output


TAGGED_ROLE = """
- name: Tagged task
  ansible.builtin.copy: {dest: /config, content: "c\\n", mode: "0644"}
  tags: [config]

- name: Untagged task
  ansible.builtin.copy: {dest: /other, content: "o\\n", mode: "0644"}
"""


def test_tags_select_among_role_tasks_only(docker_client, project, remove_images):
    remove_images("roles-tags")
    project.role("tagged", TAGGED_ROLE)
    # inventory_dir as a play gives it (the DebOps secret role needs it): here it is written to /extra
    project.role("extra", '- name: Extra\n  ansible.builtin.copy: {dest: /extra, content: "{{ inventory_dir }}", mode: "0644"}\n')
    project.file("inventory/hosts.yml", "all: {hosts: {elsewhere: {ansible_connection: local}}}\n")
    spec = definition("roles-tags", ["tagged", {"role": "extra", "tags": ["extra"]}],
                      image_gather_facts=False, image_cache=False)
    listing = "for f in /config /other /extra; do test -e $f && echo $f; done; true"

    only = run_build(project.path, spec, "--tags", "config")
    assert only.returncode == 0, only.output
    assert sh_in_image(docker_client, "roles-tags:1.0.0", listing).split() == ["/config"]

    skipped = run_build(project.path, spec, "--skip-tags", "config")
    assert skipped.returncode == 0, skipped.output
    assert build_hash(skipped.output) != build_hash(only.output), "the tags are part of the build hash"
    assert sh_in_image(docker_client, "roles-tags:1.0.0", listing).split() == ["/other", "/extra"]
    # No inventory given (and none at ansible's default path): the project directory.
    no_inventory = "/etc/ansible" if os.path.exists("/etc/ansible/hosts") else os.path.realpath(project.path)
    assert sh_in_image(docker_client, "roles-tags:1.0.0", "cat /extra") == no_inventory

    entry = run_build(project.path, spec, "--tags", "extra", "-i", "inventory/hosts.yml")
    assert entry.returncode == 0, entry.output
    assert sh_in_image(docker_client, "roles-tags:1.0.0", listing).split() == ["/extra"]
    # With -i: the inventory's directory, as for a host of that inventory in a play.
    assert sh_in_image(docker_client, "roles-tags:1.0.0", "cat /extra") == str(project.path / "inventory")

    for option in (["--start-at-task", "Untagged task"], ["--step"]):
        refused = run_build(project.path, spec, *option)
        assert refused.returncode != 0 and "do not support %s" % option[0] in refused.output, refused.output

    # A limit applies to every play: one that leaves out localhost would build nothing and succeed, one that leaves
    # out the builders would start a builder no role reaches. Both are refused before anything is made.
    # (ansible-core refuses by itself a limit that matches no host of an inventory: here localhost is one.)
    project.file("inventory/limits.yml", "all: {hosts: {elsewhere: {ansible_connection: local}, localhost: "
                 "{ansible_connection: local, ansible_python_interpreter: '{{ ansible_playbook_python }}'}}}\n")
    before = engine_state(docker_client)
    for inventory, limit, left_out in (
            ([], "localhost", "leaves out the builders (the launch role adds them to the group image_builders)"),
            (["-i", "inventory/limits.yml"], "elsewhere", "leaves out localhost (where the build's own plays run) and "
                                                          "the builders"),
            (["-i", "inventory/limits.yml"], "localhost,!image_builders", "leaves out the builders")):
        refused = run_build(project.path, spec, *inventory, "--limit", limit)
        assert refused.returncode != 0 and left_out in refused.output, refused.output
        assert "TASK [" not in refused.output, "refused before the first task"
    assert new_resources(docker_client, before, "roles-tags") == {"containers": [], "images": []}
    # A limit that lets both through (ansible-core's patterns: `image_b*` takes in the group) builds as without one.
    limited = run_build(project.path, spec, "--tags", "config", "-i", "inventory/limits.yml",
                        "--limit", "localhost:image_b*", "-e", "image_force=true")  # built again, not reused
    assert limited.returncode == 0, limited.output
    assert re.search(r"\nroles-tags-\S+ +: ok=[1-9]", limited.output), "the roles ran on the builder"
    assert sh_in_image(docker_client, "roles-tags:1.0.0", listing).split() == ["/config"]


def test_a_run_configured_with_the_free_strategy_builds(docker_client, project, remove_images):
    # Shops set `strategy = free` in ansible.cfg for speed. The first play adds the builders with add_host, which the
    # free strategy refuses ("bypasses the host loop"): that play runs linear; the roles' play keeps free.
    remove_images("freestrategy")
    project.role("app", "- ansible.builtin.copy: {content: \"app\\n\", dest: /app.txt, mode: \"0644\"}\n")
    targets = [{"name": name, "type": "docker", "base_image": BASE_IMAGE, "pull": "never", "repository": "freestrategy",
                "tags": [name]} for name in ("one", "two")]
    before = engine_state(docker_client)
    proc = run_build(project.path, definition("freestrategy", ["app"], image_targets=targets, image_cache=False),
                     env={"ANSIBLE_STRATEGY": "free"})
    assert proc.returncode == 0, proc.output[-4000:]
    for tag in ("one", "two"):
        assert sh_in_image(docker_client, "freestrategy:" + tag, "cat /app.txt").strip() == "app"
    assert new_resources(docker_client, before, "freestrategy")["containers"] == []


RUN_ONCE_ROLE = """
- name: Fetch a version once
  ansible.builtin.command: echo 2.4.1
  register: once_version
  run_once: true
  changed_when: false

- name: Write it once
  ansible.builtin.copy:
    dest: /version
    content: "{{ once_version.stdout }}\\n"
    mode: "0644"
  run_once: true
"""


def test_every_target_runs_a_run_once_task_as_a_play_of_its_own(docker_client, project, remove_images):
    # A play against one image's host runs a run_once task on that host. The builders of several targets share the
    # roles' play: under linear a run_once task would run on the first builder only, and the other image (and its
    # cached layer) would lack what it did. With several builders, that play runs free, and ansible-core says so.
    remove_images("runonce")
    project.role("once", RUN_ONCE_ROLE)
    targets = [{"name": name, "type": "docker", "base_image": BASE_IMAGE, "pull": "never", "tags": [name]}
               for name in ("one", "two")]
    before = engine_state(docker_client)
    proc = run_build(project.path, definition("runonce", ["once"], image_targets=targets, image_gather_facts=False))
    assert proc.returncode == 0, proc.output[-4000:]
    for tag in ("one", "two"):
        assert sh_in_image(docker_client, "runonce:" + tag, "cat /version").strip() == "2.4.1", tag
    assert "Using run_once with the free strategy is not currently supported" in proc.output
    assert new_resources(docker_client, before, "runonce")["containers"] == []


PROJECT_FILES_ROLE = """
- name: Copy a file of the project by playbook_dir
  ansible.builtin.copy:
    src: "{{ playbook_dir }}/files/app.conf"
    dest: /etc/app.conf
    mode: "0644"

- name: Copy a file of the project by a relative path (looked for in the role's files/, then the play's)
  ansible.builtin.copy:
    src: motd
    dest: /etc/motd
    mode: "0644"

- name: Write a variable of the project's group_vars/
  ansible.builtin.copy:
    content: "{{ greeting }}\\n"
    dest: /greeting
    mode: "0644"

- name: Fetch a file to a directory of the project (a relative dest)
  ansible.builtin.fetch:
    src: /etc/app.conf
    dest: fetched/

- name: Use a module of the project's library/
  project_hello:
    name: builder
  register: hello

- name: Use a filter of the project's filter_plugins/
  ansible.builtin.copy:
    content: "{{ hello.greeting | project_shout }}\\n"
    dest: /hello
    mode: "0644"
"""
PROJECT_MODULE = """#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={"name": {"type": "str", "required": True}})
    module.exit_json(changed=False, greeting="hello " + module.params["name"])


if __name__ == "__main__":
    main()
"""
PROJECT_FILTERS = """class FilterModule:
    def filters(self):
        return {"project_shout": lambda text: str(text).upper() + "!"}
"""


def test_a_role_sees_the_project_as_a_play_beside_it_does(docker_client, project, remove_images, tmp_path):
    # The roles' play has the project directory as its base directory, as a playbook there: playbook_dir names it, a
    # relative src is found in its files/, and its group_vars/ reach the builders (no inventory is given: they come
    # only from there) and count in the build hash, as does the builder's own host_vars/. Before, that play's directory was the collection's playbooks/. The
    # project's library/ and filter_plugins/ are loaded, as ansible-playbook loads them beside a playbook there.
    remove_images("projectfiles")
    project.role("uses_project", PROJECT_FILES_ROLE)
    (project.path / "files").mkdir()
    (project.path / "files" / "app.conf").write_text("from the project\n")
    (project.path / "files" / "motd").write_text("welcome\n")
    (project.path / "group_vars").mkdir()
    (project.path / "group_vars" / "image_builders.yml").write_text("greeting: one\n")
    (project.path / "library").mkdir()
    (project.path / "library" / "project_hello.py").write_text(PROJECT_MODULE)
    (project.path / "filter_plugins").mkdir()
    (project.path / "filter_plugins" / "project_filters.py").write_text(PROJECT_FILTERS)
    listing = "cat /etc/app.conf /etc/motd /greeting /hello"
    spec = definition("projectfiles", ["uses_project"], image_gather_facts=False)

    first = run_build(project.path, spec)
    assert first.returncode == 0, first.output[-4000:]
    built = sh_in_image(docker_client, "projectfiles:1.0.0", listing)
    assert built.split("\n")[:4] == ["from the project", "welcome", "one", "HELLO BUILDER!"]
    fetched = project.path / "fetched" / "projectfiles-container" / "etc" / "app.conf"
    assert fetched.read_text() == "from the project\n", "fetched into the project, not into the collection"

    # The same role in a plain play in the project directory, against a container
    assert plain_play(docker_client, project, tmp_path, "projectfiles-container", ["uses_project"], listing) == built

    (project.path / "group_vars" / "image_builders.yml").write_text("greeting: two\n")
    second = run_build(project.path, spec)
    assert second.returncode == 0, second.output[-4000:]
    assert build_hash(second.output) != build_hash(first.output), "a changed group variable is an input"
    assert sh_in_image(docker_client, "projectfiles:1.0.0", "cat /greeting").strip() == "two"

    # the builder's own host_vars/, by its host name (<image>-<target>), as a play gives them to a host
    (project.path / "host_vars").mkdir()
    (project.path / "host_vars" / "projectfiles-container.yml").write_text("greeting: three\n")
    third = run_build(project.path, spec)
    assert third.returncode == 0, third.output[-4000:]
    assert build_hash(third.output) != build_hash(second.output), "a builder's own variable is an input"
    assert sh_in_image(docker_client, "projectfiles:1.0.0", "cat /greeting").strip() == "three"

    # What the role takes from the project's files/ by a relative name, and the project's plugins, are inputs too.
    # Before, both builds were the third one again: the same hash, the image reused with the old motd and greeting.
    (project.path / "files" / "motd").write_text("welcome again\n")
    fourth = run_build(project.path, spec)
    assert fourth.returncode == 0, fourth.output[-4000:]
    assert build_hash(fourth.output) != build_hash(third.output), "a file of the project's files/ is an input"
    assert sh_in_image(docker_client, "projectfiles:1.0.0", "cat /etc/motd").strip() == "welcome again"
    (project.path / "filter_plugins" / "project_filters.py").write_text(PROJECT_FILTERS.replace('+ "!"', '+ "?"'))
    fifth = run_build(project.path, spec)
    assert fifth.returncode == 0, fifth.output[-4000:]
    assert build_hash(fifth.output) != build_hash(fourth.output), "a plugin of the project is an input"
    assert sh_in_image(docker_client, "projectfiles:1.0.0", "cat /hello").strip() == "HELLO BUILDER?"


WHO_ROLE = """
- name: Who runs the role
  ansible.builtin.command: id -un
  register: who
  changed_when: false

- name: The role runs with the become the run asked for, as in a play
  ansible.builtin.assert:
    that: who.stdout == 'nobody'
"""


def test_a_become_of_the_run_is_the_roles_not_the_builds_own_steps(docker_client, project, remove_images):
    # Shops set `become = True` in ansible.cfg (or -b, or AWX's privilege escalation) for their roles. The build's own
    # plays on the controller took it too, and ran as another user: on a non-root controller without sudo, "sudo: not
    # found", and the launch failed. Here the run is root and becomes nobody with su, which cannot run the controller's
    # Python here nor open the engine's socket: the launch failed the same way.
    remove_images("becomeroles")
    project.role("who", WHO_ROLE)
    before = engine_state(docker_client)
    proc = run_build(project.path, definition("becomeroles", ["who"], image_gather_facts=False, image_cache=False),
                     env={"ANSIBLE_BECOME": "True", "ANSIBLE_BECOME_METHOD": "su", "ANSIBLE_BECOME_USER": "nobody",
                          "ANSIBLE_BECOME_FLAGS": "-s /bin/sh"})
    assert proc.returncode == 0, proc.output[-4000:]
    assert task_ran(proc.output, "who : The role runs with the become the run asked for, as in a play"), proc.output
    assert docker_client.images.get("becomeroles:1.0.0")
    assert new_resources(docker_client, before, "becomeroles")["containers"] == []


def test_an_inventorys_become_is_the_roles_not_the_builds_own_steps(docker_client, project, remove_images):
    # The same become from the inventory, as shops write it for every host (group_vars/all), with localhost listed (as
    # AWX's inventories often do). Its variables beat the build's plays' `become: false` keyword: the launch ran as
    # nobody and failed; its interpreter (not ansible-playbook's; here without the Docker SDK) stays unused.
    remove_images("invbecome")
    project.role("who", WHO_ROLE)
    project.file("inventory/hosts", "localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n")
    project.file("inventory/group_vars/all.yml", "ansible_become: true\nansible_become_method: su\n"
                                                 "ansible_become_user: nobody\nansible_become_flags: -s /bin/sh\n")
    before = engine_state(docker_client)
    proc = run_build(project.path, definition("invbecome", ["who"], image_gather_facts=False, image_cache=False),
                     "-i", "inventory")
    assert proc.returncode == 0, proc.output[-4000:]
    assert task_ran(proc.output, "who : The role runs with the become the run asked for, as in a play"), proc.output
    assert docker_client.images.get("invbecome:1.0.0")
    assert new_resources(docker_client, before, "invbecome")["containers"] == []


EARLY_ROLE = """
- name: Write what the entry's vars say, from the defaults of a role that runs later
  ansible.builtin.copy:
    content: "{{ early__list | to_json }}\\n"
    dest: /early-list
    mode: "0644"

- name: Write a variable of the later role's vars/main.yml
  ansible.builtin.copy:
    content: "{{ later__user }}\\n"
    dest: /early-user
    mode: "0644"
  notify: Restart later
"""
LATER_ROLE = """
- name: Count the runs of a task tagged always
  ansible.builtin.shell: echo run >> /later-always
  changed_when: false
  tags: [always]
"""
LATER_HANDLERS = """
- name: Restart later
  ansible.builtin.shell: echo restarted >> /later-handler
  changed_when: true
"""


def test_a_role_uses_what_a_later_role_defines_as_in_a_play(docker_client, project, remove_images, tmp_path):
    # A play loads every role before it runs any: DebOps' playbooks give a role a variable that refers to the
    # defaults of a role after it (etc_services__dependent_list: ['{{ memcached__etc_services__dependent_list }}']),
    # and a role may read a later one's vars/main.yml or notify its handler. Before, the first role's lookup failed
    # ("'later__early__dependent_list' is undefined"). Now the build loads every role first, without running any.
    remove_images("laterroles")
    project.role("early", EARLY_ROLE)
    dependent = [{"name": "memcache", "port": 11211}]
    later = project.role("later", LATER_ROLE, defaults={"later__early__dependent_list": dependent},
                         handlers=LATER_HANDLERS)
    (later / "vars").mkdir()
    (later / "vars" / "main.yml").write_text("later__user: svc\n")
    # as DebOps' playbooks write it: a role parameter beside `role`
    entries = [{"role": "early", "early__list": ["{{ later__early__dependent_list }}"]}, "later"]
    listing = "cat /early-list /early-user /later-handler /later-always"

    proc = run_build(project.path, definition("laterroles", entries, image_gather_facts=False))
    assert proc.returncode == 0, proc.output[-4000:]
    assert "TASK [Load every image role before the first runs, as a play does]" in proc.output
    built = sh_in_image(docker_client, "laterroles:1.0.0", listing)
    assert built.split("\n")[:4] == ['[[{"name": "memcache", "port": 11211}]]', "svc", "restarted", "run"], built

    # The same roles in a plain play, against a container
    assert plain_play(docker_client, project, tmp_path, "laterroles-container", entries, listing) == built

    # With the later role changed, the early one's notification must still reach the handler: its layer was not
    # stored before the handlers ran (the loaded roles' handlers count as pending), so it runs again.
    (later / "tasks" / "main.yml").write_text(LATER_ROLE + "\n- name: A new task\n  ansible.builtin.command: 'true'\n"
                                                           "  changed_when: false\n")
    again = run_build(project.path, definition("laterroles", entries, image_gather_facts=False))
    assert again.returncode == 0, again.output[-4000:]
    assert build_hash(again.output) != build_hash(proc.output)
    assert task_ran(again.output, "early : Write a variable of the later role's vars/main.yml"), "not from the cache"
    assert sh_in_image(docker_client, "laterroles:1.0.0", listing) == built


KEYWORDS_ROLE = """
- name: Who runs the role, and with which environment
  ansible.builtin.shell: echo "$KW_ENV $(id -un)"
  register: kw
  changed_when: false

- name: Write it as root (a task's own keyword wins over its role's, as in a play)
  ansible.builtin.copy:
    content: "{{ kw.stdout }}\\n"
    dest: /kw-env
    mode: "0644"
  become: false
"""
SKIPPED_ROLE = """
- name: Must not run
  ansible.builtin.copy:
    content: "ran\\n"
    dest: /skipped
    mode: "0644"
"""


def test_the_keywords_of_a_roles_entry_reach_its_tasks_as_in_a_play(docker_client, project, remove_images, tmp_path):
    # A roles: entry copied from a playbook may carry keywords for its role's tasks (when, become, environment, ...).
    # A play gives them to every task of the role; so does a build, through the role's include. Before, the entry was
    # refused ("unknown keys").
    remove_images("entrykeywords")
    project.role("kw_skip", SKIPPED_ROLE)
    project.role("kw_env", KEYWORDS_ROLE)
    entries = [{"role": "kw_skip", "when": "inventory_hostname == 'elsewhere'"},
               # a template, as playbooks often give it (`environment: "{{ proxy_env }}"`)
               {"role": "kw_env", "environment": "{{ kw_environment }}",
                "vars": {"kw_environment": {"KW_ENV": "from-the-entry"}},
                "become": True, "become_user": "nobody", "become_method": "su", "become_flags": "-s /bin/sh"}]
    listing = "cat /kw-env; test -e /skipped && echo ran || echo skipped"
    built = built_as_played(docker_client, project, tmp_path, "entrykeywords", entries, listing)
    assert built.split("\n")[:2] == ["from-the-entry nobody", "skipped"], built


NORMALIZING_ROLE = """
- name: Normalize what the entry gave, as roles do
  ansible.builtin.set_fact:
    users: "{{ users + ['root'] }}"

- name: Write what the role's tasks see from then on
  ansible.builtin.copy:
    content: "{{ users | to_json }}\\n"
    dest: /users
    mode: "0644"
"""


def test_an_entrys_vars_rank_below_what_the_role_sets_as_in_a_play(docker_client, project, remove_images, tmp_path):
    # A play's roles: entry's vars rank below what the role sets itself (set_fact, include_vars, registered results).
    # They reached the role as include params, above them: the role's set_fact was ignored (measured: ["app"]).
    remove_images("entryvars")
    project.role("normalizing", NORMALIZING_ROLE)
    entries = [{"role": "normalizing", "vars": {"users": ["app"]}}]
    built = built_as_played(docker_client, project, tmp_path, "entryvars", entries, "cat /users")
    assert built.strip() == '["app", "root"]', built


SELF_NAMING_ROLE = """
- name: Set a variable, as a role that computes what it uses
  ansible.builtin.set_fact:
    named_port: 8080

- name: Write what the entry gave, templated now
  ansible.builtin.copy:
    content: "{{ named_conf }} {{ named_url }}\\n"
    dest: /named
    mode: "0644"
"""


def test_an_entrys_variables_may_name_what_is_defined_only_when_its_role_runs_as_in_a_play(
        docker_client, project, remove_images, tmp_path):
    # A play templates a role's variables when a task reads them: an entry's var may name the role's own defaults, a
    # role parameter what the role sets, and a var nothing defines when no task reads it. The layer lookup templated
    # them all before the role ran: the build failed ("'named_home' is undefined") where the play passes. Now such a
    # variable counts in the layer's key by its text, and a build of the same inputs finds the layer.
    remove_images("namedlater")
    project.role("named", SELF_NAMING_ROLE, defaults={"named_home": "/opt/named"})
    entries = [{"role": "named", "named_url": "http://localhost:{{ named_port }}/",
                "vars": {"named_conf": "{{ named_home }}/conf", "named_unused": "{{ defined_nowhere }}"}}]
    built = built_as_played(docker_client, project, tmp_path, "namedlater", entries, "cat /named")
    assert built == "/opt/named/conf http://localhost:8080/\n", built
    again = run_build(project.path, definition("namedlater", entries, image_gather_facts=False, image_force=True))
    assert again.returncode == 0, again.output[-4000:]
    assert not task_ran(again.output, "named : Write what the entry gave, templated now"), "the layer was not found"
    assert sh_in_image(docker_client, "namedlater:1.0.0", "cat /named") == built


RANKING_ROLE = """
- name: Write what the role's tasks see
  ansible.builtin.shell: echo "start p={{ p }} v={{ v }} both={{ both }}" >> /ranks
  changed_when: true

- name: Set each of them, as a role that normalizes what it is given
  ansible.builtin.set_fact:
    p: set
    v: set
    both: set

- name: Write what the role's tasks see from then on
  ansible.builtin.shell: echo "after set_fact p={{ p }} v={{ v }} both={{ both }}" >> /ranks
  changed_when: true
  notify: Write what the handler sees
"""

RANKING_HANDLERS = """
- name: Write what the handler sees
  ansible.builtin.shell: echo "handler p={{ p }} v={{ v }} both={{ both }}" >> /ranks
  changed_when: true
"""


# What /ranks holds after the ranking entry, as a play writes it.
RANKED_AS_IN_A_PLAY = ["dependency p=param v=vars both=param", "start p=param v=vars both=param",
                       "after set_fact p=param v=set both=param", "handler p=param v=set both=param"]


def ranking_entry(project):
    """The project's role `ranking` (RANKING_ROLE, its handler, a dependency that writes what it sees) and the
    image_roles entry that gives it role parameters and vars, some of the same name."""
    project.role("ranked_dependency", """
        - name: Write what a dependency sees
          ansible.builtin.shell: echo "dependency p={{ p }} v={{ v }} both={{ both }}" >> /ranks
          changed_when: true
        """)
    base = project.role("ranking", RANKING_ROLE, handlers=RANKING_HANDLERS)
    (base / "meta").mkdir()
    (base / "meta" / "main.yml").write_text("dependencies: [ranked_dependency]\n")
    return {"role": "ranking", "p": "param", "both": "param", "vars": {"v": "vars", "both": "vars"}}


def test_role_parameters_rank_above_the_entrys_vars_and_what_the_role_sets_as_in_a_play(
        docker_client, project, remove_images, tmp_path):
    # A play ranks a roles: entry's parameters (its other keys) above its vars and above what the role sets itself,
    # in its tasks, its dependencies' and its handlers. They reached the role merged under the entry's vars, as vars:
    # below set_fact (measured: "after set_fact p=set", and "both=vars" where the play has "both=param").
    remove_images("roleparams")
    built = built_as_played(docker_client, project, tmp_path, "roleparams", [ranking_entry(project)], "cat /ranks")
    assert built.splitlines() == RANKED_AS_IN_A_PLAY, built


# Modules that move files between the controller and the builder, or run in the background: they go through the
# builder's connection (put_file, fetch_file, commands), not only through a module's own code.
MOVING_ROLE = r"""
- name: Directories
  ansible.builtin.file:
    path: "{{ item }}"
    state: directory
    mode: "0755"
  loop: [/opt/moves, /opt/moves/parts]

- name: Unpack an archive from the controller
  ansible.builtin.unarchive:
    src: bundle.tar.gz
    dest: /opt/moves

- name: Copy a directory of files
  ansible.builtin.copy:
    src: tree/
    dest: /opt/moves/tree/
    mode: preserve

- name: Run a script from the controller
  ansible.builtin.script: hello.sh /opt/moves/script-ran

- name: Run a raw command
  ansible.builtin.raw: echo raw > /opt/moves/raw

- name: Read a file of the builder
  ansible.builtin.slurp:
    src: /etc/debian_version
  register: moves__slurped

- name: Write what was read
  ansible.builtin.copy:
    dest: /opt/moves/slurped
    content: "{{ moves__slurped.content | b64decode }}"
    mode: "0644"

- name: Fetch a file to the controller
  ansible.builtin.fetch:
    src: /opt/moves/slurped
    dest: "{{ playbook_dir }}/fetched/{{ inventory_hostname }}"
    flat: true

- name: Copy back what was fetched
  ansible.builtin.copy:
    src: "{{ playbook_dir }}/fetched/{{ inventory_hostname }}"
    dest: /opt/moves/fetched-back
    mode: "0644"

- name: Copy a file within the builder
  ansible.builtin.copy:
    src: /etc/debian_version
    dest: /opt/moves/remote-copy
    remote_src: true
    mode: "0644"

- name: Write fragments
  ansible.builtin.copy:
    dest: "/opt/moves/parts/{{ item }}"
    content: "part {{ item }}\n"
    mode: "0644"
  loop: [b, a]

- name: Assemble them
  ansible.builtin.assemble:
    src: /opt/moves/parts
    dest: /opt/moves/assembled
    mode: "0644"

- name: A template checked before it is put in place
  ansible.builtin.template:
    src: conf.j2
    dest: /opt/moves/validated.conf
    validate: grep -q '^port=' %s
    mode: "0644"

- name: A block in a file
  ansible.builtin.blockinfile:
    path: /opt/moves/block
    create: true
    block: "one\ntwo"
    mode: "0644"

- name: A download from a file URL
  ansible.builtin.get_url:
    url: file:///etc/debian_version
    dest: /opt/moves/downloaded
    mode: "0644"

- name: A command reading stdin, in a directory, with an environment, in bash
  ansible.builtin.shell: cat > stdin-was && echo "$MOVES_VAR" > env-was
  args:
    chdir: /opt/moves
    stdin: from stdin
    executable: /bin/bash
  environment:
    MOVES_VAR: from the environment

- name: Pause a second
  ansible.builtin.pause:
    seconds: 1

- name: Start a job in the background and go on
  ansible.builtin.shell: sleep 1; echo fired > /opt/moves/fired
  async: 30
  poll: 0
  register: moves__job

- name: Wait for a job in the background
  ansible.builtin.shell: sleep 1; echo polled > /opt/moves/polled
  async: 30
  poll: 1

- name: Wait for the first job
  ansible.builtin.async_status:
    jid: "{{ moves__job.ansible_job_id }}"
  register: moves__status
  until: moves__status.finished
  retries: 30
  delay: 1

- name: Wait for its file
  ansible.builtin.wait_for:
    path: /opt/moves/fired

- name: Find what was written
  ansible.builtin.find:
    paths: /opt/moves
    recurse: true
  register: moves__found

- name: Take a checksum
  ansible.builtin.stat:
    path: /opt/moves/assembled
    checksum_algorithm: sha256
  register: moves__stat

- name: Write both down
  ansible.builtin.copy:
    dest: /opt/moves/found
    content: "{{ moves__found.matched }} {{ moves__stat.stat.checksum }}\n"
    mode: "0644"

- name: A task on the controller
  ansible.builtin.copy:
    dest: "{{ playbook_dir }}/on-the-controller-{{ inventory_hostname }}"
    content: "{{ inventory_hostname }}\n"
    mode: "0644"
  delegate_to: localhost
"""


def test_modules_that_move_files_or_run_in_the_background_as_in_a_play(docker_client, project, remove_images, tmp_path):
    remove_images("movingfiles")
    role = project.role("moving", MOVING_ROLE)
    (role / "files" / "tree" / "sub").mkdir(parents=True)
    (role / "files" / "tree" / "x").write_text("x\n")
    (role / "files" / "tree" / "sub" / "y").write_text("y\n")
    os.chmod(role / "files" / "tree" / "sub" / "y", 0o640)
    (role / "files" / "hello.sh").write_text('#!/bin/sh\necho script > "$1"\n')
    bundle = tmp_path / "bundle"
    (bundle / "sub").mkdir(parents=True)
    (bundle / "a.txt").write_text("a\n")
    (bundle / "sub" / "b.txt").write_text("b\n")
    subprocess.run(["tar", "-czf", str(role / "files" / "bundle.tar.gz"), "-C", str(tmp_path), "bundle"], check=True)
    (role / "templates").mkdir()
    (role / "templates" / "conf.j2").write_text("port={{ 8000 + 80 }}\n")
    listing = ("cd /opt/moves && find . -printf '%p %m %s\\n' | sort && cat slurped fetched-back remote-copy downloaded"
               " raw script-ran stdin-was env-was assembled validated.conf block fired polled found")
    built = built_as_played(docker_client, project, tmp_path, "movingfiles", ["moving"], listing)
    assert "./bundle/sub/b.txt 644 2" in built and "./tree/sub/y 640 2" in built, built
    assert "from stdin\nfrom the environment\npart a\npart b\nport=8080\n" in built, built
    assert (project.path / "on-the-controller-movingfiles-container").read_text() == "movingfiles-container\n"


# Files larger than a session request carries (connection/docker_session.py's SESSION_FILE_LIMIT, 16 MiB) go in and
# out of a docker builder through an exec of their own, in pieces: a session request held the whole file in memory
# in the task's worker, the relay and the agent, and could not carry 4 GiB at all.
LARGE_FILES_ROLE = r"""
- name: Copy a large file
  ansible.builtin.copy:
    src: large.bin
    dest: /opt/large.bin
    mode: "0640"

- name: Unpack a large archive from the controller
  ansible.builtin.unarchive:
    src: large.tar
    dest: /opt

- name: Fetch the large file back
  ansible.builtin.fetch:
    src: /opt/large.bin
    dest: "{{ playbook_dir }}/fetched-large/{{ inventory_hostname }}"
    flat: true
"""


def test_large_files_go_in_and_out_in_pieces_as_in_a_play(docker_client, project, remove_images, tmp_path):
    remove_images("largefiles")
    role = project.role("large_files", LARGE_FILES_ROLE)
    data = random.Random(19).randbytes(24 << 20)  # noqa: S311 - test data, not a secret
    (role / "files").mkdir()
    (role / "files" / "large.bin").write_bytes(data)
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "big.dat").write_bytes(data[::-1])
    subprocess.run(["tar", "-cf", str(role / "files" / "large.tar"), "-C", str(tmp_path), "inner"], check=True)
    digest, reversed_digest = hashlib.sha256(data).hexdigest(), hashlib.sha256(data[::-1]).hexdigest()
    listing = "cd /opt && sha256sum large.bin inner/big.dat && stat -c '%a %U %s' large.bin"

    proc = run_build(project.path, definition("largefiles", ["large_files"], image_gather_facts=False), "-vvv")
    assert proc.returncode == 0, proc.output[-4000:]
    # the copy, the archive and the fetch each in pieces, not through the session
    assert "FETCH /opt/large.bin (in pieces)" in proc.output
    assert len(re.findall(r"> PUT \S+ TO \S+ \(in pieces\)", proc.output)) >= 2, "copy and unarchive"
    assert (project.path / "fetched-large" / "largefiles-container").read_bytes() == data
    built = sh_in_image(docker_client, "largefiles:1.0.0", listing)
    assert built.splitlines() == ["%s  large.bin" % digest, "%s  inner/big.dat" % reversed_digest,
                                  "640 root %d" % len(data)], built
    assert plain_play(docker_client, project, tmp_path, "largefiles-container", ["large_files"], listing) == built
