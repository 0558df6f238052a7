# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which engine a target means and how to reach it, without importing the Docker SDK (the connection plugin
asks this in every task's worker)."""

from __future__ import annotations

import os


def engine_url(docker_host=None, environ=None):
    """The engine a docker_host (or DOCKER_HOST, or the default socket) means, as people write it."""
    environ = os.environ if environ is None else environ
    return docker_host or environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


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
    verify_env, cert_path = environ.get("DOCKER_TLS_VERIFY"), environ.get("DOCKER_CERT_PATH")
    if not verify_env and not cert_path:
        return None
    cert_path = cert_path or os.path.join(os.path.expanduser("~"), ".docker")
    return dict(ca_cert=os.path.join(cert_path, "ca.pem"), client_cert=os.path.join(cert_path, "cert.pem"),
                client_key=os.path.join(cert_path, "key.pem"), verify=bool(verify_env), hostname=None)
