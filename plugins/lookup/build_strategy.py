# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: build_strategy
short_description: The strategy of a build's plays, after refusing what a build cannot honour
version_added: 0.2.0
description:
  - Used as the C(strategy) of the first play of C(immutable.images.build_image) and C(immutable.images.build_all),
    because play keywords are templated before any task runs, even under C(--start-at-task); and, with O(builders),
    of the play that runs the image roles on the builders.
  - Fails with a clear message when C(ansible-playbook) was given C(--start-at-task) or C(--step). The image roles
    run from a dynamic include, where C(--start-at-task) can never start, and skipping one of the build's own
    tasks (launch, provision, finalize) would leave an incomplete build or temporary resources behind.
    Use C(--tags) and C(--skip-tags) to run part of the roles.
  - Fails with a clear message when C(--limit) leaves out the hosts of O(runs_on) or the builders, which the launch
    role adds to the group C(image_builders) at run time (and to C(image_builder_groups) when it is given as an extra
    variable). Such a run would build nothing and succeed, or start builders that no role reaches. The limit is
    evaluated with ansible-core's host patterns on the run's groups, so C(all), patterns and groups of your own that
    take in those hosts pass.
  - Loads the plugins in the project directory's C(library/), C(module_utils/), C(filter_plugins/) and the other
    plugin directories, as C(ansible-playbook) does for a playbook there (not for a collection's), so that the image
    roles can use the project's own modules and filters.
  - Lets the image roles find the project's roles by name, as a play beside them would. A role that runs
    C(include_role) or C(import_role) of C(common) finds C(roles/common) in the current directory (and in the
    directories of an C(image_roles_path) given as an extra variable), which come first in the roles path of the
    run. C(ansible-playbook immutable.images.build_image) runs a playbook of the collection, whose own directory
    is where ansible-core would otherwise look first.
  - Otherwise returns the configured default strategy (C(DEFAULT_STRATEGY)), or C(linear) when that is C(free) or
    C(host_pinned), because the first play adds the builders to the inventory with C(ansible.builtin.add_host),
    which those strategies refuse. The finalize play keeps the configured strategy; for the roles' play, see
    O(builders).
  - Also lets ansible-core index its Jinja2 filters and tests in C(ansible-playbook)'s own process, before the first
    task. Every task's worker is a fork of that process and inherits the index, instead of building its own at its
    first filter or test (about 5 ms per worker).
  - With O(builders), for the play of the image roles, it returns C(ansible.builtin.free) when there is more than one
    builder, so that each runs the roles as a play of its own would (a C(run_once) task runs on every one), and the
    configured strategy otherwise. It also makes the project directory (the current directory, where the definition's
    relative paths, C(roles/) and C(group_vars/) are) the base directory of that play, as it is of a play in a
    playbook there. So C(playbook_dir) names it, a relative C(src) of C(copy) or C(template) is also looked for in its
    C(files/) and C(templates/), and its C(group_vars/) and C(host_vars/) reach the builders. The play's base
    directory would otherwise be the collection's C(playbooks/).
options:
  builders:
    description:
      - The hosts of the play of the image roles (C(groups['image_builders'])). Given, the lookup serves that play only
        (it refuses nothing, the first play did that).
    type: list
    elements: str
  runs_on:
    description:
      - The host pattern of the build's own plays (C(localhost) for C(build_image), C(image_definitions) for
        C(build_all)). A C(--limit) that leaves out every one of its hosts is refused.
      - Unset, only the builders are checked against the limit.
    type: str
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Launch the builders
  hosts: localhost
  strategy: "{{ lookup('immutable.images.build_strategy', runs_on='localhost') }}"
  roles:
    - immutable.images.launch

- name: Provision the builders
  hosts: "{{ groups['image_builders'] | default([]) }}"
  strategy: "{{ lookup('immutable.images.build_strategy', builders=groups['image_builders'] | default([])) }}"
  roles:
    - immutable.images.provision
