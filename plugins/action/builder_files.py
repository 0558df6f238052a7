# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Put the image_files archive into a builder in one transfer.

For Docker builders the archive goes straight through the engine's archive API (one PUT, whatever
the number of files); for SSH builders it is copied once and unpacked with one `tar` command.
Never file by file: Ansible's copy module costs about half a second per file.
"""

from __future__ import annotations

import shlex

from ansible_collections.immutable.images.plugins.module_utils._docker.builder import DockerBuilder
from ansible_collections.immutable.images.plugins.module_utils._docker.client import DockerFailure, get_client
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionFailure, ActionModuleBase


class ActionModule(ActionModuleBase):
    TRANSFERS_FILES = False  # the ssh way makes (and removes) its own temporary directory

    def run_module(self, params, task_vars, result):
        src = params["src"]
        if not src:
            raise ActionFailure("immutable.images.builder_files: src is required")
        if self._task.check_mode:
            return dict(result, changed=True, msg="would upload %s" % src)
        try:
            target = self._templar.template(task_vars.get("image_target") or {})
            if target.get("type") == "docker":  # whatever the connection: the engine's API reaches the builder
                how = self._upload_docker(src, target)
            else:
                how = self._upload_ssh(src)
        except DockerFailure as e:
            raise ActionFailure(str(e), stage="upload") from e
        if isinstance(how, dict):  # a failed remote command
            return dict(result, **how)
        return dict(result, changed=True, method=how)

    def _upload_docker(self, src, target):
        # Connected first: what the builder's connection sets up on its first use (its session) happens during the upload.
        self._connection._connect()
        DockerBuilder(get_client(target.get("docker_host") or None, tls=target.get("tls"))).upload(target["builder"]["name"], src)
        return "docker archive API"

    def _upload_ssh(self, src):
        shell = self._connection._shell
        if not shell.tmpdir:
            self._make_tmp_path()
        remote = shell.join_path(shell.tmpdir, "image-files.tar")
        try:
            self._transfer_file(src, remote)
            self._fixup_perms2((shell.tmpdir, remote))
            # Directories the instance has keep their owner and mode, and a link to one (`/lib` on a merged-/usr
            # system) stays a link, its files going through it: with GNU tar 1.27 or later (2013), which has the option.
            res = self._low_level_execute_command(
                "k=--keep-directory-symlink; tar $k --version >/dev/null 2>&1 || k=; tar -xpf %s -C / --no-overwrite-dir $k"
                % shlex.quote(remote))
        finally:
            self._remove_tmp_path(shell.tmpdir)
        if res["rc"] != 0:
            return {"failed": True, "stage": "upload", "rc": res["rc"],
                    "msg": "unpacking image files failed: %s" % (res.get("stderr") or res.get("stdout")).strip()}
        return "one archive over %s" % self._connection.transport
