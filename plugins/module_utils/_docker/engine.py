# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which engine a target means and how to reach it, without importing the Docker SDK (the connection plugin
asks this in every task's worker)."""

from __future__ import annotations

import hashlib
import json
import os

DEFAULT_ENGINE = "unix:///var/run/docker.sock"
TLS_FILES = {"ca_cert": "ca.pem", "client_cert": "cert.pem", "client_key": "key.pem"}  # as the docker CLI names them
# The `proxies` settings of the docker CLI's config.json, and the variables `docker run` gives a container for each.
PROXY_SETTINGS = {"httpProxy": "HTTP_PROXY", "httpsProxy": "HTTPS_PROXY", "noProxy": "NO_PROXY",
                  "ftpProxy": "FTP_PROXY", "allProxy": "ALL_PROXY"}


class ContextError(ValueError):
    """The docker CLI's current context names a context that is not there."""


def engine_url(docker_host=None, environ=None):
    """The engine a docker_host means, as people write it, chosen as the docker CLI chooses: docker_host, else
    DOCKER_HOST, else the CLI's current context (`docker context use`, DOCKER_CONTEXT), else the default socket."""
    environ = os.environ if environ is None else environ
    return docker_host or environ.get("DOCKER_HOST") or current_context(environ).get("host") or DEFAULT_ENGINE


def _config_dir(environ):
    return environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def _cli_config(environ):
    """The docker CLI's config.json; {} when there is none, or one the CLI would not read either."""
    try:
        with open(os.path.join(_config_dir(environ), "config.json")) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def current_context(environ=None):
    """The docker CLI's current context, when it is not `default`: {name, host, skip_tls_verify, tls_dir (its TLS files'
    directory, when it has one)}; {} otherwise. Read from the CLI's context store as the CLI reads it (DOCKER_CONTEXT,
    else `currentContext` of DOCKER_CONFIG's or ~/.docker's config.json; the context's meta.json and tls/ under
    contexts/, in directories named by the sha256 of its name). The Docker SDK's own reader leaves DOCKER_CONTEXT out
    and imports the whole SDK, which every task's worker would pay for. Raises ContextError for a context that is
    named but not there, as the CLI fails for it."""
    environ = os.environ if environ is None else environ
    config_dir = _config_dir(environ)
    name = environ.get("DOCKER_CONTEXT") or _cli_config(environ).get("currentContext")
    if not name or name == "default":
        return {}
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    try:
        with open(os.path.join(config_dir, "contexts", "meta", digest, "meta.json")) as f:
            endpoint = json.load(f)["Endpoints"]["docker"]
        host = endpoint["Host"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ContextError("the docker CLI's current context %r (%s) is not in %s/contexts: set DOCKER_HOST, or a "
                           "target's docker_host" % (name, "DOCKER_CONTEXT" if environ.get("DOCKER_CONTEXT") else
                                                     "currentContext of its config.json", config_dir))
    tls_dir = os.path.join(config_dir, "contexts", "tls", digest, "docker")
    return {"name": name, "host": host, "skip_tls_verify": bool(endpoint.get("SkipTLSVerify")),
            "tls_dir": tls_dir if os.path.isdir(tls_dir) else None}


def client_proxy_env(docker_host=None, environ=None):
    """The proxy variables `docker run` gives a container on this engine, each in upper and lower case as the CLI sets
    them: the `proxies` of the docker CLI's config.json for the engine's URL, else its `default` ones; {} when it has
    none. (The Docker SDK's reader leaves ALL_PROXY out and keys TLS engines by https://.)"""
    environ = os.environ if environ is None else environ
    proxies = _cli_config(environ).get("proxies")
    if not isinstance(proxies, dict):
        return {}
    try:
        url = engine_url(docker_host, environ)
    except ContextError:
        return {}  # the plan refuses it, saying why
    chosen = proxies[url] if url in proxies else proxies.get("default")
    env = {}
    for setting, name in PROXY_SETTINGS.items():
        value = chosen.get(setting) if isinstance(chosen, dict) else None
        if value:
            env[name] = env[name.lower()] = str(value)
    return env


def is_remote(docker_host=None, environ=None):
    """True for engines reached over the network (tcp://, ssh://), where the SDK's exec sockets cannot be trusted."""
    return not engine_url(docker_host, environ).startswith(("unix://", "npipe://", "/"))


def tls_settings(docker_host=None, tls=None, environ=None):
    """The TLS settings of an engine: a target's `tls`, else DOCKER_TLS_VERIFY/DOCKER_CERT_PATH as the docker
    CLI reads them; None for unix sockets, ssh:// and plain tcp://. {ca_cert, client_cert, client_key, verify, hostname}.
    """
    environ = os.environ if environ is None else environ
    url = engine_url(docker_host, environ)
    if not url.startswith(("tcp://", "https://")):
        return None
    if tls:
        settings = dict(ca_cert=None, client_cert=None, client_key=None, verify=True, hostname=None)
        settings.update({k: v for k, v in tls.items() if v is not None})
        return settings
    if not docker_host and not environ.get("DOCKER_HOST"):
        context = current_context(environ)
        if context:  # the engine of a context: its own TLS files, if any (DOCKER_CERT_PATH is for DOCKER_HOST)
            files = {k: os.path.join(context["tls_dir"], f) for k, f in TLS_FILES.items()} if context["tls_dir"] else {}
            files = {k: v for k, v in files.items() if os.path.exists(v)}
            if not files:
                return None
            return dict(ca_cert=files.get("ca_cert"), client_cert=files.get("client_cert"),
                        client_key=files.get("client_key"), verify=not context["skip_tls_verify"], hostname=None)
    verify_env, cert_path = environ.get("DOCKER_TLS_VERIFY"), environ.get("DOCKER_CERT_PATH")
    if not verify_env and not cert_path:
        return None
    cert_path = cert_path or os.path.join(os.path.expanduser("~"), ".docker")
    return dict({k: os.path.join(cert_path, f) for k, f in TLS_FILES.items()}, verify=bool(verify_env), hostname=None)
