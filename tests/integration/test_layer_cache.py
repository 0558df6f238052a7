# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The per-role layer cache on a real engine: hits skip roles, changes invalidate from that point on,
failed roles are never cached, and a cached build yields the same image config as a cold one."""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BASE_IMAGE, ansible_env, build_containers, run_build, sh_in_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# Each role records a nonce: if a role ran again, its nonce changes.
ROLE = """
- name: Record that {name} ran
  ansible.builtin.shell: "echo {name} {{{{ {name}_value }}}} $(cat /proc/sys/kernel/random/uuid) > /ran-{name}"
  changed_when: true
- name: Fail when asked
  ansible.builtin.fail:
    msg: "{name} was asked to fail"
  when: {name}_fail | bool
"""


@pytest.fixture
def cached_project(project, remove_images, docker_client):
    for name in ("one", "two", "three"):
        project.role(name, ROLE.format(name=name), defaults={"%s_value" % name: "v1", "%s_fail" % name: False})
    project.file("files/data.txt", "data v1\n")
    remove_images("cachetest")
    remove_images("immutable-images-cache/cachetest")
    return project


def definition(two_value="v1", two_fail=False, cache=True, force=False):
    return {
        "image_name": "cachetest", "image_version": "1.0.0", "image_gather_facts": False, "image_cache": cache,
        "image_force": force,
        "image_files": [{"src": "files/", "dest": "/data"}],
        "image_roles": ["one", {"role": "two", "vars": {"two_value": two_value, "two_fail": two_fail}}, "three"],
        "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never",
                           "config": {"cmd": ["cat", "/ran-one"]}}],
    }


def ran(output):
    """Roles whose tasks ran in this build (a cached role is still included, its tasks left out)."""
    return [name for name in ("one", "two", "three")
            if re.search(r"TASK \[%s : Record that %s ran\] \**\nchanged:" % (name, name), output)]


def upload_result(output):
    """What the first role's layer lookup (which uploads the image files on a miss) printed, up to the next task."""
    part = output.split("TASK [immutable.images.provision : Role one (1 of 3): look up its layer]", 1)[1]
    return part.split("TASK [", 1)[0]


def nonces(client):
    return sh_in_image(client, "cachetest:1.0.0", "cat /ran-one /ran-two /ran-three /data/data.txt").splitlines()


def test_hits_skip_roles_and_changes_invalidate_from_that_point(docker_client, cached_project):
    project = cached_project
    cold = run_build(project.path, definition())
    assert cold.returncode == 0, cold.output
    assert ran(cold.output) == ["one", "two", "three"]
    # two steps per role: the next role's lookup stores the layer of the role that ran, sync the last one's
    assert "store its layer" not in cold.output
    for title in ("Role two (2 of 3)", "Role three (3 of 3)"):
        assert re.search(r"TASK \[immutable.images.provision : %s: look up its layer\] \**\nchanged:" % re.escape(title),
                         cold.output), cold.output
    assert len(docker_client.images.list(name="immutable-images-cache/cachetest")) == 3
    cold_state = nonces(docker_client)
    cold_config = docker_client.images.get("cachetest:1.0.0").attrs["Config"]
    # committed from the last layer (docker_image_commit from_layer): the roles' changes are in one layer, the
    # cache's, which the artifact shares; the commit itself added no layer
    last = max(docker_client.images.list(name="immutable-images-cache/cachetest"), key=lambda i: i.attrs["Created"])
    artifact = docker_client.images.get("cachetest:1.0.0")
    assert artifact.attrs["RootFS"]["Layers"] == last.attrs["RootFS"]["Layers"], "the roles' changes were written twice"
    assert artifact.attrs["Config"]["Labels"]["immutable.images.kind"] == "artifact"

    warm = run_build(project.path, definition())
    assert warm.returncode == 0, warm.output
    assert ran(warm.output) == []
    assert nonces(docker_client) == cold_state, "a fully cached build must have the same content"
    warm_config = docker_client.images.get("cachetest:1.0.0").attrs["Config"]
    for key in ("Cmd", "Entrypoint", "User", "Env", "WorkingDir", "ExposedPorts"):
        assert warm_config.get(key) == cold_config.get(key), key
    assert not warm_config.get("Entrypoint"), "the builder's entrypoint leaked through a cache layer"

    changed_var = run_build(project.path, definition(two_value="v2"))
    assert changed_var.returncode == 0, changed_var.output
    assert ran(changed_var.output) == ["two", "three"]
    # the first role's layer holds the files: they are not uploaded again (the content check below reads them); the
    # builder started at that layer, which the step before the roles took, so the role's lookup did not run either
    assert "changed: [cachetest-container]" in upload_result(cold.output)
    assert "skipping: [cachetest-container]" in upload_result(changed_var.output)
    assert _step_result(changed_var.output, TAKE).startswith("ok:")
    state = nonces(docker_client)
    assert state[0] == cold_state[0] and state[1].startswith("two v2") and state[2] != cold_state[2]

    (project.path / "files" / "data.txt").write_text("data v2\n")
    changed_file = run_build(project.path, definition(two_value="v2"))
    assert changed_file.returncode == 0, changed_file.output
    assert ran(changed_file.output) == ["one", "two", "three"]
    assert nonces(docker_client)[3] == "data v2"


