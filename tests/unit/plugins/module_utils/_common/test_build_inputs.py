# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""build_inputs.py: the image_files archive (rsync/Packer naming), content digests, tree digests."""

from __future__ import annotations

import os
import tarfile

import pytest

from ansible_collections.immutable.images.plugins.module_utils._common import inputs as build_inputs


@pytest.fixture
def src(tmp_path):
    """cwd with dist/{server.py, static/app.js, .git/HEAD, __pycache__/x.pyc} and app.conf."""
    (tmp_path / "dist" / "static").mkdir(parents=True)
    (tmp_path / "dist" / "server.py").write_text("print('hi')\n")
    (tmp_path / "dist" / "static" / "app.js").write_text("1;\n")
    (tmp_path / "dist" / ".git").mkdir()
    (tmp_path / "dist" / ".git" / "HEAD").write_text("ref: x\n")
    (tmp_path / "dist" / "__pycache__").mkdir()
    (tmp_path / "dist" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (tmp_path / "app.conf").write_text("x=1\n")
    os.chmod(tmp_path / "app.conf", 0o640)
    return tmp_path


def archive(cwd, entries):
    path = str(cwd / "out.tar")
    digest = build_inputs.write_files_archive(entries, path, str(cwd))
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        contents = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    return digest, members, contents


def test_dir_with_trailing_slash_copies_contents_into_dest(src):
    _, members, contents = archive(src, [{"src": "dist/", "dest": "/app"}])
    assert sorted(members) == ["app/server.py", "app/static", "app/static/app.js"]
    assert contents["app/server.py"] == b"print('hi')\n"


def test_dir_without_trailing_slash_lands_inside_dest(src):
    _, members, _ = archive(src, [{"src": "dist", "dest": "/app"}])
    assert sorted(members) == ["app/dist", "app/dist/server.py", "app/dist/static", "app/dist/static/app.js"]
    assert members["app/dist"].isdir()


def test_dir_trailing_slash_on_dest_changes_nothing_for_dirs(src):
    _, with_slash, _ = archive(src, [{"src": "dist/", "dest": "/app/"}])
    _, without, _ = archive(src, [{"src": "dist/", "dest": "/app"}])
    assert sorted(with_slash) == sorted(without)


def test_file_to_a_path(src):
    _, members, contents = archive(src, [{"src": "app.conf", "dest": "/etc/webapp/webapp.conf"}])
    assert list(members) == ["etc/webapp/webapp.conf"]
    assert contents["etc/webapp/webapp.conf"] == b"x=1\n"


def test_file_into_a_directory(src):
    _, members, _ = archive(src, [{"src": "app.conf", "dest": "/etc/webapp/"}])
    assert list(members) == ["etc/webapp/app.conf"]


def test_dir_contents_into_root(src):
    _, members, _ = archive(src, [{"src": "dist/", "dest": "/"}])
    assert sorted(members) == ["server.py", "static", "static/app.js"]


def test_absolute_src_and_several_entries(src):
    _, members, _ = archive(src, [{"src": str(src / "app.conf"), "dest": "/a/"}, {"src": "dist/static", "dest": "/b"}])
    assert sorted(members) == ["a/app.conf", "b/static", "b/static/app.js"]


def test_members_are_owned_by_root_and_keep_mode(src):
    _, members, _ = archive(src, [{"src": "dist", "dest": "/app"}, {"src": "app.conf", "dest": "/etc/"}])
    for m in members.values():
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "root"), m.name
        assert not m.name.startswith("/")
    assert members["etc/app.conf"].mode & 0o777 == 0o640


def test_symlinks_are_archived_as_links(src):
    os.symlink("server.py", src / "dist" / "current")
    _, members, _ = archive(src, [{"src": "dist/", "dest": "/app"}])
    assert members["app/current"].issym()
    assert members["app/current"].linkname == "server.py"


def test_no_entries_gives_empty_archive(src):
    digest, members, _ = archive(src, [])
    assert members == {}
    assert digest == build_inputs.write_files_archive([], os.devnull, str(src))


def test_digest_stable_across_mtime_changes(src):
    entries = [{"src": "dist/", "dest": "/app"}, {"src": "app.conf", "dest": "/etc/"}]
    first, _, _ = archive(src, entries)
    for path in (src / "dist" / "server.py", src / "dist" / "static", src / "app.conf"):
        os.utime(path, (1, 1))
    second, _, _ = archive(src, entries)
    assert first == second
    assert build_inputs.write_files_archive(entries, os.devnull, str(src)) == first


def test_digest_changes_with_content(src):
    entries = [{"src": "dist/", "dest": "/app"}]
    first, _, _ = archive(src, entries)
    (src / "dist" / "static" / "app.js").write_text("2;\n")
    assert archive(src, entries)[0] != first


