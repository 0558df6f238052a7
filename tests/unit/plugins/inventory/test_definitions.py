# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory plugin immutable.images.definitions, loaded the way a user's run loads it: ansible-inventory with
the default configuration (the `auto` plugin finds it by the file's `plugin:` key; collection plugins are only
loadable by name through ansible's collection loader, which this test process does not install)."""

import json
import os
import subprocess
import textwrap

import pytest
from ansible.errors import AnsibleParserError
from ansible.parsing.dataloader import DataLoader

from ansible_collections.immutable.images.plugins.inventory import definitions


class InventoryFailed(Exception):
    pass


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def definition(path, name, **extra):
    lines = ["image_name: %s" % name, "image_version: '1.0.0'", "image_targets: [{name: c, type: docker}]"]
    lines += ["%s: %s" % kv for kv in extra.items()]
    return write(path, "\n".join(lines) + "\n")


def load(inventory_file):
    """ansible-inventory --list of the file: (groups -> hosts, host -> variables); an unparsed file fails."""
    env = dict(os.environ, ANSIBLE_INVENTORY_UNPARSED_FAILED="1", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(["ansible-inventory", "-i", str(inventory_file), "--list"], capture_output=True, text=True,
                          env=env, cwd=str(inventory_file.parent), timeout=120, check=False)
    if proc.returncode != 0:
        raise InventoryFailed(proc.stderr)
    # strings that are not trusted templates come out as {"__ansible_unsafe": value}: plain values here
    data = json.loads(proc.stdout, object_hook=lambda d: d["__ansible_unsafe"] if set(d) == {"__ansible_unsafe"} else d)
    groups = {name: sorted(g.get("hosts", [])) for name, g in data.items() if name != "_meta"}
    return groups, data["_meta"]["hostvars"]


def test_one_host_per_definition_through_ansible_inventory(tmp_path):
    """One ansible-inventory run (the slow part) covers what only a real load shows."""
    definition(tmp_path / "images" / "web.yml", "fleet-web", app_port=8080, image_cache="false", team="payments",
               image_tags="['{{ image_version }}']")
    definition(tmp_path / "images" / "worker.yaml", "fleet-worker", team="data")
    write(tmp_path / "images" / "notes.txt", "not a definition\n")
    write(tmp_path / "images" / "images.definitions.yml", "plugin: immutable.images.definitions\npaths: [.]\n")
    definition(tmp_path / "extra" / "one.yml", "fleet-one")
    write(tmp_path / "group_vars" / "image_definitions.yml", "image_cache: true\nimage_keep: {count: 3}\n")
    inv_file = write(tmp_path / "all.definitions.yml", """\
        plugin: immutable.images.definitions
        paths: [images, extra/one.yml]
        keyed_groups:
          - key: team
            prefix: team
        """)
    groups, hostvars = load(inv_file)
    # the inventory file inside images/ is not read as a definition, notes.txt neither
    assert groups["image_definitions"] == ["fleet-one", "fleet-web", "fleet-worker"]
    web = hostvars["fleet-web"]
    assert web["image_name"] == "fleet-web" and web["app_port"] == 8080
    assert web["ansible_connection"] == "local"
    assert web["ansible_python_interpreter"] == "{{ ansible_playbook_python }}"
    assert web["image_definition_file"] == str(tmp_path / "images" / "web.yml")
    # the definition's own value wins over group_vars; those give defaults to every definition
    assert web["image_cache"] is False and web["image_keep"] == {"count": 3}
    # the builders join this group to see the definition's variables; it holds only the definition's host
    assert web["image_builder_groups"] == ["image_definition_fleet_web"]
    assert groups["image_definition_fleet_web"] == ["fleet-web"]
    assert "app_port" not in hostvars["fleet-worker"]
    assert groups["team_payments"] == ["fleet-web"]  # constructed options (keyed_groups) work


@pytest.mark.parametrize("files, needle", [
    ({"a.yml": ("fleet-same", {}), "b.yml": ("fleet-same", {})}, "two definitions have image_name 'fleet-same'"),
    ({"a.yml": "image_name: [unclosed\n"}, "definition file %(dir)s/a.yml does not parse"),
    ({"a.yml": "- just\n- a list\n"}, "a.yml is not a mapping of variables"),
    ({"a.yml": "image_version: '1.0'\n"}, "a.yml sets no image_name"),
    ({"a.yml": "image_name: '{{ x }}'\n"}, "must be a plain name"),
])
def test_clear_errors(tmp_path, files, needle):
    for name, content in files.items():
        if isinstance(content, tuple):
            definition(tmp_path / "images" / name, content[0])
        else:
            write(tmp_path / "images" / name, content)
    paths = definitions.definition_files(["images"], str(tmp_path))
    with pytest.raises(AnsibleParserError) as err:
        definitions.read_definitions(DataLoader(), paths)
    assert needle % {"dir": tmp_path / "images"} in str(err.value)


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(AnsibleParserError, match="paths: nowhere does not exist"):
        definitions.definition_files(["nowhere"], str(tmp_path))


def test_verify_file_wants_the_definitions_suffix(tmp_path):
    plugin = definitions.InventoryModule()
    for name, ok in (("a.definitions.yml", True), ("a.definitions.yaml", True), ("a.yml", False), ("hosts", False)):
        path = write(tmp_path / name, "plugin: immutable.images.definitions\npaths: []\n")
        assert plugin.verify_file(str(path)) is ok, name
