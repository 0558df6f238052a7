# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The package layout of docs/development.md holds: module_utils and plugin_utils are packages by concern, each
importing only what its row there allows, and docs/package-layout.tsv (the record of the move from the flat
layout) names files that exist; the speed layer (module_utils/_warm) is imported by its owner only."""

from __future__ import annotations

import ast
import csv
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = "ansible_collections.immutable.images.plugins."

# package -> the collection packages it may import (docs/development.md, "Package layout")
MAY_IMPORT = {
    "module_utils/_common": set(),
    "module_utils/_docker": {"module_utils/_common", "module_utils/_ec2"},  # registry_auth: Amazon ECR's credentials
    "module_utils/_ec2": {"module_utils/_common"},
    "module_utils/_artifacts": {"module_utils/_common", "module_utils/_docker", "module_utils/_ec2"},
    "module_utils/_warm": {"module_utils/_docker"},
    "plugin_utils/_definition": {"module_utils/_common"},
    "plugin_utils/_artifacts": {"module_utils/_common", "module_utils/_docker", "module_utils/_ec2",
                                "module_utils/_artifacts"},
    "plugin_utils/_docker": {"module_utils/_common", "module_utils/_docker"},
    "plugin_utils/_guard": {"module_utils/_docker", "module_utils/_ec2"},
    "plugin_utils/_ec2": {"module_utils/_warm"},
}
FLAT_FILES = {"plugin_utils/_action_module.py", "plugin_utils/_redact.py", "plugin_utils/_builder_inventory.py",
              "plugin_utils/_run_limit.py"}


def library_files():
    for kind in ("module_utils", "plugin_utils"):
        for directory, _dirs, files in os.walk(os.path.join(ROOT, "plugins", kind)):
            for name in files:
                if name.endswith(".py") and name != "__init__.py":
                    yield os.path.relpath(os.path.join(directory, name), os.path.join(ROOT, "plugins"))


def collection_imports(path):
    """The collection packages (`module_utils/_docker`, ...) a file imports, lazily imported ones included."""
    with open(os.path.join(ROOT, "plugins", path)) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            if name.startswith(PREFIX):
                found.add("/".join(name[len(PREFIX):].split(".")[:2]))
    return found


def test_every_library_file_is_in_a_package_of_the_table():
    packages = {"/".join(p.split("/")[:2]) for p in library_files() if p not in FLAT_FILES}
    assert sorted(packages - set(MAY_IMPORT)) == [], "a new package needs its row here and in docs/development.md"


def test_packages_import_only_what_their_row_allows():
    wrong = {}
    for path in library_files():
        package = "/".join(path.split("/")[:2])
        allowed = MAY_IMPORT.get(package, set()) | {package}
        if path in FLAT_FILES:
            allowed = {package}
        extra = collection_imports(path) - allowed
        if extra:
            wrong[path] = sorted(extra)
    assert wrong == {}


def test_module_side_code_never_imports_controller_code():
    # A module's AnsiballZ payload carries module_utils only.
    for path in library_files():
        if path.startswith("module_utils/"):
            assert not any(p.startswith("plugin_utils") for p in collection_imports(path)), path
    for name in os.listdir(os.path.join(ROOT, "plugins", "modules")):
        if name.endswith(".py"):
            assert not any(p.startswith("plugin_utils") for p in collection_imports(os.path.join("modules", name))), name


# The speed layer (module_utils/_warm) has one owner per builder type and one on the controller: the docker builders'
# connection, which installs and starts what it needs, the ec2 builders' connection's warm (plugin_utils/_ec2/warm,
# which connection/ssh.py alone imports), and the controller's warm interpreter (warm_controller); no other plugin or
# library file imports it (docs/development.md, "The speed layer").
WARM_OWNERS = {"connection/docker_session.py", "plugin_utils/_ec2/warm.py", "action/warm_controller.py"}


def test_the_speed_layer_has_one_owner():
    importers = set()
    for directory, _dirs, files in os.walk(os.path.join(ROOT, "plugins")):
        for name in files:
            path = os.path.relpath(os.path.join(directory, name), os.path.join(ROOT, "plugins"))
            if name.endswith(".py") and not path.startswith("module_utils/_warm/") and \
                    "module_utils/_warm" in collection_imports(path):
                importers.add(path)
    assert importers == WARM_OWNERS


def test_the_table_of_moves_names_files_that_exist():
    with open(os.path.join(ROOT, "docs", "package-layout.tsv"), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    new = [r["new_path"] for r in rows]
    assert len(new) == len(set(new))
    assert [p for p in new if not os.path.isfile(os.path.join(ROOT, p))] == []
    assert [r["old_path"] for r in rows if r["old_path"] != r["new_path"] and os.path.exists(os.path.join(ROOT, r["old_path"]))] == []
    tests = [os.path.basename(p) for p in new if p.startswith("tests/")]
    assert len(tests) == len(set(tests)), "test directories have no __init__.py: basenames must stay unique"


def package_docstring(package):
    with open(os.path.join(ROOT, "plugins", package, "__init__.py")) as f:
        return ast.get_docstring(ast.parse(f.read())) or ""


def test_every_package_and_file_says_what_it_is_for():
    assert [p for p in MAY_IMPORT if not package_docstring(p).startswith("Private")] == []
    for path in library_files():
        with open(os.path.join(ROOT, "plugins", path)) as f:
            assert ast.get_docstring(ast.parse(f.read())), "%s: open with what the file is for" % path


def test_controller_packages_name_the_plugins_that_import_them():
    for package in [p for p in MAY_IMPORT if p.startswith("plugin_utils/")]:
        importers = set()
        for kind in ("action", "callback", "connection", "inventory", "lookup"):
            for name in os.listdir(os.path.join(ROOT, "plugins", kind)):
                if name.endswith(".py") and package in collection_imports(os.path.join(kind, name)):
                    importers.add(name[:-3])
        assert sorted(n for n in importers if "`%s`" % n not in package_docstring(package)) == [], package


def test_the_architecture_page_names_files_and_symbols_that_exist():
    # docs/development.md names code as `module_utils/_docker/janitor.DockerJanitor`: a newcomer follows the name
    with open(os.path.join(ROOT, "docs", "development.md")) as f:
        page = f.read()
    kinds = "module_utils|plugin_utils|action|modules|connection|callback|lookup|inventory"
    missing = []
    for path, symbol in set(re.findall(r"`((?:plugins/)?(?:%s)/[\w/]+(?:\.py)?)(?:\.(\w+))?[`(]" % kinds, page)):
        if "_podman" in path:  # the walk-through's hypothetical package
            continue
        path = os.path.join(ROOT, path if path.startswith("plugins/") else "plugins/" + path)
        found = [p for p in (path, path + ".py") if os.path.exists(p)]
        if not found:
            missing.append(path)
        elif symbol and os.path.isfile(found[-1]):
            with open(found[-1]) as f:
                if not re.search(r"^\s*(?:def|class) %s\b|^%s\s*=" % (symbol, symbol), f.read(), re.M):
                    missing.append("%s.%s" % (path, symbol))
    assert sorted(os.path.relpath(m, ROOT) for m in missing) == []
