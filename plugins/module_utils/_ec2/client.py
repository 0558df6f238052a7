# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place that makes boto3 clients and waits on AWS.

Clients get botocore's "standard" retry mode with 10 retries (throttling and transient errors are retried with
backoff by botocore itself), unless the AWS settings name a retry mode or attempts of their own (AWS_RETRY_MODE,
AWS_MAX_ATTEMPTS, a profile's retry_mode and max_attempts): those are the user's, as for every other AWS tool.
Waiting uses botocore waiters only; the single non-AWS wait is `wait_for_port`, a connect loop with a deadline.
Region, credentials and endpoint come from the standard AWS settings; boto3 already honours AWS_ENDPOINT_URL, an
explicit endpoint_url wins.
"""

from __future__ import annotations

import os
import socket
import time

try:
    import boto3
    import botocore.config
    import botocore.session
    import botocore.exceptions
    import botocore.parsers
    import botocore.waiter
except ImportError:  # AnsibleAWSModule reports the missing SDK
    boto3 = botocore = None

RETRIES = {"mode": "standard", "max_attempts": 10}
# botocore's own waiter defaults; right for real AWS, tests lower them.
DEFAULT_DELAY = 15
DEFAULT_MAX_ATTEMPTS = 40


# A retry setting of the AWS settings: its environment variable and its name in a profile of ~/.aws/config.
_RETRY_SETTINGS = {"mode": ("AWS_RETRY_MODE", "retry_mode"), "max_attempts": ("AWS_MAX_ATTEMPTS", "max_attempts")}


def client_config(profile=None, **extra):
    """The clients' botocore config: RETRIES, less what the AWS settings of `profile` (None: AWS_PROFILE's or the
    default one) set themselves. An explicit Config would override them, which botocore reads only when it is not."""
    try:
        scoped = botocore.session.Session(profile=profile or None).get_scoped_config()
    except botocore.exceptions.ProfileNotFound:
        scoped = {}  # the client's own creation says so
    retries = {key: value for key, value in RETRIES.items()
               if not (os.environ.get(_RETRY_SETTINGS[key][0]) or scoped.get(_RETRY_SETTINGS[key][1]))}
    return botocore.config.Config(retries=retries, **extra)


def make_client(service, region=None, endpoint_url=None, session=None, **kwargs):
    """A plain boto3 client (tests, scripts). Modules use `module_client_factory` instead."""
    session = session or boto3.session.Session()
    return session.client(service, region_name=region, endpoint_url=endpoint_url or None,
                          config=client_config(session.profile_name), **kwargs)


def client_factory(region=None, endpoint_url=None, session=None):
    """fn(service, region=None) -> client, for code that needs clients in several regions."""
    session = session or boto3.session.Session()  # one session: its loaded API models are reused

    def factory(service, other_region=None):
        return make_client(service, other_region or region, endpoint_url, session)
    return factory


def module_client_factory(module):
    """Same as client_factory, with credentials/endpoint/region from an AnsibleAWSModule."""
    def factory(service, region=None):
        return module.client(service, region=region or module.region, config=client_config(module.params.get("profile")))
    return factory


def module_warner(module):
    """fn(msg) that warns through the plain AnsibleModule under an AnsibleAWSModule.

    AnsibleAWSModule.warn also re-sends its warnings as a `warnings` result key, which
    ansible-core >= 2.19 shows already and flags as deprecated (amazon.aws 11.x).
    """
    return getattr(module, "_module", module).warn


class Waits:
    """Delay/attempt settings for botocore waiters (Packer's aws_polling). setting: the option that sets them, which
    a wait that runs out names."""

    def __init__(self, delay=DEFAULT_DELAY, max_attempts=DEFAULT_MAX_ATTEMPTS, setting=None):
        self.delay = max(0, int(delay))
        self.max_attempts = max(1, int(max_attempts))
        self.setting = setting

    @property
    def config(self):
        return {"Delay": self.delay, "MaxAttempts": self.max_attempts}

    def wait(self, client, name, not_yet=(), **kwargs):
        """Wait with botocore's waiter `name`. not_yet: error codes that mean "not yet" too, for a resource just made
        that EC2 may not know for a moment (eventual consistency): botocore's image_available, say, fails at once on
        InvalidAMIID.NotFound."""
        waiter = client.get_waiter(name)
        if not not_yet:
            try:
                waiter.wait(WaiterConfig=self.config, **kwargs)
            except botocore.exceptions.WaiterError as e:
                raise self._gave_up(e) from e
            return
        acceptors = [dict({"state": a.state, "matcher": a.matcher, "expected": a.expected},
                          **({"argument": a.argument} if a.argument is not None else {})) for a in waiter.config.acceptors]
        self._wait_on(client, waiter.name, waiter.config.operation, acceptors + _retrying(not_yet), **kwargs)

    def retry_call(self, client, operation, retry_codes, done_codes=(), **kwargs):
        """Call a (deleting) operation until it succeeds, retrying while it fails with retry_codes.

        Built as a botocore waiter on the operation itself, so the retry is bounded by
        delay x max_attempts like every other wait. Errors in done_codes count as success
        (e.g. NotFound: someone else deleted it already). Other errors raise WaiterError.
        """
        acceptors = [{"matcher": "status", "expected": 200, "state": "success"}]
        acceptors += [{"matcher": "error", "expected": c, "state": "success"} for c in done_codes]
        self._wait_on(client, "Retry" + operation, operation, acceptors + _retrying(retry_codes), **kwargs)

    def _wait_on(self, client, name, operation, acceptors, **kwargs):
        """A botocore waiter of ours (`name`: what its errors say) on `operation` with these acceptors, polling as set
        here."""
        model = botocore.waiter.WaiterModel({"version": 2, "waiters": {name: {
            "operation": operation, "delay": self.delay, "maxAttempts": self.max_attempts, "acceptors": acceptors}}})
        try:
            botocore.waiter.create_waiter_with_client(name, model, client).wait(**kwargs)
        except botocore.exceptions.WaiterError as e:
            raise self._gave_up(e) from e

    def _gave_up(self, error):
        """A waiter's error, saying how long it waited when it ran out of attempts (botocore says only that)."""
        if error.kwargs.get("reason") != "Max attempts exceeded":
            return error
        seconds = self.delay * (self.max_attempts - 1)
        return botocore.exceptions.WaiterError(
            name=error.kwargs.get("name"), last_response=error.last_response,
            reason="not done after %d polls %d s apart (%s)%s" % (
                self.max_attempts, self.delay, _duration(seconds),
                "; %s sets how long a build waits on AWS" % self.setting if self.setting else ""))


def _retrying(codes):
    return [{"matcher": "error", "expected": code, "state": "retry"} for code in codes]


def _duration(seconds):
    if seconds >= 3600:
        return "%d h %d min" % (seconds // 3600, seconds % 3600 // 60)
    return "%d min %d s" % divmod(seconds, 60) if seconds >= 60 else "%d s" % seconds


def error_code(exc):
    """The AWS error code of a ClientError or WaiterError (None for anything else)."""
    response = getattr(exc, "response", None) or getattr(exc, "last_response", None) or {}
    return (response.get("Error") or {}).get("Code")


def is_not_implemented(exc):
    """True for an endpoint that does not implement a call: moto raises NotImplementedError,
    which reaches botocore as an HTML 500 page (ResponseParserError), or a NotImplemented code."""
    if botocore is not None and isinstance(exc, botocore.parsers.ResponseParserError):
        return True
    return error_code(exc) in ("NotImplemented", "InvalidAction")


def wait_for_port(host, port, timeout, interval=2.0, hopeless=None, refused_give_up=None, check_every=10.0,
                  connect=None):
    """Wait until a TCP connect to host:port succeeds; raise TimeoutError after `timeout` seconds.

    `connect(host, port, timeout)` makes the attempt instead of a TCP connect from here (through a bastion:
    bastion.probe); it raises ConnectionRefusedError or another OSError as socket.create_connection does.

    Gives up early, with the reason, when waiting longer cannot help: `hopeless()` (called every
    `check_every` seconds) returns why (the instance stopped, say), or every connection was refused
    for `refused_give_up` seconds in a row (the host answers, but nothing listens on the port).
    """
    start = time.monotonic()
    deadline = start + timeout
    next_check = start
    refused_since = None
    last = None
    while True:
        if hopeless and time.monotonic() >= next_check:
            reason = hopeless()
            if reason:
                raise TimeoutError("%s:%s can never answer: %s" % (host, port, reason))
            next_check = time.monotonic() + check_every
        remaining = deadline - time.monotonic()
        try:
            (connect or _tcp_connect)(host, int(port), max(0.1, min(5.0, remaining)))
            return
        except ConnectionRefusedError as e:
            last = e
            refused_since = time.monotonic() if refused_since is None else refused_since
            refused_for = time.monotonic() - refused_since
            if refused_give_up is not None and refused_for >= refused_give_up:
                raise TimeoutError("%s:%s refused every connection for %ds: the host answers but nothing listens on port %s"
                                   " (is it the right address and port, does sshd run?); not waiting the rest of the %ss"
                                   % (host, port, refused_for, port, timeout))
        except OSError as e:
            last = e
            refused_since = None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("%s:%s did not accept TCP connections within %ss (last error: %s)"
                               % (host, port, timeout, last))
        time.sleep(min(interval, remaining))  # not AWS: a plain connect retry with a deadline


def _tcp_connect(host, port, timeout):
    with socket.create_connection((host, port), timeout=timeout):
        pass