def test_digest_changes_with_mode(src):
    entries = [{"src": "dist/", "dest": "/app"}]
    first, _, _ = archive(src, entries)
    os.chmod(src / "dist" / "server.py", 0o755)
    assert archive(src, entries)[0] != first


def test_digest_changes_with_new_file_and_with_dest(src):
    entries = [{"src": "dist/", "dest": "/app"}]
    first, _, _ = archive(src, entries)
    assert archive(src, [{"src": "dist/", "dest": "/srv"}])[0] != first
    (src / "dist" / "new").write_text("")
    assert archive(src, entries)[0] != first


def test_digest_ignores_skipped_names(src):
    entries = [{"src": "dist/", "dest": "/app"}]
    first, _, _ = archive(src, entries)
    (src / "dist" / ".git" / "HEAD").write_text("ref: y\n")
    (src / "dist" / "__pycache__" / "y.pyc").write_bytes(b"\1")
    assert archive(src, entries)[0] == first


def test_symlinked_dir_with_trailing_slash_copies_its_contents(src):
    os.symlink("dist", src / "current")
    _, members, _ = archive(src, [{"src": "current/", "dest": "/app"}])
    assert "app/server.py" in members


def test_tree_digest_skips_vcs_and_caches(src):
    before = build_inputs.tree_digest(str(src / "dist"))
    (src / "dist" / ".git" / "HEAD").write_text("ref: other\n")
    (src / "dist" / "__pycache__" / "x.pyc").write_bytes(b"\1\2")
    (src / "dist" / ".pytest_cache").mkdir()
    (src / "dist" / ".tox").mkdir()
    (src / "dist" / "static" / "__pycache__").mkdir()
    assert build_inputs.tree_digest(str(src / "dist")) == before


def test_tree_digest_tracks_content_mode_names_and_not_mtime(src):
    root = str(src / "dist")
    before = build_inputs.tree_digest(root)
    os.utime(src / "dist" / "server.py", (1, 1))
    assert build_inputs.tree_digest(root) == before
    os.chmod(src / "dist" / "server.py", 0o700)
    after_mode = build_inputs.tree_digest(root)
    assert after_mode != before
    os.rename(src / "dist" / "server.py", src / "dist" / "main.py")
    assert build_inputs.tree_digest(root) != after_mode


def test_tree_digest_same_tree_elsewhere_is_equal(src, tmp_path_factory):
    other = tmp_path_factory.mktemp("copy")
    (other / "static").mkdir()
    (other / "server.py").write_text("print('hi')\n")
    (other / "static" / "app.js").write_text("1;\n")
    for rel in ("", "static", "server.py", "static/app.js"):
        os.chmod(other / rel, os.stat(src / "dist" / rel).st_mode & 0o7777)
    assert build_inputs.tree_digest(str(other)) == build_inputs.tree_digest(str(src / "dist"))


def test_tree_digest_of_a_file(src):
    digest = build_inputs.tree_digest(str(src / "app.conf"))
    assert len(digest) == 64
    (src / "app.conf").write_text("x=2\n")
    assert build_inputs.tree_digest(str(src / "app.conf")) != digest


def test_tree_digest_of_a_symlinked_dir_follows_it(src):
    os.symlink("dist", src / "role")
    before = build_inputs.tree_digest(str(src / "role"))
    (src / "dist" / "server.py").write_text("changed\n")
    assert build_inputs.tree_digest(str(src / "role")) != before


def test_short_hash():
    value = build_inputs.short_hash({"b": [1, 2], "a": "x"})
    assert len(value) == 12
    assert all(c in "0123456789abcdef" for c in value)
    assert value == build_inputs.short_hash({"a": "x", "b": [1, 2]})  # key order does not matter
    assert value != build_inputs.short_hash({"a": "x", "b": [2, 1]})
    assert len(build_inputs.short_hash("x", length=20)) == 20


def test_existing_directories_asks_top_down_and_not_below_what_is_not_there(tmp_path):
    archive = tmp_path / "files.tar"
    with tarfile.open(archive, "w") as tar:
        for name in ("lib", "lib/systemd", "lib/systemd/system", "srv/app", "srv/app/conf", "etc/"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        tar.addfile(tarfile.TarInfo("srv/app/conf/app.ini"))
    on_builder = {"/etc", "/lib", "/lib/systemd", "/srv"}  # /lib a link to a directory there: a directory as `test -d` says
    asked = []

    def is_directory(path):
        asked.append(path)
        return path in on_builder

    assert build_inputs.existing_directories(str(archive), is_directory) == {"etc", "lib", "lib/systemd"}
    # a parent first, also one the archive has no entry of (/srv); nothing below what is not there (/srv/app)
    assert asked == ["/etc", "/lib", "/lib/systemd", "/lib/systemd/system", "/srv", "/srv/app"]