def builder_events(client, output, since, event):
    """How many events `event` of its builder containers the engine had for the build that printed `output`."""
    build_id = re.search(r"cachetest 1\.0\.0, build (\S+),", output).group(1)
    events = client.api.events(since=since, until=int(time.time()) + 1, decode=True,
                               filters={"type": "container", "event": event})
    return sum(1 for e in events if e["Actor"]["Attributes"].get("name", "").startswith("immutable-cachetest-container-")
               and build_id in e["Actor"]["Attributes"]["name"])


def builders_created(client, output, since):
    """How many builder containers the engine created for the build that printed `output` (a swap to a cached layer
    creates the builder again, under the same name); the pins and the artifact's stand-in are not builders."""
    return builder_events(client, output, since, "create")


def execs_on_builder(client, output, since):
    """How many commands the build that printed `output` ran in its builder (each docker exec of its session, and of the
    modules without one)."""
    return builder_events(client, output, since, "exec_create")


def test_the_builder_starts_from_the_layers_the_plan_expects(docker_client, cached_project):
    """When only the last role changed, the plan finds the layers of the roles before it (their keys computed as the
    lookups compute them) and the builder starts from the last of them: created once, never swapped. Where a role's
    vars hold a template, the plan cannot know its key: the builder starts at the layer before it and is swapped,
    with the same result. A literal build_env (the lookups' task environment) is keyed alike by the plan."""
    project = cached_project
    since = int(time.time())
    cold = run_build(project.path, definition())
    assert cold.returncode == 0, cold.output
    assert "builder: starts from the layer cache" not in cold.output
    assert builders_created(docker_client, cold.output, since) == 1
    cold_state = nonces(docker_client)

    (project.path / "roles" / "three" / "defaults" / "main.yml").write_text("three_value: v2\nthree_fail: false\n")
    last = run_build(project.path, definition())
    assert last.returncode == 0, last.output
    assert "builder: starts from the layer cache, at the layer of its first 2 roles" in last.output
    assert ran(last.output) == ["three"]
    assert builders_created(docker_client, last.output, since) == 1, "the builder was swapped"
    state = nonces(docker_client)
    assert state[:2] == cold_state[:2] and state[2].startswith("three v2") and state[3] == "data v1"

    (project.path / "roles" / "three" / "defaults" / "main.yml").write_text("three_value: v3\nthree_fail: false\n")
    templated = run_build(project.path, definition(two_value="{{ 'v1' }}"))
    assert templated.returncode == 0, templated.output
    assert "at the layer of its first 1 role\n" in templated.output.replace("\\n", "\n")
    assert ran(templated.output) == ["three"]  # role two's templated vars give the same key: its layer is found
    assert builders_created(docker_client, templated.output, since) == 2
    state = nonces(docker_client)
    assert state[:2] == cold_state[:2] and state[2].startswith("three v3")

    # a build_env is the lookups' task environment: part of the keys, which the plan computes alike from its values
    with_env = definition()
    with_env["image_targets"][0]["build_env"] = {"CACHE_TEST_PROXY": "http://proxy.invalid:3128", "CACHE_TEST_N": 2}
    first = run_build(project.path, with_env)
    assert first.returncode == 0, first.output
    assert ran(first.output) == ["one", "two", "three"] and "builder: starts from" not in first.output
    (project.path / "roles" / "three" / "defaults" / "main.yml").write_text("three_value: v4\nthree_fail: false\n")
    again = run_build(project.path, with_env)
    assert again.returncode == 0, again.output
    assert "at the layer of its first 2 roles" in again.output and ran(again.output) == ["three"]
    assert builders_created(docker_client, again.output, since) == 1


