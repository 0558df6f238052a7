# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options and module names that were retired keep old definitions and playbooks working, and say so."""

import subprocess

import pytest

from conftest import BASE_IMAGE, ansible_env, run_build

pytestmark = [pytest.mark.docker]


def test_image_mitogen_is_accepted_with_a_deprecation_warning(project, docker_client, docker_definition):
    definition = dict(docker_definition("tidy-retired"), image_mitogen=True)
    proc = run_build(project.path, definition, "--check", env={"ANSIBLE_DEPRECATION_WARNINGS": "1"})
    assert proc.returncode == 0, proc.output
    assert "image_mitogen has no effect" in proc.output
    assert "Mitogen" not in proc.output.split("image_mitogen has no effect")[0]  # the plan no longer mentions it


@pytest.mark.parametrize("old, new, args", [
    ("cleanup", "docker_cleanup", "build_id=20261125T2111Z-00ffee"),
    ("docker_image_push", "docker_image_publish", "image=tidy-renamed:none refs=127.0.0.1:1/tidy-renamed:x"),
])
def test_renamed_modules_answer_to_their_old_names_with_a_deprecation_warning(tmp_path, old, new, args):
    # check mode: the janitor finds nothing of a build that never ran, the push lists what it would push
    proc = subprocess.run(["ansible", "localhost", "-m", "immutable.images." + old, "-a", args, "--check"],
                          cwd=str(tmp_path), env=ansible_env({"ANSIBLE_DEPRECATION_WARNINGS": "1"}),
                          capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "immutable.images.%s has been deprecated" % old in output and "immutable.images.%s instead" % new in output


@pytest.mark.parametrize("option", ["message", "commit_message"])
def test_the_commit_message_option_and_its_deprecated_alias(tmp_path, docker_client, option):
    container = docker_client.containers.create(BASE_IMAGE, ["true"], name="tidy-commit-" + option)
    tag = "tidy-commit-message:" + option.replace("_", "-")
    try:
        proc = subprocess.run(["ansible", "localhost", "-m", "immutable.images.docker_image_commit", "-a",
                               "container=%s tags=%s %s='made by hand'" % (container.name, tag, option)],
                              cwd=str(tmp_path), env=ansible_env({"ANSIBLE_DEPRECATION_WARNINGS": "1"}),
                              capture_output=True, text=True, timeout=300, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        assert docker_client.images.get(tag).attrs["Comment"] == "made by hand"
        assert ("Alias 'message' is deprecated" in output) == (option == "message"), output
    finally:
        container.remove(force=True)
        for image in docker_client.images.list(name="tidy-commit-message"):
            docker_client.images.remove(image.id, force=True)
