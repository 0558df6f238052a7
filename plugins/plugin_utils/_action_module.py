# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The base of every action plugin of this collection (plugins/action/*): arguments, check mode, failures.

Private to the collection; imported only by plugins/action/*, on the controller.

Each action plugin has a thin module of the same name in plugins/modules whose DOCUMENTATION is what
ansible-doc shows. That DOCUMENTATION is also the argument spec the plugin validates the task's arguments
against (ansible-core's ArgumentSpecValidator), so options are declared once: an unknown option, a wrong
type or a value outside `choices` fails the task with a message naming the module and the option, before the
plugin does anything (in check mode too).

A plugin subclasses ActionModuleBase and implements run_module(params, task_vars, result), which returns the
result; to fail it may raise ActionFailure. REQUIRED_IF and NO_LOG add what DOCUMENTATION cannot say.
CHECK_MODE says what check mode does: None lets run_module decide; a dict is returned as the result (with
changed=False unless it says otherwise) without calling it.
"""

from __future__ import annotations

import copy
import functools
import importlib

import yaml

from ansible.module_utils.basic import remove_values
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

COLLECTION = "immutable.images"
_PACKAGE = "ansible_collections.immutable.images.plugins"
# DOCUMENTATION keys that are also argument spec keys; the others (description, version_added, ...) are docs only.
_SPEC_KEYS = ("type", "elements", "choices", "default", "required", "aliases")


class ActionFailure(Exception):
    """The task fails with this message; `details` (stage, rc, ...) are added to its result."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


def _spec_of(options):
    """The argument spec of DOCUMENTATION `options` (suboptions become options)."""
    spec = {}
    for name, doc in (options or {}).items():
        entry = {k: doc[k] for k in _SPEC_KEYS if k in doc}
        if doc.get("suboptions"):
            entry["options"] = _spec_of(doc["suboptions"])
        spec[name] = entry
    return spec


def argument_spec(module):
    """The argument spec the thin module plugins/modules/<module>.py documents, with the options of this
    collection's doc fragments it extends (other fragments add no options here). A copy: the validator fills
    suboptions' defaults into a default dict it was given."""
    return copy.deepcopy(_documented_spec(module))


@functools.lru_cache(maxsize=None)
def _documented_spec(module):
    doc = yaml.safe_load(importlib.import_module("%s.modules.%s" % (_PACKAGE, module)).DOCUMENTATION)
    options = {}
    for fragment in doc.get("extends_documentation_fragment") or []:
        if not fragment.startswith(COLLECTION + "."):
            continue
        name, _dot, variable = fragment[len(COLLECTION) + 1:].partition(".")
        holder = importlib.import_module("%s.doc_fragments.%s" % (_PACKAGE, name)).ModuleDocFragment
        options.update(yaml.safe_load(getattr(holder, variable.upper() or "DOCUMENTATION")).get("options") or {})
    options.update(doc.get("options") or {})
    return _spec_of(options)


def validate(module, args, no_log=(), required_if=None):
    """(validated parameters, error messages, values never to show) of a task's arguments."""
    checked = ArgumentSpecValidator(argument_spec(module), required_if=required_if).validate(dict(args))
    errors = ["unsupported parameters: %s" % e if isinstance(e, UnsupportedError) else str(e) for e in checked.errors]
    params = checked.validated_parameters
    return params, errors, {str(params[name]) for name in no_log if params.get(name)}


class ActionModuleBase(ActionBase):
    TRANSFERS_FILES = False
    CHECK_MODE = None
    NO_LOG = ()  # options whose values never appear in a result (DOCUMENTATION has no no_log)
    REQUIRED_IF = None  # as AnsibleModule's required_if (DOCUMENTATION cannot say it)
    VALIDATE = True  # False only where a module validates the same arguments itself (AnsibleModule)

    @property
    def module_name(self):
        return type(self).__module__.rpartition(".")[2]

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        params, no_log = dict(self._task.args), set()
        if self.VALIDATE:
            params, errors, no_log = validate(self.module_name, self._task.args, self.NO_LOG, self.REQUIRED_IF)
            if errors:
                return dict(result, failed=True, msg="%s.%s: %s" % (COLLECTION, self.module_name, "; ".join(errors)))
        if self._task.check_mode and self.CHECK_MODE is not None:
            return dict(result, **dict({"changed": False}, **self.CHECK_MODE))
        try:
            result = self.run_module(params, task_vars, result)
        except ActionFailure as e:
            result = dict(result, failed=True, msg=e.msg, **e.details)
        return remove_values(result, no_log) if no_log else result

    def run_module(self, params, task_vars, result):
        """The plugin's work, with the validated `params`; returns the task's result (based on `result`)."""
        raise NotImplementedError

    def run_action(self, action, args, task_vars):
        """The result of another action plugin (this collection's, or ansible-core's gather_facts) run with these
        arguments on this task's host and connection, as ansible-core's `template` runs `copy`: from the action
        loader, with a copy of this task (its environment, module_defaults and check mode) holding `args`."""
        task = self._task.copy()
        task.args = args
        plugin = self._shared_loader_obj.action_loader.get(
            action, task=task, connection=self._connection, play_context=self._play_context, loader=self._loader,
            templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        return plugin.run(task_vars=task_vars)