def test_with_facts_the_builder_starts_at_a_layer_only_when_no_role_is_expected_to_run(
        docker_client, cached_project, tmp_path):
    """Facts are gathered on the base image, at the first role that runs: with them, the plan starts the builder at a
    layer only when it expects every layer (then no facts are needed). Should a role have to run after all (here the
    last layer is removed after the plan found it, while the build is frozen before its builder starts), the builder
    starts from the base image, where the first lookup that misses gathers the facts, and goes on to the layer before
    that role. Here the plan expects every layer and finds the last one's packages recorded: it does not start the
    builder; with its layer gone, the builder is started after all, from the base image, and provisioned as any other.
    (A builder launched at the last layer goes back to the base image for them: the unit tests.)"""
    project = cached_project
    env = {"XDG_CACHE_HOME": str(tmp_path / "records")}
    spec = dict(definition(), image_gather_facts=True)
    since = int(time.time())
    cold = run_build(project.path, spec, env=env)
    assert cold.returncode == 0, cold.output
    (project.path / "roles" / "three" / "defaults" / "main.yml").write_text("three_value: v2\nthree_fail: false\n")
    last = run_build(project.path, spec, env=env)
    assert last.returncode == 0, last.output
    assert "builder: starts from" not in last.output and ran(last.output) == ["three"]
    assert builders_created(docker_client, last.output, since) == 2  # the facts on the base image, then the swap

    forced = dict(spec, image_force=True)
    cached = run_build(project.path, forced, env=env)
    assert cached.returncode == 0, cached.output
    assert "builder: not started" in cached.output and ran(cached.output) == []
    assert builders_created(docker_client, cached.output, since) == 1
    state = nonces(docker_client)

    newest = max(docker_client.images.list(name="immutable-images-cache/cachetest"), key=lambda i: i.attrs["Created"])
    def_file = project.path / "forced.yml"
    def_file.write_text(json.dumps(forced))
    proc = subprocess.Popen(["ansible-playbook", "immutable.images.build_image", "-e", "@%s" % def_file],
                            cwd=str(project.path), env=ansible_env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output, frozen = [], False
    try:
        for line in proc.stdout:
            output.append(line)
            if line.startswith("TASK [immutable.images.launch : Arm the build guard"):
                os.killpg(proc.pid, signal.SIGSTOP)  # the plan has found the last layer; the builder is not started
                frozen = True
                break
        assert frozen, "".join(output)
        # the layer, and first the artifacts committed from it (its child images)
        for child in docker_client.api.images(all=True):
            if child.get("ParentId") == newest.id:
                docker_client.images.remove(child["Id"], force=True)
        docker_client.images.remove(newest.id, force=True)
    finally:
        os.killpg(proc.pid, signal.SIGCONT)
    rest, _ = proc.communicate(timeout=600)
    out = "".join(output) + rest
    assert proc.returncode == 0, out
    assert "builder: not started" in out and ran(out) == ["three"]
    assert builders_created(docker_client, out, since) == 2  # at the base image (facts there), then the second layer
    again = nonces(docker_client)
    assert again[:2] == state[:2] and again[2] != state[2] and again[2].startswith("three v2")


def _sbom_packages(manifest_path):
    with open(manifest_path) as f:
        (target,) = json.load(f)["targets"]
    with open(target["artifact"]["sbom"]["path"]) as f:
        return sorted((c["name"], c.get("version")) for c in json.load(f)["components"])


def _step_result(output, name):
    """What the provision step of that name printed (its banner's line of stars left out)."""
    return output.split("TASK [immutable.images.provision : %s" % name, 1)[1].split("\n", 1)[1].split("TASK [", 1)[0]


TAKE = "Take the layers of the first roles from the cache, as the plan expects]"
SYNC = "Bring the builder to the last cached layer"


def test_a_build_whose_every_layer_is_cached_makes_its_image_of_the_layer_and_lists_no_packages_again(
        docker_client, cached_project, tmp_path):
    """Sync lists the last layer's packages and records them on the controller. A later build whose every layer is
    cached (the plan expects every lookup to find its layer) creates its builder at the last layer and does not start
    it: build_image runs no play of its own on it. The SBOM's packages are the record's, and the artifact is committed
    from the layer. Without the record, the builder is started at the last layer: the roles' steps are left out
    (layer_cache, state expected), and it lists the packages and records them again. A playbook of one's own starts
    it too. (Swapped to the layer without a record: the janitor race below.)"""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    records = tmp_path / "cache" / "immutable-images" / "inventories"
    spec = dict(definition(force=True), image_manifest=str(tmp_path / "manifest.json"))
    cold = run_build(cached_project.path, spec, env=env)
    assert cold.returncode == 0, cold.output
    assert len(os.listdir(records)) == 1
    cold_packages, cold_state = _sbom_packages(tmp_path / "manifest.json"), nonces(docker_client)
    assert "bash" in [name for name, _version in cold_packages]

    since = int(time.time())
    warm = run_build(cached_project.path, spec, env=env)
    assert warm.returncode == 0, warm.output
    # the plan expected every layer and found their packages recorded, and build_image runs no play of its own on the
    # builder: it was created at the last layer and never started; the provision play had no host
    assert "builder: not started; every role's layer is cached" in warm.output
    assert builders_created(docker_client, warm.output, since) == 1
    assert builder_events(docker_client, warm.output, since, "start") == 0
    assert re.search(r"PLAY \[Provision the builders\] \**\nskipping: no hosts matched", warm.output), warm.output
    assert ran(warm.output) == [] and TAKE not in warm.output and "look up its layer]" not in warm.output
    # no module's payload was built in advance
    assert re.search(r"TASK \[immutable.images.launch : Warm up an interpreter for the build's modules on the controller\] "
                     r"\**\nskipping:", warm.output), warm.output
    assert _sbom_packages(tmp_path / "manifest.json") == cold_packages
    assert nonces(docker_client) == cold_state
    last = max(docker_client.images.list(name="immutable-images-cache/cachetest"), key=lambda i: i.attrs["Created"])
    assert docker_client.images.get("cachetest:1.0.0").attrs["RootFS"]["Layers"] == last.attrs["RootFS"]["Layers"]
    # this build's (the other worker's tests build images of other names meanwhile)
    assert [c for c in build_containers(docker_client) if c.labels.get("immutable.images.image-name") == "cachetest"] == []

    shutil.rmtree(records)
    since = int(time.time())
    listed = run_build(cached_project.path, spec, env=env)
    assert listed.returncode == 0, listed.output
    assert execs_on_builder(docker_client, listed.output, since) > 0  # a session after all, to list the packages
    assert "at the layer of its first 3 roles" in listed.output
    assert _step_result(listed.output, TAKE).startswith("ok:"), listed.output
    assert _step_result(listed.output, SYNC).startswith("skipping:")
    assert "look up its layer]" not in listed.output and builders_created(docker_client, listed.output, since) == 1
    assert _sbom_packages(tmp_path / "manifest.json") == cold_packages and nonces(docker_client) == cold_state
    assert len(os.listdir(records)) == 1

    # A playbook of one's own that sets an environment around the provision role: it is in the lookups' keys, which the
    # plan did not know. The builder started at the layer the plan found, but the roles' steps look up their layers:
    # none is found, and every role runs.
    (cached_project.path / "around.yml").write_text(OWN_PLAYBOOK)
    (cached_project.path / "around-definition.yml").write_text(json.dumps(spec))
    around = subprocess.run(["ansible-playbook", "around.yml", "-e", "@around-definition.yml"], cwd=str(cached_project.path),
                            env=ansible_env(env), capture_output=True, text=True, timeout=600, check=False)
    output = around.stdout + around.stderr
    assert around.returncode == 0, output
    # the launch role in a playbook of one's own starts every builder (plays of one's own may run on it)
    assert "at the layer of its first 3 roles" in output and _step_result(output, TAKE).startswith("ok:"), output
    assert re.findall(r"Record that (\w+) ran\] \**\nchanged:", output) == ["one", "two", "three"], output
    assert nonces(docker_client)[:3] != cold_state[:3]


OWN_PLAYBOOK = """
- name: Launch
  hosts: localhost
  gather_facts: false
  roles: [immutable.images.launch]
- name: Provision, with an environment of this playbook's own
  hosts: image_builders
  gather_facts: false
  environment:
    CACHE_TEST_AROUND: "set by the playbook"
  roles: [immutable.images.provision]
- name: Finalize
  hosts: localhost
  gather_facts: false
  roles: [immutable.images.finalize]
"""


# The roles in a playbook of one's own, with plays of its own on the builders before and after the provision role.
AROUND_THE_ROLES = """
- name: Launch
  hosts: localhost
  gather_facts: false
  roles: [immutable.images.launch]
{before}
- name: Provision
  hosts: image_builders
  gather_facts: false
  roles: [immutable.images.provision]
{after}
- name: Finalize
  hosts: localhost
  gather_facts: false
  roles: [immutable.images.finalize]
"""
# A play of its own on the builders that writes one file (before or after their roles, the path, its content)
OWN_PLAY = """
- name: A play of this playbook's own on the builders, %s their roles
  hosts: image_builders
  gather_facts: false
  tasks:
    - name: Change the builder
      ansible.builtin.copy: {dest: %s, content: "%s\\n", mode: "0644"}
"""
PREPARE_PLAY = OWN_PLAY % ("before", "/prepared", "prepared")
FINISH_PLAY = OWN_PLAY % ("after", "/finished", "finished")


def test_plays_of_ones_own_on_the_builders_around_the_roles_as_in_a_play(docker_client, cached_project):
    """A play of one's own after the provision role changes the builder: its change is in the image, also when every
    role's layer came from the cache (before, the image was made of the last layer and lacked it). A play of one's own
    before it changes the builder: its roles run without the cache (a warning says why) and store no layer, which a
    later build of that image would have taken, with the play's change in it, under the roles' keys alone."""
    project = cached_project.path

    def own_playbook(before, after, spec):
        (project / "own.yml").write_text(AROUND_THE_ROLES.format(before=before, after=after))
        (project / "own-definition.yml").write_text(json.dumps(spec))
        proc = subprocess.run(["ansible-playbook", "own.yml", "-e", "@own-definition.yml"], cwd=str(project),
                              env=ansible_env(), capture_output=True, text=True, timeout=600, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        return output

    cold = run_build(project, definition())
    assert cold.returncode == 0, cold.output
    cold_state = nonces(docker_client)

    finished = own_playbook("", FINISH_PLAY, definition(force=True))
    assert ran(finished) == [] and nonces(docker_client) == cold_state, finished  # every layer from the cache
    assert sh_in_image(docker_client, "cachetest:1.0.0", "cat /finished") == "finished\n"

    prepared = own_playbook(PREPARE_PLAY, "", definition(two_value="v2", force=True))
    assert re.search(r"the builder was changed before its roles ran \(/prepared(, /root/\.ansible/tmp)?\)", prepared), prepared
    assert ran(prepared) == ["two", "three"]  # one's layer was where the builder was launched
    assert sh_in_image(docker_client, "cachetest:1.0.0", "cat /prepared") == "prepared\n"

    later = run_build(project, definition(two_value="v2"))
    assert later.returncode == 0, later.output
    assert ran(later.output) == ["two", "three"], later.output  # no layer of theirs was stored with /prepared in it
    assert sh_in_image(docker_client, "cachetest:1.0.0", "test ! -e /prepared && echo clean") == "clean\n"


BASE_ROLE = """
- name: Record that base ran
  ansible.builtin.shell: "echo base $(cat /proc/sys/kernel/random/uuid) > /ran-base"
  changed_when: true
- name: Register a result
  ansible.builtin.command: echo registered
  register: base_result
  changed_when: false
- name: A task tagged always
  ansible.builtin.command: touch /base-always
  changed_when: true
  tags: [always]
"""
APP_ROLE = """
- name: Write what the earlier role left
  ansible.builtin.copy:
    content: "{{ base_greeting }} {{ app_value }} {{ base_result.stdout | default('undefined') }}\n"
    dest: /app
    mode: "0644"
"""


def test_a_cached_role_is_included_without_its_tasks(docker_client, project, remove_images):
    """A cached role's tasks are left out when it is included (tagged never there): not started one by one to be
    skipped. A task tagged always still comes and is skipped. Later roles see its defaults; what it registered is
    undefined, as caching.md says."""
    project.role("base", BASE_ROLE, defaults={"base_greeting": "hello"})
    project.role("app", APP_ROLE, defaults={"app_value": "v1"})
    remove_images("cachedrole")
    remove_images("immutable-images-cache/cachedrole")

    def build(value):
        proc = run_build(project.path, {
            "image_name": "cachedrole", "image_version": "1.0.0", "image_gather_facts": False,
            "image_roles": ["base", {"role": "app", "vars": {"app_value": value}}],
            "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never"}]})
        assert proc.returncode == 0, proc.output
        return proc.output

    cold = build("v1")
    assert "TASK [base : Record that base ran]" in cold
    assert sh_in_image(docker_client, "cachedrole:1.0.0", "cat /app").split() == ["hello", "v1", "registered"]
    first = sh_in_image(docker_client, "cachedrole:1.0.0", "cat /ran-base")

    warm = build("v2")
    assert "TASK [base : Record that base ran]" not in warm and "TASK [base : Register a result]" not in warm, warm
    always = warm.split("TASK [base : A task tagged always]", 1)[1].split("TASK [", 1)[0]
    assert "skipping: [cachedrole-container]" in always, always
    assert sh_in_image(docker_client, "cachedrole:1.0.0", "cat /ran-base") == first  # base's layer, not run again
    assert sh_in_image(docker_client, "cachedrole:1.0.0", "cat /app").split() == ["hello", "v2", "undefined"]


