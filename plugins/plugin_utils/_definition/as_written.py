# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The image targets as the definition's YAML wrote them, before the launch role's argument spec types them (it makes
any value of a list of strings a string, and a string a list of one): what only the written types show. YAML 1.1,
which Ansible's loader reads, takes 3.10 for the number 3.1, true for a boolean, 001234567012 for an octal number and
33:33 for a number in base 60; Python's text of those is not what was written. Each such value is refused before
anything is created, saying what to write instead."""

from __future__ import annotations

import json
import re
import shlex

from ansible_collections.immutable.images.plugins.module_utils._common import references as ref


def errors(targets):
    """What only the targets as the definition writes them show, before the argument spec makes every value of a list
    of strings a string: a command string (a list of one), an account id that YAML read as a number, values that
    become text but are not (the text Python gives a boolean, a number or null is not what was written)."""
    found = []
    for i, t in enumerate(targets if isinstance(targets, list) else []):
        if isinstance(t, dict):
            where = "image_targets[%d]" % i
            found += _command_string_errors(where, t.get("config"))
            found += _account_number_errors(where, t)
            found += _text_value_errors(where, t)
            found += _base_60_errors(where, t.get("config"))
    return found


def _base_60_errors(where, config):
    """YAML 1.1 (Ansible's loader) reads an unquoted 33:33 as a number in base 60, 2013: config.user 33:33 (Debian's
    www-data) would run the image as uid 2013, expose: [22:22] would expose port 1342. A number whose two base-60
    digits are the same, as a uid:gid or port:port pair reads, is refused (a uid meant as such a number is quoted)."""
    errors = []
    config = config if isinstance(config, dict) else {}
    expose = config.get("expose")
    numbers = [("user", config.get("user"))] + [("expose", p) for p in (expose if isinstance(expose, list) else [])]
    for key, value in numbers:
        if isinstance(value, int) and not isinstance(value, bool) and 60 < value < 3600 and value % 61 == 0:
            pair = "%d:%d" % (value // 61, value // 61)
            errors.append("%s.config.%s: %d is how YAML reads an unquoted %s (a number in base 60): quote it ('%s'%s)"
                          % (where, key, value, pair, pair, ", or '%d' for that number" % value if key == "user" else
                             "; expose takes ports, not mappings"))
    return errors


def _text_value_errors(where, t):
    """Values that become text of the image (its tags, environment and labels; an AMI's and its builder's AWS tags)
    given as YAML scalars whose text is not what was written: true is 'True' to Python, 3.10 is the number 3.1, a key
    with nothing after its colon is None. As community.docker's docker_container refuses such environment values. A
    whole number is taken as its digits, as before; build_env is the roles' environment, taken as a play's
    `environment` takes it."""
    config = t.get("config") if isinstance(t.get("config"), dict) else {}
    if t.get("type") == "ec2":
        named = [("tags", t.get("tags"), False), ("run_tags", t.get("run_tags"), False)]  # None: an empty value
    else:
        named = [("tags", t.get("tags"), True), ("config.env", config.get("env"), True),
                 ("config.labels", config.get("labels"), True)]
    errors = []
    for key, values, refuse_null in named:
        items = values.items() if isinstance(values, dict) else enumerate(values) if isinstance(values, list) else ()
        for name, value in items:
            at = "%s.%s%s" % (where, key, "[%d]" % name if isinstance(values, list) else ".%s" % name)
            error = text_value_error(at, value, refuse_null)
            errors += [error] if error else []
    return errors


def text_value_error(at, value, refuse_null=True, shown=True):
    """The error of one value that becomes text, or None (see _text_value_errors). shown=False: a number is not quoted
    in the message (a run test's environment may hold secrets, which its reports mask)."""
    if isinstance(value, bool):
        return "%s: %s is a boolean, which would be the text %r: quote the text you mean (%r)" % (
            at, value, str(value), str(value).lower())
    if isinstance(value, float):
        return "%s: %s is a number, which YAML may have read from other text (3.10 is 3.1): quote the text you mean" % (
            at, repr(value) if shown else "the value")
    if value is None and refuse_null:
        return "%s: nothing after the colon is null, which would be the text 'None': quote the text you mean ('' for " \
               "none)" % at
    return None


def _command_string_errors(where, config):
    """cmd and entrypoint: "nginx -g 'daemon off;'" would be the name of one program, and the image could not start. A
    string with spaces is refused, with the lists that say either of the things it may mean (a word alone stays a list
    of one)."""
    errors = []
    for key in ("cmd", "entrypoint") if isinstance(config, dict) else ():
        value = config.get(key)
        if isinstance(value, str) and re.search(r"\s", value):
            try:
                words = "give %s" % flow(shlex.split(value))
            except ValueError:  # unbalanced quotes
                words = "give the program and its arguments as a list"
            errors.append("%s.config.%s: %r is a string, and the image's %s is a list (exec form): %s, or %s to run it "
                          "through a shell as a Dockerfile's %s <string> does"
                          % (where, key, value, key.upper(), words, flow(["/bin/sh", "-c", value]), key.upper()))
    return errors


def _account_number_errors(where, t):
    """Account ids written as numbers: YAML reads one with a leading zero and the digits 0-7 only as an octal number
    (001234567012 is 175304202), and the id the spec then makes of it is another account's or none."""
    filters = t.get("source_ami_filter")
    owners = filters.get("owners") if isinstance(filters, dict) else None
    errors = []
    for key, values in (("share_with_accounts", t.get("share_with_accounts")), ("source_ami_filter.owners", owners)):
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, int) and not isinstance(value, bool) and not ref.ACCOUNT_ID_RE.match(str(value)):
                written = "%012o" % value if 0 <= value <= 0o777777777777 else None
                errors.append("%s.%s: %d is a number, not a 12-digit account id: quote account ids (YAML reads an "
                              "unquoted one with a leading zero as an octal number%s)"
                              % (where, key, value, ": '%s' would be %d" % (written, value) if written else ""))
    return errors


# Packer's template functions of names (ami_name = "webapp-{{timestamp}}"), undefined to Jinja2
PACKER_TIME_FUNCTION_RE = re.compile(r"'(timestamp|isotime|uuid)' is undefined")


def packer_function_hint(message):
    """A hint for a templating error that a Packer template function gave, else ''."""
    match = PACKER_TIME_FUNCTION_RE.search(message)
    if not match:
        return ""
    return (" (Packer's {{%s}} is not a variable here: the build id carries the build's time and is unique, "
            "{{ image_build_id }}; see docs/from-packer.md)" % match.group(1))


def flow(words):
    """A list as a YAML flow sequence (JSON), to paste into a definition."""
    return json.dumps([str(w) for w in words], ensure_ascii=False)
