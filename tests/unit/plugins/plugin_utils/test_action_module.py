# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugin_utils/_action_module.py: every action plugin's spec comes from its module's DOCUMENTATION."""

from __future__ import annotations

import importlib
import os

import pytest
import yaml

from ansible_collections.immutable.images.plugins.plugin_utils import _action_module as base

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ACTIONS = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "plugins", "action")) if f.endswith(".py"))


@pytest.mark.parametrize("name", ACTIONS)
def test_every_action_plugin_uses_the_base(name):
    plugin = importlib.import_module("ansible_collections.immutable.images.plugins.action." + name).ActionModule
    assert issubclass(plugin, base.ActionModuleBase)
    assert "run" not in vars(plugin), "%s overrides run(): implement run_module() instead" % name
    assert not getattr(plugin, "_VALID_ARGS", None), "the base validates; _VALID_ARGS would fail first with another message"


@pytest.mark.parametrize("name", ACTIONS)
def test_spec_is_the_documented_options(name):
    doc = yaml.safe_load(importlib.import_module("ansible_collections.immutable.images.plugins.modules." + name).DOCUMENTATION)
    spec = base.argument_spec(name)
    options = doc.get("options") or {}
    if "immutable.images.docker" in (doc.get("extends_documentation_fragment") or []):
        assert {"docker_host", "tls"} <= set(spec)
    assert set(options) <= set(spec)
    for option, entry in options.items():
        for key in ("type", "choices", "default", "required", "elements"):
            assert spec[option].get(key) == entry.get(key), (name, option, key)
        assert set(spec[option].get("options") or {}) == set(entry.get("suboptions") or {})


def test_errors_name_the_option_and_unknown_parameters():
    _params, errors, _secret = base.validate("build_guard", {"state": "armd", "bogus": 1})
    assert errors == ["value of state must be one of: armed, disarmed, got: armd",
                      "unsupported parameters: bogus. Supported parameters include: pid, remove, state."]


def test_defaults_and_types_are_applied():
    params, errors, _secret = base.validate("layer_cache", {"role": "web", "digest": "d", "tags": "a,b"})
    assert not errors
    assert params["state"] == "lookup" and params["tags"] == ["a", "b"] and params["key"] is None


def test_validating_twice_gives_the_same_result():
    # the validator fills suboptions into a default dict: a spec shared between two validations would keep them
    args = {"packages": [], "path": "/tmp/x.cdx.json"}
    assert base.validate("image_sbom", args) == base.validate("image_sbom", args)
    assert base.validate("image_sbom", args)[1] == []


def test_no_log_values_are_collected():
    _params, errors, secret = base.validate("image_attestation", {"target": {}, "password": "s3cret"}, no_log=("password",))
    assert not errors and secret == {"s3cret"}


def test_run_validates_before_check_mode_and_scrubs_secrets(run_action):
    # a bad argument fails in check mode too, before anything else
    result = run_action("build_guard", {"state": "armd"}, check_mode=True)
    assert result["failed"] and result["msg"].startswith("immutable.images.build_guard: value of state")
    result = run_action("build_guard", {}, check_mode=True)
    assert result == {"changed": False, "skipped": True, "msg": "the build guard is not needed in check mode"}


def test_action_failure_becomes_the_result(run_action):
    result = run_action("builder_files", {"src": ""})
    assert result == {"failed": True, "msg": "immutable.images.builder_files: src is required"}