TARGET_ROLE = """
- name: Write which target this is, as a role may
  ansible.builtin.copy:
    content: "{{ image_target.name }} {{ inventory_hostname }}\n"
    dest: /target
    mode: "0644"
"""


def test_two_targets_on_one_base_never_share_a_layer(docker_client, project, remove_images):
    """A role can read the target it builds: two targets of one image on the same base have their own layers. Before,
    their keys were the same, and a rebuild gave both images the layer the last builder had stored."""
    remove_images("pertarget")
    project.role("which", TARGET_ROLE)
    spec = {"image_name": "pertarget", "image_version": "1.0.0", "image_gather_facts": False, "image_roles": ["which"],
            "image_targets": [{"name": name, "type": "docker", "base_image": BASE_IMAGE, "pull": "never",
                               "tags": [name]} for name in ("dev", "prod")]}
    for force in (False, True):  # then every layer from the cache, a new image each
        proc = run_build(project.path, spec, "-e", "image_force=%s" % force)
        assert proc.returncode == 0, proc.output[-4000:]
        for name in ("dev", "prod"):
            assert sh_in_image(docker_client, "pertarget:" + name, "cat /target").split() == [name, "pertarget-" + name]
    assert proc.output.count("every role's layer is cached") == 2, proc.output


def test_failed_role_is_never_cached(docker_client, cached_project):
    project = cached_project
    failed = run_build(project.path, definition(two_fail=True))
    assert failed.returncode != 0
    assert "two was asked to fail" in failed.output
    layers = {i.id for i in docker_client.images.list(name="immutable-images-cache/cachetest")}
    assert len(layers) == 1, "only the role that succeeded (one) may be cached"

    fixed = run_build(project.path, definition())
    assert fixed.returncode == 0, fixed.output
    assert ran(fixed.output) == ["two", "three"], "role one is a hit; the failed role two must run again"


