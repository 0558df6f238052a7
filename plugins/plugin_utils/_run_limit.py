# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a run's --limit lets a build's own hosts through.

A limit applies to every play of a run: to the hosts the build's plays run on (localhost for build_image, the
definitions for build_all), and to the builders, which the launch role adds to the group image_builders at run time.
A limit that leaves them out makes a build that does nothing and succeeds, or starts a builder that no role ever
reaches. The limit is evaluated here by ansible-core's own host patterns, on an inventory of the run's groups and
hosts plus a stand-in builder, before any task runs (as ansible-core's inventory_hostnames lookup evaluates a
pattern on the groups it is given)."""

from __future__ import annotations

from ansible.inventory.manager import InventoryManager, split_host_pattern

BUILDERS_GROUP = "image_builders"
_STAND_IN_BUILDER = "immutable-images-builder-stand-in"


def left_out(loader, limit, groups, runs_on=None, builder_groups=()):
    """What `limit` leaves out of a build, as (a pattern that lets it through, what it is) pairs; [] when nothing.
    Checked: the hosts of the pattern `runs_on` (left out only when the limit leaves out every one of them), and the
    builders, members of image_builders and of `builder_groups`. `groups` is the run's `groups` variable (group name
    -> host names)."""
    inventory = InventoryManager(loader, parse=False)
    for group, hosts in groups.items():
        inventory.add_group(group)
        for host in hosts:
            inventory.add_host(host, group=group)
    for group in (BUILDERS_GROUP,) + tuple(builder_groups):
        inventory.add_group(group)
        inventory.add_host(_STAND_IN_BUILDER, group=group)
    inventory.reconcile_inventory()  # every host in `all`, as add_host leaves the builders
    inventory.subset(limit)

    missing = []
    if runs_on and inventory.get_hosts(runs_on, ignore_limits=True) and not inventory.get_hosts(runs_on):
        missing.append((runs_on, "%s (where the build's own plays run)" % runs_on))
    if _STAND_IN_BUILDER not in [host.name for host in inventory.get_hosts(BUILDERS_GROUP)]:
        missing.append((BUILDERS_GROUP, "the builders (the launch role adds them to the group %s)" % BUILDERS_GROUP))
    return missing


def refusal(limit, missing):
    """The message for a limit that leaves out `missing` (from left_out())."""
    message = "--limit '%s' leaves out %s: no image would be built. Let them through" % (
        limit, " and ".join(what for _name, what in missing))
    if not any(part.startswith(("!", "&")) for part in split_host_pattern(limit)):  # else adding a name is not enough
        message += ", e.g. --limit '%s,%s'," % (limit, ",".join(name for name, _what in missing))
    return message + " or run without --limit."
