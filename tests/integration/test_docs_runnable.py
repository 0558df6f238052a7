# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The words cannot drift from the behaviour: every shell block of README.md and docs/getting-started.md
marked `<!-- runnable ... -->` runs as written, in order, in one shell per page, from the checkout (the
way a reader pastes them), on the real engine; each block marked `<!-- output -->` must appear in what
the runnable block before it printed (build ids, digests and image ids aside). The minimal definition
of getting-started is checked with --check in a project laid out as the page says.

The pages build the example image `webapp` (tags 1.0.0, 1.0.1, latest) and run it as the container
`webapp` on 127.0.0.1:8080: afterwards the engine and the checkout are put back as they were (tags
that existed point where they did, everything new is removed).
"""

import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import ROOT, ansible_env, build_containers, image_tags, run_build, tags_of

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PAGES = ["README.md", os.path.join("docs", "getting-started.md")]
EXAMPLE = os.path.join(ROOT, "examples", "webapp")
REPOS = ("webapp", "immutable-images-cache/webapp")
MARK = "@@docs-block@@"


def blocks(page):
    """[(kind, text)] of the fenced blocks preceded by a `<!-- kind ... -->` marker line, in page order."""
    lines = open(os.path.join(ROOT, page)).read().splitlines()
    found = []
    for i, line in enumerate(lines[:-1]):
        marker = re.match(r"<!-- ([a-z-]+)\b.*-->$", line.strip())
        if marker and lines[i + 1].startswith("```"):
            end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
            found.append((marker.group(1), "\n".join(lines[i + 2:end])))
    return found


def normalized(text):
    """Without what changes from run to run; one line per line of a plan or summary (ansible prints `\\n`)."""
    text = text.replace("\\n", "\n")
    text = re.sub(r"\d{8}T\d{4}Z-[0-9a-f]{6}", "<build id>", text)
    text = re.sub(r"sha256:[0-9a-f]{64}", "<digest>", text)
    text = re.sub(r"\bimage [0-9a-f]{12}\b", "image <id>", text)
    return [re.sub(r'^"msg": "|"$', "", line.strip()) for line in text.splitlines() if line.strip()]


def tags(client):
    return {t: i for t, i in image_tags(client).items() if t.rsplit(":", 1)[0] in REPOS}


@pytest.fixture
def as_found(docker_client):
    """Refuse to run where the pages' names are taken; afterwards, put back the example's tags and files."""
    if docker_client.containers.list(all=True, filters={"name": "^/webapp$"}):
        pytest.fail("a container named webapp exists: the pages run one under that name")
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 8080)) == 0:
            pytest.fail("127.0.0.1:8080 is in use: the pages publish the example there")
    example = ["immutable.images.image-name=webapp", "immutable.images.kind=artifact"]
    built = docker_client.api.images(filters={"label": example})
    if built:  # a build of the same inputs would reuse one (the pages show the first build, its SBOM written)
        names = [t for i in built for t in tags_of(i)] or [i["Id"][7:19] for i in built]
        pytest.fail("the engine has images of the example built before (%s): remove them to run the pages"
                    % ", ".join(names))
    before = tags(docker_client)
    images_before = {i["Id"] for i in docker_client.api.images(all=True)}
    files = {name: open(os.path.join(EXAMPLE, name), "rb").read() for name in os.listdir(EXAMPLE)
             if os.path.isfile(os.path.join(EXAMPLE, name))}
    yield
    subprocess.run(["docker", "rm", "-f", "webapp"], capture_output=True, check=False)
    for tag, image_id in tags(docker_client).items():
        if tag not in before:
            docker_client.images.remove(tag)
        elif before[tag] != image_id:
            docker_client.images.get(before[tag]).tag(*tag.rsplit(":", 1))
    for image in docker_client.api.images(all=True, filters={"label": "immutable.images.image-name=webapp"}):
        if image["Id"] not in images_before and not tags_of(image):
            try:
                docker_client.images.remove(image["Id"], force=True)
            except Exception:  # noqa: BLE001 - a child of another new image, removed with it
                pass
    for name in os.listdir(EXAMPLE):
        path = os.path.join(EXAMPLE, name)
        if os.path.isfile(path) and name not in files:
            os.remove(path)
    for name, content in files.items():
        with open(os.path.join(EXAMPLE, name), "wb") as f:
            f.write(content)


def test_runnable_blocks_do_what_the_pages_say(docker_client, as_found):
    for page in PAGES:
        found = blocks(page)
        runnable = [text for kind, text in found if kind == "runnable"]
        assert runnable, "no runnable block in %s" % page
        script = "set -euo pipefail\n" + "".join('echo "%s $(date +%%s.%%N)"\n%s\n' % (MARK, text) for text in runnable)
        # IMMUTABLE_SETUP_DONE: scripts/build-example skips scripts/setup-env (getting-started runs it once itself)
        proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=ansible_env({"IMMUTABLE_SETUP_DONE": "1"}),
                              capture_output=True, text=True, timeout=600, check=False)
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            # which block: the markers printed so far; what it printed first (stderr), as reports cut long messages
            failed = runnable[proc.stdout.count(MARK) - 1]
            pytest.fail("%s: this runnable block failed (exit %d):\n%s\n--- stderr:\n%s\n--- stdout:\n%s" % (
                page, proc.returncode, failed, proc.stderr[-3000:], proc.stdout[-4000:]))
        parts = re.split(r"%s ([0-9.]+)\n" % MARK, proc.stdout)[1:]
        outputs, starts = parts[1::2], [float(t) for t in parts[0::2]]
        assert len(outputs) == len(runnable)
        durations = [round(b - a, 1) for a, b in zip(starts, starts[1:] + [time.time()])]
        print("%s: seconds per runnable block: %s" % (page, durations))
        assert "[WARNING]" not in output, "%s: the pages show no warnings:\n%s" % (page, output[-6000:])
        last = None
        for kind, text in found:
            if kind == "runnable":
                last = normalized(outputs[runnable.index(text)])
            elif kind == "output":
                assert last is not None, "%s: an output block before any runnable one" % page
                for line in normalized(text):
                    assert any(line in printed for printed in last), "%s: %r was not printed:\n%s" % (
                        page, line, "\n".join(last[-80:]))
    assert build_containers(docker_client) == [] or all(
        c.labels.get("immutable.images.image-name") != "webapp" for c in build_containers(docker_client))


def test_the_minimal_definition_is_valid_and_its_base_has_python(tmp_path):
    definition = next(text for kind, text in blocks(PAGES[1]) if kind == "minimal-definition")
    shutil.copytree(os.path.join(EXAMPLE, "roles"), str(tmp_path / "roles"))
    shutil.copytree(os.path.join(EXAMPLE, "dist"), str(tmp_path / "dist"))
    proc = run_build(tmp_path, definition, "--check")
    assert proc.returncode == 0, proc.output[-4000:]
    assert "in check mode: the definition is valid" in proc.output
    assert "NOT in the base image" not in proc.output and "[WARNING]" not in proc.output, proc.output[-4000:]