def test_cache_off_runs_every_role(docker_client, cached_project):
    project = cached_project
    for _ in range(2):
        # forced: an unchanged rerun would otherwise reuse the image and run no role at all
        proc = run_build(project.path, definition(cache=False, force=True))
        assert proc.returncode == 0, proc.output
        assert ran(proc.output) == ["one", "two", "three"]
    assert docker_client.images.list(name="immutable-images-cache/cachetest") == []
    # without the cache the builder itself is committed: one layer on the base image's
    base_layers = docker_client.images.get(BASE_IMAGE).attrs["RootFS"]["Layers"]
    assert docker_client.images.get("cachetest:1.0.0").attrs["RootFS"]["Layers"][:-1] == base_layers


def test_janitor_prunes_the_cache_to_the_newest_layers(docker_client, cached_project):
    proc = run_build(cached_project.path, definition())
    assert proc.returncode == 0, proc.output
    layers = docker_client.images.list(name="immutable-images-cache/cachetest")
    assert len(layers) == 3
    newest = max(layers, key=lambda i: i.attrs["Created"]).id
    janitor = subprocess.run(["ansible-playbook", "immutable.images.cleanup", "-e", "cleanup_max_age=30d",
                              "-e", "cleanup_cache_keep=1", "-e", '{"cleanup_image_names": ["cachetest"]}'], cwd=str(cached_project.path), env=ansible_env(),
                             capture_output=True, text=True, timeout=300)
    assert janitor.returncode == 0, janitor.stdout + janitor.stderr
    assert [i.id for i in docker_client.images.list(name="immutable-images-cache/cachetest")] == [newest]
    assert docker_client.images.get("cachetest:1.0.0")  # the artifact is untouched


