# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Legal and release metadata that ansible-doc and Galaxy show: the licence, the authors, and version_added
values that agree with the releases in changelogs/changelog.yaml."""

from __future__ import annotations

import glob
import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# ansible-test's rule for an author line (validate-modules' schema), without its "!UNKNOWN" escape hatch
AUTHOR_LINE = re.compile(r"^\w.*\(@[\w-]+\)$")
DOC_PLUGIN_DIRS = ("modules", "connection", "callback", "lookup", "inventory")


def load(path):
    with open(os.path.join(ROOT, path)) as f:
        return yaml.safe_load(f)


def galaxy():
    return load("galaxy.yml")


def version_key(version):
    return tuple(int(part) for part in str(version).split("."))


def plugin_docs():
    for directory in DOC_PLUGIN_DIRS:
        for path in sorted(glob.glob(os.path.join(ROOT, "plugins", directory, "*.py"))):
            with open(path) as f:
                source = f.read()
            match = re.search(r'^DOCUMENTATION = r?"""(.*?)"""', source, re.S | re.M)
            if match:
                yield directory, os.path.basename(path)[:-3], yaml.safe_load(match.group(1))


def options_version_added(options, prefix=""):
    for name, spec in (options or {}).items():
        if "version_added" in spec:
            yield prefix + name, str(spec["version_added"])
        yield from options_version_added(spec.get("suboptions"), prefix + name + ".")


def released_modules():
    """{module name: the release that first listed it}; a renamed module counts from its old name's release."""
    first = {}
    releases = load("changelogs/changelog.yaml")["releases"]
    for version in sorted(releases, key=version_key):
        for entry in releases[version].get("modules", []):
            first.setdefault(entry["name"], version)
    for old, routing in load("meta/runtime.yml").get("plugin_routing", {}).get("modules", {}).items():
        if old in first and "redirect" in routing:
            first.setdefault(routing["redirect"].split(".")[-1], first[old])
    return first


def test_the_licence_is_shipped_and_declared():
    with open(os.path.join(ROOT, "COPYING")) as f:
        text = f.read()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text
    assert galaxy()["license"] == ["GPL-3.0-or-later"]


def test_authors_are_named_with_a_handle():
    assert all(AUTHOR_LINE.match(author) for author in galaxy()["authors"])
    for directory, name, doc in plugin_docs():
        authors = doc["author"] if isinstance(doc["author"], list) else [doc["author"]]
        assert all(AUTHOR_LINE.match(a) for a in authors), "%s/%s: %s" % (directory, name, authors)


def test_version_added_agrees_with_the_releases():
    current = str(galaxy()["version"])
    released = released_modules()
    wrong = []
    for directory, name, doc in plugin_docs():
        added = str(doc.get("version_added", ""))
        if directory == "modules":
            # the release that first listed the module, else the version being prepared
            expected = released.get(name, current)
            if added != expected:
                wrong.append("%s: version_added %s, expected %s" % (name, added, expected))
        elif version_key(added) > version_key(current):
            wrong.append("%s/%s: version_added %s is after %s" % (directory, name, added, current))
        for option, option_added in options_version_added(doc.get("options")):
            if not version_key(added) < version_key(option_added) <= version_key(current):
                wrong.append("%s/%s option %s: version_added %s (plugin %s, collection %s)"
                             % (directory, name, option, option_added, added, current))
    assert wrong == []


def test_every_released_module_still_answers_to_its_name():
    # a renamed module keeps its old name as a redirect in meta/runtime.yml
    present = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))}
    redirected = set(load("meta/runtime.yml").get("plugin_routing", {}).get("modules", {}))
    assert set(released_modules()) - present - redirected == set()


def plugins_page_modules():
    """docs/plugins.md: (public modules, internal modules), by the tables they are listed in."""
    with open(os.path.join(ROOT, "docs", "plugins.md")) as f:
        public_part, internal_part = f.read().split("## Internal", 1)
    public = set(re.findall(r"^\| module \| `immutable\.images\.(\w+)`", public_part, re.M))
    internal = {name for cell in re.findall(r"^\| ([^|]+) \|", internal_part, re.M)
                for name in re.findall(r"`(\w+)`", cell)}
    return public, internal


def test_internal_modules_say_so_and_are_listed_apart():
    public, internal = plugins_page_modules()
    said_internal = {name for directory, name, doc in plugin_docs()
                     if directory == "modules" and doc["short_description"].startswith("Internal - ")}
    modules = {name for directory, name, _doc in plugin_docs() if directory == "modules"}
    assert said_internal == internal
    assert public | internal == modules and not public & internal
