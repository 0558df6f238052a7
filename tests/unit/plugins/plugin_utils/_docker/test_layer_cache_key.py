# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The layer cache key covers build_env (hashed): a changed build environment never reuses old layers; and the
target: two targets of one image never share a layer."""

from ansible_collections.immutable.images.plugins.plugin_utils._docker.layer_cache import cache_key

ARGS = ("sha256:parent", "files-digest", "webapp", "role-digest", {"port": 8080})


def test_build_env_changes_the_key_and_never_shows_in_it():
    plain = cache_key(*ARGS)
    with_env = cache_key(*ARGS, environment={"TOKEN": "s3cret-value"})
    assert with_env != plain and with_env != cache_key(*ARGS, environment={"TOKEN": "other"})
    assert "s3cret" not in with_env and len(with_env) == 64
    assert cache_key(*ARGS, environment={}) == plain  # builds without build_env keep their keys


def test_the_target_changes_the_key():
    """A role can read the target it builds (image_target.name, inventory_hostname): two targets of one image on the
    same base would otherwise share a layer, and one would get the other's."""
    assert cache_key(*ARGS, target="amd64-dev") != cache_key(*ARGS, target="amd64-prod")
    assert cache_key(*ARGS, target="amd64-dev") != cache_key(*ARGS)
