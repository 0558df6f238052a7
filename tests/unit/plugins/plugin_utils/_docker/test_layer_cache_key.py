# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The layer cache key covers build_env (hashed): a changed build environment never reuses old layers; the
target: two targets of one image never share a layer; and an entry's variables as the role sees them, those that
name what is defined only later by their text."""

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.immutable.images.plugins.plugin_utils._docker.layer_cache import (
    UNDEFINED_AT_LOOKUP,
    cache_key,
    key_values,
)

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


def test_an_entrys_variables_count_as_templated_and_those_naming_what_is_not_defined_yet_by_their_text():
    """A play templates a role's variable when a task reads it: one may name the role's own defaults, what it sets,
    or nothing, if no task reads it. Templating them all at once failed the build on the first such one."""
    templar = Templar(DataLoader(), variables={"base_port": 8000, "hosts": ["a", "b"]})
    entry_vars = {name: trust_as_template(text) for name, text in {
        "port": "{{ base_port + 80 }}", "conf": "{{ app_home }}/conf", "first": "{{ hosts | first }}",
        "nested": "{{ defined_nowhere.attribute }}"}.items()}
    entry_vars["plain"] = {"listen": ["{{ base_port }}"]}
    counted = key_values(templar, entry_vars)
    assert counted["port"] == 8080 and counted["first"] == "a"
    assert counted["conf"] == [UNDEFINED_AT_LOOKUP, "{{ app_home }}/conf"]
    assert counted["nested"] == [UNDEFINED_AT_LOOKUP, "{{ defined_nowhere.attribute }}"]
    # an untrusted string is not a template (ansible-core's rule): it counts as it is
    assert counted["plain"] == {"listen": ["{{ base_port }}"]}
    assert key_values(templar, None) == {} and key_values(templar, {}) == {}
    # the key follows the values: another port, another key; a variable named later keeps its key while its text does
    key = cache_key(*ARGS[:4], counted)
    assert key == cache_key(*ARGS[:4], key_values(templar, dict(entry_vars)))
    assert key != cache_key(*ARGS[:4], dict(counted, port=8081))
    assert key != cache_key(*ARGS[:4], dict(counted, conf=[UNDEFINED_AT_LOOKUP, "{{ app_home }}/etc"]))