"""

RETURN = r"""
_raw:
  description: The strategy of the play.
  type: list
  elements: str
"""

import os

from ansible import constants as C
from ansible import context
from ansible.errors import AnsibleError
from ansible.plugins.loader import add_all_plugin_dirs, filter_loader, strategy_loader, test_loader
from ansible.plugins.strategy.free import StrategyModule as FreeStrategy
from ansible.plugins.lookup import LookupBase

from ansible_collections.immutable.images.plugins.plugin_utils import _run_limit as run_limit


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        builders = self.get_option("builders")
        if builders is not None:
            return [self._roles_play_strategy(builders)]
        refused = [option for option, value in (("--start-at-task", context.CLIARGS.get("start_at_task")),
                                                ("--step", context.CLIARGS.get("step"))) if value]
        if refused:
            raise AnsibleError(
                "immutable.images.build_image and build_all do not support %s: the image roles run from a dynamic "
                "include, and every task of the build itself must run (launch, provision, finalize, cleanup). "
                "Use --tags / --skip-tags to run part of the roles (the build's own tasks always run)."
                % " or ".join(refused))
        limit, variables = context.CLIARGS.get("subset"), variables or {}
        if limit:
            # image_builder_groups as an extra variable (build_image); a definition's own is not known here
            builder_groups = variables.get("image_builder_groups")
            builder_groups = [g for g in builder_groups if isinstance(g, str)] if isinstance(builder_groups, list) else []
            missing = run_limit.left_out(self._loader, limit, variables.get("groups", {}), self.get_option("runs_on"),
                                         builder_groups)
            if missing:
                raise AnsibleError(run_limit.refusal(limit, missing))
        add_all_plugin_dirs(os.getcwd())  # before the index: the project's filter_plugins/ are indexed with the rest
        _index_jinja_plugins()
        _search_the_projects_roles(variables.get("image_roles_path"))
        return [_first_play_strategy(C.config.get_config_value("DEFAULT_STRATEGY"))]

    def _roles_play_strategy(self, builders):
        # The executor sets a play's base directory just before it templates the play's keywords: this lasts the play.
        self._loader.set_basedir(os.getcwd())
        return "ansible.builtin.free" if len(builders) > 1 else C.config.get_config_value("DEFAULT_STRATEGY")


def _first_play_strategy(configured):
    """The configured strategy, unless it runs tasks host by host (free, host_pinned, and strategies built on them),
    which refuses the first play's add_host (an action that bypasses the host loop): then linear. The first play runs
    on the definitions' hosts (localhost for build_image) and waits for their builders anyway."""
    strategy = strategy_loader.get(configured, class_only=True)
    return "linear" if strategy is not None and issubclass(strategy, FreeStrategy) else configured


def _search_the_projects_roles(roles_path):
    """Put the project's role directories (image_roles_path, when an extra variable, then ./roles: where the plan finds
    the image roles) first in the roles path of this process, where ansible-core resolves every role a task includes
    or imports by name (RoleDefinition reads C.DEFAULT_ROLES_PATH at each look-up). In a play of the project,
    ./roles is searched first as the playbook's own roles/; this build's playbook is the collection's."""
    given = [p for p in roles_path if isinstance(p, str) and "{{" not in p] if isinstance(roles_path, list) else []
    project = [os.path.join(os.getcwd(), os.path.expanduser(p)) for p in given + ["roles"]]
    C.DEFAULT_ROLES_PATH = [p for p in project if p not in C.DEFAULT_ROLES_PATH] + list(C.DEFAULT_ROLES_PATH or [])


def _index_jinja_plugins():
    """Let ansible-core index its Jinja2 filters and tests here, in ansible-playbook's own process, before the build's
    first task: it does so at a process's first use of a filter (of a test), and every task's worker is a fork of this
    process, so each worker would otherwise index them again (about 5 ms per worker that evaluates a test)."""
    filter_loader.get("default")
    test_loader.get("defined")
