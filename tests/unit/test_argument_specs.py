# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The launch role's argument spec (the definition's single source of truth) and definition.py agree."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.immutable.images.plugins.plugin_utils._definition import definition

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC_FILE = os.path.join(ROOT, "roles", "launch", "meta", "argument_specs.yml")


@pytest.fixture(scope="module")
def options():
    with open(SPEC_FILE) as f:
        return yaml.safe_load(f)["argument_specs"]["definition"]["options"]


@pytest.fixture(scope="module")
def target_options(options):
    return options["image_targets"]["options"]


def walk(opts, prefix=""):
    """(dotted name, option spec) for every option at every depth."""
    for name, spec in opts.items():
        path = prefix + name
        yield path, spec
        if spec.get("options"):
            yield from walk(spec["options"], path + ".")


def test_definition_reads_this_spec(options):
    assert os.path.samefile(definition.SPEC_PATH, SPEC_FILE)
    assert definition.load_definition_spec() == options


def test_target_keys_in_code_are_suboptions(target_options):
    code = definition.COMMON_TARGET_KEYS | definition.DOCKER_KEYS | definition.EC2_KEYS
    assert sorted(code - set(target_options)) == [], "keys checked in definition.py but not in the spec"


def test_target_suboptions_are_known_to_code(target_options):
    code = definition.COMMON_TARGET_KEYS | definition.DOCKER_KEYS | definition.EC2_KEYS
    assert sorted(set(target_options) - code) == [], "spec options that definition.py does not assign to a type"


def test_target_key_sets_are_disjoint():
    assert not definition.COMMON_TARGET_KEYS & definition.DOCKER_KEYS
    assert not definition.COMMON_TARGET_KEYS & definition.EC2_KEYS
    assert not definition.DOCKER_KEYS & definition.EC2_KEYS
    assert set(definition.KEYS_BY_TYPE) == set(definition.TARGET_TYPES)


def test_target_type_choices_match_code(target_options):
    assert target_options["type"]["choices"] == list(definition.TARGET_TYPES)
    assert target_options["type"]["required"] is True
    assert target_options["name"]["required"] is True


def test_top_level_options_are_image_vars(options):
    assert [k for k in options if not k.startswith("image_")] == []


def test_contract_variables_are_in_the_spec(options):
    # the names SPEC.md fixes for users and AWX surveys
    for name in ("image_name", "image_version", "image_files", "image_roles", "image_only", "image_on_error",
                 "image_manifest", "image_cache", "image_force", "image_verify", "image_scan_fail_on",
                 "image_keep", "image_targets"):
        assert name in options, name
    assert options["image_name"]["required"] and options["image_version"]["required"]
    assert options["image_targets"]["required"]
    assert options["image_on_error"]["choices"] == ["cleanup", "keep"]
    assert options["image_on_error"]["default"] == "cleanup"


def test_every_option_has_a_description(options):
    missing = [path for path, spec in walk(options) if not spec.get("description")]
    assert missing == []


def test_every_option_has_a_type(options):
    assert [path for path, spec in walk(options) if not spec.get("type")] == []


def test_operational_keys_are_spec_options(options, target_options):
    # a misspelt key here would silently keep an operational value in the build hash
    assert sorted(definition.OPERATIONAL_KEYS - set(options)) == []
    assert sorted(definition.OPERATIONAL_TARGET_KEYS - set(target_options)) == []


def test_spec_defaults_of_type_specific_keys_are_known(target_options):
    """A type-specific key with a scalar default is filled in on targets of the other type too;
    definition._SPEC_DEFAULTS must know that default or every such target fails as 'foreign'."""
    typed_keys = definition.DOCKER_KEYS | definition.EC2_KEYS
    for key in sorted(typed_keys):
        default = target_options[key].get("default")
        if default in (None, [], {}):
            continue
        assert definition._SPEC_DEFAULTS.get(key, object()) == default, key


def test_code_defaults_match_spec_defaults(target_options):
    for key, value in definition._SPEC_DEFAULTS.items():
        assert key in target_options, key
        assert target_options[key].get("default") == value, key


def test_secrets_are_not_logged(target_options):
    auth = target_options["registry_auth"]
    assert auth.get("no_log") is True
    assert auth["options"]["password"].get("no_log") is True
    # only its password: a user name masked is masked wherever a result says it (a builder named like the target)
    assert not target_options["base_image_auth"].get("no_log")
    assert target_options["base_image_auth"]["options"]["password"].get("no_log") is True
