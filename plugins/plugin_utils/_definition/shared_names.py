# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What two targets of one definition must not share: a tag on one engine, a reference they push, an archive they
save, an AMI name in a region. Each would hold one target's artifact in the end, the other's lost without a word (a
tag taken by "a concurrent build", an AMI name that fails the second target after its build). definition.py checks
them before anything is created, and names the default AMI name of a target (ami_name)."""

from __future__ import annotations

import os

from ansible_collections.immutable.images.plugins.module_utils._common import naming


_HASH = "buildhash"  # stands for the build hash, not known yet


def ami_name(params, target, build_id):
    """A target's AMI name: its ami_name, else <image_name>-<image_version>-<build id>, with the target's name before
    the build id when the definition has several ec2 targets (AMI names are unique in a region)."""
    if target.get("ami_name"):
        return target["ami_name"]
    several = sum(1 for t in params.get("image_targets") or [] if t.get("type") == "ec2") > 1
    return "-".join([params["image_name"], params["image_version"]] + ([target["name"]] if several else []) + [build_id])


def errors(params, cwd):
    """The errors of the targets this run builds (image_only) that share a name (empty when none do); targets are
    type-checked, their names valid."""
    found = []
    claimed = {}  # (kind, place, name) -> the target that has it

    def claim(i, target, kind, place, names, why):
        me, shared = (i, target["name"]), {}
        for name in names:
            owner = claimed.setdefault((kind, place, name), me)
            if owner != me:
                shared.setdefault(owner, []).append(name)
        for (j, other), names_shared in shared.items():
            found.append("image_targets[%d] (%s): %s %s, as image_targets[%d] (%s) does: %s" % (
                i, target["name"], kind, ", ".join(names_shared), j, other, why))

    only = set(params.get("image_only") or [])
    for i, t in enumerate(params.get("image_targets") or []):
        if only and t.get("name") not in only:
            continue  # built in another run (variants of one image, built one at a time)
        if t.get("type") == "docker":
            repository = t.get("repository") or params.get("image_name")
            # the default tags of every target are alike: their build hash is shown as such
            tags = t.get("tags") or [tag.replace(_HASH, "<build hash>")
                                     for tag in naming.default_tags(str(params.get("image_version")), _HASH)]
            engine = t.get("docker_host") or None  # the default engine, or the pool of image_engines
            claim(i, t, "tags", engine, ["%s:%s" % (repository, tag) for tag in tags],
                  "on one engine, a tag holds one image: give each target its own repository or tags (several targets "
                  "do not make one multi-platform image)")
            claim(i, t, "pushes", None, ["%s:%s" % (repo, tag) for repo in t.get("push") or [] for tag in tags],
                  "a registry keeps the last one pushed: give each target its own repository or tags")
            if t.get("save"):
                claim(i, t, "saves", None, [os.path.normpath(os.path.join(cwd, os.path.expanduser(str(t["save"]))))],
                      "give each target its own archive")
        elif t.get("type") == "ec2" and t.get("ami_name"):
            for region in [t.get("region")] + list(t.get("copy_to_regions") or []):
                claim(i, t, "names its AMI", region, [t["ami_name"]],
                      "AMI names are unique in a region (%s): give each target its own ami_name" % region)
    return found
