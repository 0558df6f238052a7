#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: layer_cache
short_description: Internal - per-role layer cache of a docker builder
version_added: 0.1.0
description:
  - A step of the build that the provision role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Used by the provision role before each image role of a docker builder when C(image_cache) is on
    (the default), and once after the last one. V(lookup) first stores the layer of the role looked up before, if
    that role ran (its lookup missed), committing the builder as that role's layer unless the play has handlers
    by then (they run at the end). It then computes the role's cache key - the layer it starts from, the files'
    digest, the role's name and content digest, and the role's variables as templated on the builder - and says
    whether a layer exists for it. V(sync), after the last role and the handlers, stores the last role's layer
    if it ran (or the roles that ran with handlers pending, as the last role's layer), or re-creates the builder
    from the current layer when the last roles were all hits.
  - V(expected) comes before the roles, on a builder launched from the layer the plan expects the lookups of its first
    roles to find (C(image_build.targets[].start_layer), of C(start_roles) roles). It runs with the target's
    C(build_env) as the task's own C(environment), as the lookups do. When no role was looked up yet and no other
    environment is set around the task, those lookups would find the layers the plan did. It then takes them at once
    (RV(roles)), and the next role's lookup chains from the last one's key. On a builder the plan expects to run nothing
    (C(image_build.targets[].idle)) it also leaves the builder at that layer as V(sync) would and returns RV(hit=true),
    and the roles need not be included. Otherwise it returns RV(roles=0) and changes nothing.
  - V(store) commits the builder as the layer of O(key) at once (the same rule for handlers). The provision role
    no longer runs it (a lookup or V(sync) stores the layer of the role before); it is kept for playbooks that
    look up and store a layer in steps of their own.
  - Its state is kept on the controller (in the build's work directory), never in the builder's facts.
  - Cache layers are tagged C(immutable-images-cache/<image name>:<key>) and labelled
    C(immutable.images.kind=cache).
  - This is an action plugin; it runs on the controller against the builder's Docker engine.
extends_documentation_fragment:
  - immutable.images.attributes
  - immutable.images.attributes.action
attributes:
  check_mode:
    support: full
    details: Does nothing in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
  action:
    support: full
options:
  state:
    description: The step.
    type: str
    choices: [lookup, store, sync, expected]
    default: lookup
  role:
    description: With V(lookup), the role's name.
    type: str
  digest:
    description: With V(lookup), the digest of the role's files.
    type: str
  vars:
    description: With V(lookup), the variables the role receives (templated on the builder).
    type: dict
  params:
    description:
      - With V(lookup), the role parameters of the role's C(image_roles) entry (templated on the builder), which the
        role receives above its O(vars). Part of the key when there are any.
    type: dict
    version_added: 0.2.0
  role_entry:
    description:
      - With V(lookup), instead of O(vars) and O(params), the name of the variable that holds the role's entry in the
        plan, untemplated (the provision role's C(provision__role)). Its C(vars) and C(params) are templated here one
        by one, as the role will see them. One that names a variable not defined when the layer is looked up (the
        role's own defaults, what the role sets, a later role's defaults, or nothing, when no task reads it) counts in
        the key by its text, as a play, which templates a role's variables only when a task reads them, does not fail
        there either.
    type: str
    version_added: 0.2.0
  tags:
    description: With V(lookup), the tags of the role's C(image_roles) entry (part of the key).
    type: list
    elements: str
  key:
    description: With V(store), RV(key) of the lookup.
    type: str
  upload:
    description:
      - With V(lookup), the image files archive (C(image_build.files_archive)) to put into the builder when the
        layer is not in the cache, in one transfer as M(immutable.images.builder_files) does. Given for the first
        role only, whose layer holds the files (a hit needs no upload).
      - A failed upload fails with RV(stage=upload).
    type: path
    version_added: 0.2.0
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Look up the layer of a role
  immutable.images.layer_cache:
    role: webapp
    digest: 9f2c...
    vars: {webapp_greeting: hello}
  register: cache

# ... the role runs here when cache.hit is false; the next lookup stores its layer first, or:

- name: Store the layer after the role ran, in a step of its own
  immutable.images.layer_cache:
    state: store
    key: "{{ cache.key }}"
  when: not cache.hit

- name: After the last role and the handlers, store its layer or bring the builder to the last cached layer
  immutable.images.layer_cache:
    state: sync

- name: Before the roles, take the layers the builder was launched at
  immutable.images.layer_cache:
    state: expected
  environment: "{{ my_build_env }}"  # the target's build_env
  register: expected
  # the lookups of the first expected.roles roles are left out; no role is included when expected.hit is true
"""

RETURN = r"""
key:
  description: The role's cache key (with V(expected), that of the last role taken).
  returned: lookup, and expected when it took layers
  type: str
hit:
  description:
    - Whether a layer exists for the key (the role can be skipped).
    - With V(expected), whether the builder is at the last role's layer as the plan expected (no role need be
      included).
  returned: lookup, expected
  type: bool
roles:
  description: With V(expected), how many roles, in order, had their layers taken (their lookups need not run).
  returned: expected
  type: int
  version_added: 0.2.0
uploaded:
  description: Whether O(upload) was put into the builder (on a miss).
  returned: lookup
  type: bool
  version_added: 0.2.0
stage:
  description: The stage of a failure, V(cache), or V(upload) when the upload failed.
  returned: failure
  type: str
layer:
  description: Image id of the stored layer.
  returned: when a layer was stored (V(store); V(lookup) after a role that ran; V(sync))
  type: str
stored:
  description:
    - Whether a layer was stored - with V(lookup), the layer of the role looked up before, which ran.
    - V(false) when the play has handlers by then (see RV(handlers)); V(sync) stores it then.
  returned: store, and lookup after a role that ran
  type: bool
  version_added: 0.2.0
inventory:
  description:
    - The package inventory of the layer the builder is at (C(os), C(packages)), for the SBOM; the record kept on the
      controller, or read on the builder and recorded.
  returned: sync when no check runs on the builder after it and it is not squashed, and expected when RV(hit)
  type: dict
  version_added: 0.2.0
handlers:
  description: The play's handlers, which may still be pending, when a layer was not stored yet because of them.
  returned: when RV(stored) is false
  type: list
  elements: str
"""
