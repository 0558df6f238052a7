# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guard's log: per user and per build, private, never through a planted link, never failing a build."""

import os
import stat

from ansible_collections.immutable.images.plugins.plugin_utils._guard import private_log


def test_log_is_per_user_and_per_build_and_private(tmp_path, monkeypatch):
    monkeypatch.setattr(private_log.tempfile, "gettempdir", lambda: str(tmp_path))
    path = private_log.log_path("20261203T1600Z-abcdef")
    assert path == str(tmp_path / ("immutable-images-%d" % os.getuid()) / "guard-20261203T1600Z-abcdef.log")
    with private_log.open_log(path) as log:
        log.write(b"removed builder\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert open(path, "rb").read() == b"removed builder\n"


def test_a_planted_symlink_is_not_followed_and_the_build_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(private_log.tempfile, "gettempdir", lambda: str(tmp_path))
    path = private_log.log_path("b1")
    os.mkdir(os.path.dirname(path), 0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    os.symlink(str(victim), path)
    with private_log.open_log(path) as log:  # /dev/null instead: no error
        log.write(b"x\n")
    assert victim.read_text() == "keep me\n"


def test_a_directory_others_can_read_or_a_link_to_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(private_log.tempfile, "gettempdir", lambda: str(tmp_path))
    path = private_log.log_path("b2")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    os.symlink(str(elsewhere), os.path.dirname(path))
    with private_log.open_log(path) as log:
        log.write(b"x\n")
    assert list(elsewhere.iterdir()) == []
    os.unlink(os.path.dirname(path))
    os.mkdir(os.path.dirname(path), 0o755)
    with private_log.open_log(path) as log:
        log.write(b"x\n")
    assert not os.path.exists(path)
