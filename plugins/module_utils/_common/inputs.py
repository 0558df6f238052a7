# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Digests of build inputs and the one-archive upload of image_files.

Digests cover names, modes, link targets and contents, never mtimes, so that the same inputs give
the same build hash on any checkout.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile

SKIP_NAMES = {".git", "__pycache__", ".pytest_cache", ".tox"}


def short_hash(data, length=12):
    """Stable short digest of JSON-serializable data."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _walk(root):
    """(absolute path, path relative to root) for root and everything below it, sorted, no SKIP_NAMES.

    A symlinked root is followed (a role or source dir linked into place is its target's content);
    links below the root are kept as links.
    """
    root = os.path.realpath(root)
    yield root, ""
    if not os.path.isdir(root) or os.path.islink(root):
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_NAMES)
        for name in sorted(dirnames + [f for f in filenames if f not in SKIP_NAMES]):
            full = os.path.join(dirpath, name)
            yield full, os.path.relpath(full, root)


def _entry_digest(hasher, full, rel):
    st = os.lstat(full)
    hasher.update(("%s\0%o\0" % (rel, stat.S_IMODE(st.st_mode))).encode("utf-8", "surrogateescape"))
    if stat.S_ISLNK(st.st_mode):
        hasher.update(b"L" + os.readlink(full).encode("utf-8", "surrogateescape"))
    elif stat.S_ISREG(st.st_mode):
        hasher.update(b"F")
        with open(full, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                hasher.update(chunk)
    elif stat.S_ISDIR(st.st_mode):
        hasher.update(b"D")


def tree_digest(path):
    """sha256 over a file or directory tree (a role, a file source)."""
    hasher = hashlib.sha256()
    for full, rel in _walk(path):
        _entry_digest(hasher, full, rel)
    return hasher.hexdigest()


def directories_digest(base, names):
    """sha256 over those of the directories `names` under `base` that exist (name and tree_digest of each), or None
    when none does. A directory with a file this user cannot read counts by that error: no role of this user's run
    could read that file either."""
    present = [name for name in sorted(set(names)) if os.path.isdir(os.path.join(base, name))]
    if not present:
        return None
    return short_hash([[name, _readable_tree_digest(os.path.join(base, name))] for name in present], length=64)


def _readable_tree_digest(path):
    try:
        return tree_digest(path)
    except OSError as e:
        return "unreadable: %s" % e


def _members(src, dest):
    """Map one image_files entry to (source path, archive name) pairs, rsync/Packer style.

    A directory with a trailing slash sends its contents into dest; without it the directory
    itself lands inside dest. A file goes to dest, or into dest when dest ends with '/'.
    """
    into = dest.endswith("/")
    dest = dest.rstrip("/")
    if os.path.isdir(src):
        contents = src.endswith("/")
        root = src.rstrip("/") or "/"
        base = dest if contents else "%s/%s" % (dest, os.path.basename(root))
        for full, rel in _walk(root):
            if rel:
                yield full, "%s/%s" % (base, rel)
            elif not contents:
                yield full, base
    else:
        # a symlinked file source is followed: the image gets its content, not a link that would dangle there
        yield os.path.realpath(src), ("%s/%s" % (dest, os.path.basename(src)) if into else dest)


def write_files_archive(entries, path, cwd):
    """Write every image_files entry into one tar at `path`; return its content digest.

    Archive names are relative to / so one PUT of the archive (Docker) or one unarchive (SSH)
    places everything. Parents of dest are not archived: the receiving side creates missing
    parents and leaves existing ones (their owner and mode) alone.
    """
    hasher = hashlib.sha256()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            src = os.path.join(cwd, os.path.expanduser(entry["src"]))
            for full, name in _members(src, str(entry["dest"])):
                name = name.lstrip("/")
                info = tar.gettarinfo(full, arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                _entry_digest(hasher, full, name)
                if info.isreg():
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return hasher.hexdigest()


def existing_directories(archive_path, is_directory):
    """Names of the archive's directory entries that are directories on the builder already.

    is_directory(path) says whether an absolute path is a directory on the builder, following symbolic links
    (`/lib` on a merged-/usr system is one): the archive's entry must not replace the link. It is asked about each
    entry's parents first, and not about what is below a path that is not a directory there (the upload creates it).
    """
    with tarfile.open(archive_path, "r") as tar:
        dirs = {m.name.strip("/") for m in tar.getmembers() if m.isdir() and m.name.strip("/")}
    known = {}

    def there(name):
        if name not in known:
            parent = name.rpartition("/")[0]
            known[name] = (not parent or there(parent)) and is_directory("/" + name)
        return known[name]

    return {name for name in sorted(dirs) if there(name)}


def archive_without(data, skip, chunk_size=1 << 20):
    """The tar stream `data` (a file object) without the directory entries named in `skip`, piece by piece."""
    with tarfile.open(fileobj=data, mode="r|") as tar:
        for member in tar:
            if member.isdir() and member.name.rstrip("/") in skip:
                continue
            yield member.tobuf(format=tarfile.PAX_FORMAT)
            if member.isreg() and member.size:
                content = tar.extractfile(member)
                yield from iter(lambda: content.read(chunk_size), b"")
                if member.size % tarfile.BLOCKSIZE:
                    yield tarfile.NUL * (tarfile.BLOCKSIZE - member.size % tarfile.BLOCKSIZE)
    yield tarfile.NUL * (2 * tarfile.BLOCKSIZE)