def test_the_janitor_never_prunes_a_layer_a_running_build_has_looked_up(docker_client, project, remove_images):
    """A janitor run races a build that has just found its last layer in the cache: the build is frozen between
    the look-up and the step that starts the builder from the layer, the janitor prunes the cache to nothing,
    then the build goes on. The looked-up layer stays (its pin: the engine refuses to delete it), the others go,
    and the build succeeds from the layer (before: the janitor deleted it and the builder could not start)."""
    name = "guard-cacherace"
    remove_images(name)
    for role in ("one", "two"):
        project.role(role, ROLE.format(name=role), defaults={"%s_value" % role: "v1", "%s_fail" % role: False})
    # role one's vars hold a template: the plan cannot know its key, so the builder starts from the base image
    spec = {"image_name": name, "image_version": "1.0.0", "image_gather_facts": False, "image_force": True,
            "image_roles": [{"role": "one", "vars": {"one_value": "{{ 'v1' }}"}}, "two"],
            "image_targets": [{"name": "container", "type": "docker", "base_image": BASE_IMAGE, "pull": "never"}]}
    cold = run_build(project.path, spec)
    assert cold.returncode == 0, cold.output
    layers = docker_client.images.list(name="immutable-images-cache/" + name)
    assert len(layers) == 2
    last = max(layers, key=lambda i: i.attrs["Created"]).id  # role two's

    def_file = project.path / "warm.yml"
    def_file.write_text(json.dumps(spec))
    # no record of the last layer's packages (its own cache home): the builder is swapped to the looked-up layer
    proc = subprocess.Popen(["ansible-playbook", "immutable.images.build_image", "-e", "@%s" % def_file],
                            cwd=str(project.path), env=ansible_env({"XDG_CACHE_HOME": str(project.path / "no-records")}),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    output, frozen = [], False
    try:
        for line in proc.stdout:
            output.append(line)
            if "".join(output[-3:]).count("Role two (2 of 2): look up its layer]") and line.startswith("ok:"):
                os.killpg(proc.pid, signal.SIGSTOP)  # between the look-up (a hit) and the builder's swap to it
                frozen = True
                break
        assert frozen, "".join(output)
        janitor = subprocess.run(["ansible-playbook", "immutable.images.cleanup", "-e", "cleanup_max_age=0s",
                                  "-e", "cleanup_cache_keep=0", "-e", json.dumps({"cleanup_image_names": [name]})],
                                 cwd=str(project.path), env=ansible_env(), capture_output=True, text=True, timeout=300)
        assert janitor.returncode == 0, janitor.stdout + janitor.stderr
        left = {i.id for i in docker_client.images.list(name="immutable-images-cache/" + name)}
        assert left == {last}, "the janitor must prune every layer but the one the running build looked up"
    finally:
        os.killpg(proc.pid, signal.SIGCONT)
    rest, _ = proc.communicate(timeout=600)
    out = "".join(output) + rest
    assert proc.returncode == 0, out
    assert ran(out) == [] and "changed: [%s-container]" % name in out.split("Bring the builder to the last cached")[1]
    assert docker_client.images.get(name + ":1.0.0").attrs["Parent"] == last
    assert build_containers(docker_client) == [] or all(
        c.labels.get("immutable.images.image-name") != name for c in build_containers(docker_client))
