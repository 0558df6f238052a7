#!/usr/bin/env python3
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Generate workload W1 deterministically (nothing big is committed).

W1 = a base image with python3, 200 small files (10 dirs x 20 files, about 261 KB) uploaded to
/opt/payload, 30 provisioning tasks (2 user, 11 file, 4 copy content, 3 template, 5 lineinfile,
5 command) split into three roles of 10 tasks, then a commit with CMD ["/bin/bash"] and a tag.

The same 30 steps are written three ways, and must give the same end state:
  roles/w1_users, roles/w1_config, roles/w1_app   the Ansible roles (ours, Packer + Ansible)
  steps.sh                                        one POSIX shell script (Packer shell, Dockerfile, raw)
The shell lines mirror what each Ansible module does (useradd flags, modes, owners, line edits).

    python3 bench/w1.py OUTDIR [TOKEN]     # writes OUTDIR/{payload,roles,steps.sh,...}
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

DIRS, FILES_PER_DIR, FILE_BYTES = 10, 20, 1305   # 200 files, 261 000 bytes
BASE_IMAGE = os.environ.get("IMMUTABLE_BASE_IMAGE", "immutable-images/debian-python:bookworm")
# The AMI variants' "instance": an sshd container of this image (Debian 12 + python3 + openssh-server).
SSH_BASE_IMAGE = os.environ.get("IMMUTABLE_SSH_BASE_IMAGE", "immutable-images/debian-python-ssh:bookworm")

# The paths the 30 steps touch: the end-state checksum covers exactly these (plus the two users).
CHECK_ROOTS = ["/opt/payload", "/etc/w1", "/srv/w1", "/var/log/w1", "/var/lib/w1svc"]
USERS = ["w1app", "w1svc"]

# ---------------------------------------------------------------------------------------------
# The three roles. Every task is (ansible task dict, shell lines). Role defaults are per role.

ROLE_DEFAULTS = {
    "w1_users": {"w1_bust": "none"},   # w1_bust: a dummy input, changed to make a build "cold"
    "w1_config": {"w1_app_name": "w1", "w1_port": 8080, "w1_log_level": "info"},
    "w1_app": {"w1_port": 8080, "w1_rev": "none"},   # w1_rev: a dummy input of the last role only
}

TEMPLATES = {
    "w1_config": {
        "app.conf.j2": "# {{ w1_app_name }} configuration (managed)\nname={{ w1_app_name }}\n"
                       "port={{ w1_port }}\nworkers=2\nuser=w1app\n",
        "logging.conf.j2": "level={{ w1_log_level }}\nfile=/var/log/w1/app.log\n",
    },
    "w1_app": {
        "run.sh.j2": "#!/bin/sh\n# start the w1 service\nexec python3 -m http.server {{ w1_port }}\n",
    },
}
# The same templates rendered with the defaults, for steps.sh.
RENDERED = {
    "app.conf.j2": "# w1 configuration (managed)\nname=w1\nport=8080\nworkers=2\nuser=w1app\n",
    "logging.conf.j2": "level=info\nfile=/var/log/w1/app.log\n",
    "run.sh.j2": "#!/bin/sh\n# start the w1 service\nexec python3 -m http.server 8080\n",
}


def _q(text):
    """Single-quote for sh."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _write_content(path, content, mode, owner=None):
    lines = ["printf '%%s' %s > %s" % (_q(content), path)]
    if owner:
        lines.append("chown %s %s" % (owner, path))
    lines.append("chmod %s %s" % (mode, path))
    return lines


def user(name, uid, home, shell):
    task = {"name": "User %s" % name,
            "ansible.builtin.user": {"name": name, "uid": uid, "home": home, "shell": shell, "create_home": False}}
    # ansible's user module runs exactly: useradd -u UID -d HOME -s SHELL -M NAME
    return task, ["useradd -u %d -d %s -s %s -M %s" % (uid, home, shell, name)]


def directory(path, mode, owner=None, group=None):
    args = {"path": path, "state": "directory", "mode": mode}
    lines = ["mkdir -p %s" % path]
    if owner:
        args["owner"] = owner
        args["group"] = group or owner
        lines.append("chown %s:%s %s" % (owner, group or owner, path))
    lines.append("chmod %s %s" % (mode, path))
    return {"name": "Directory %s" % path, "ansible.builtin.file": args}, lines


def touch(path, mode):
    return ({"name": "Touch %s" % path, "ansible.builtin.file": {"path": path, "state": "touch", "mode": mode}},
            ["touch %s" % path, "chmod %s %s" % (mode, path)])


def link(path, target):
    return ({"name": "Link %s" % path, "ansible.builtin.file": {"path": path, "src": target, "state": "link"}},
            ["ln -s %s %s" % (target, path)])


def copy_content(path, content, mode, owner=None):
    args = {"dest": path, "content": content, "mode": mode}
    if owner:
        args["owner"], args["group"] = owner.split(":")
    return {"name": "Content %s" % path, "ansible.builtin.copy": args}, _write_content(path, content, mode, owner)


def template(src, dest, mode, owner=None):
    args = {"src": src, "dest": dest, "mode": mode}
    if owner:
        args["owner"], args["group"] = owner.split(":")
    return ({"name": "Template %s" % dest, "ansible.builtin.template": args},
            _write_content(dest, RENDERED[src], mode, owner))


def line_append(path, line):
    return ({"name": "Line %s in %s" % (line, path), "ansible.builtin.lineinfile": {"path": path, "line": line}},
            ["grep -qxF %s %s || printf '%%s\\n' %s >> %s" % (_q(line), path, _q(line), path)])


def line_replace(path, regexp, line):
    # lineinfile replaces the (single) matching line in place
    return ({"name": "Line %s in %s" % (line, path),
             "ansible.builtin.lineinfile": {"path": path, "regexp": regexp, "line": line}},
            ["sed -i %s %s" % (_q("s|%s.*|%s|" % (regexp, line)), path)])


def command(argv, changed=True):
    task = {"name": "Run %s" % argv.split()[0], "ansible.builtin.command": {"cmd": argv}}
    if changed:
        task["changed_when"] = True
    return task, [argv]


ROLES = {
    "w1_users": [
        user("w1app", 2101, "/srv/w1", "/bin/bash"),
        user("w1svc", 2102, "/var/lib/w1svc", "/usr/sbin/nologin"),
        directory("/etc/w1", "0755"),
        directory("/srv/w1", "0750", "w1app"),
        directory("/var/log/w1", "0770", "w1svc"),
        directory("/var/lib/w1svc", "0700", "w1svc"),
        copy_content("/etc/w1/users.conf", "app=w1app\nsvc=w1svc\n", "0644"),
        copy_content("/etc/w1/motd", "Built by workload W1.\n", "0644"),
        line_append("/etc/w1/users.conf", "group=w1"),
        command("chown -R w1app:w1app /opt/payload/dir00"),
    ],
    "w1_config": [
        directory("/etc/w1/conf.d", "0755"),
        directory("/srv/w1/data", "0750", "w1app"),
        directory("/srv/w1/cache", "0700", "w1app"),
        touch("/etc/w1/conf.d/empty.conf", "0600"),
        copy_content("/etc/w1/conf.d/10-base.conf", "# base settings\nlisten=127.0.0.1\n", "0644"),
        template("app.conf.j2", "/etc/w1/app.conf", "0640", "root:w1app"),
        template("logging.conf.j2", "/etc/w1/conf.d/20-logging.conf", "0644"),
        line_replace("/etc/w1/app.conf", "^workers=", "workers=4"),
        line_append("/etc/w1/conf.d/10-base.conf", "debug=false"),
        command("chmod -R g+rX,o-rwx /opt/payload/dir01"),
    ],
    "w1_app": [
        directory("/srv/w1/releases", "0755", "w1app"),
        directory("/srv/w1/releases/1", "0755", "w1app"),
        link("/srv/w1/current", "/srv/w1/releases/1"),
        copy_content("/srv/w1/releases/1/VERSION", "1.0.0\n", "0644", "w1app:w1app"),
        template("run.sh.j2", "/srv/w1/releases/1/run.sh", "0755", "w1app:w1app"),
        line_append("/etc/w1/app.conf", "release=/srv/w1/current"),
        line_replace("/etc/w1/users.conf", "^svc=", "svc=w1svc:nologin"),
        command("cp /etc/w1/app.conf /srv/w1/releases/1/app.conf.dist"),
        command("install -d -m 0750 -o w1svc -g w1svc /var/log/w1/archive"),
        command("cp -r /opt/payload/dir09 /srv/w1/releases/1/assets"),
    ],
}
ROLE_ORDER = ["w1_users", "w1_config", "w1_app"]


def task_counts():
    counts = {}
    for role in ROLE_ORDER:
        for task, _ in ROLES[role]:
            action = next(k for k in task if k.startswith("ansible.builtin."))
            counts[action] = counts.get(action, 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------

def _payload_text(d, f):
    out, i = [], 0
    seed = "w1/dir%02d/file%02d" % (d, f)
    while sum(len(x) for x in out) < FILE_BYTES:
        out.append("%s line %03d %s\n" % (seed, i, hashlib.sha256(("%s:%d" % (seed, i)).encode()).hexdigest()[:40]))
        i += 1
    text = "".join(out)[:FILE_BYTES - 1] + "\n"
    return text


def write_payload(root):
    for d in range(DIRS):
        dpath = os.path.join(root, "dir%02d" % d)
        os.makedirs(dpath, exist_ok=True)
        os.chmod(dpath, 0o755)
        for f in range(FILES_PER_DIR):
            p = os.path.join(dpath, "file%02d.conf" % f)
            with open(p, "w") as fh:
                fh.write(_payload_text(d, f))
            os.chmod(p, 0o644)
    os.chmod(root, 0o755)


def _yaml(data):
    return "---\n" + json.dumps(data, indent=2) + "\n"   # JSON is YAML


def write_roles(root):
    for role in ROLE_ORDER:
        base = os.path.join(root, role)
        for sub in ("tasks", "defaults", "meta"):
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        with open(os.path.join(base, "tasks", "main.yml"), "w") as fh:
            fh.write(_yaml([t for t, _ in ROLES[role]]))
        with open(os.path.join(base, "defaults", "main.yml"), "w") as fh:
            fh.write(_yaml(ROLE_DEFAULTS[role]))
        with open(os.path.join(base, "meta", "main.yml"), "w") as fh:
            fh.write(_yaml({"galaxy_info": {"author": "bench", "description": "W1 %s" % role,
                                            "license": "GPL-3.0-or-later", "min_ansible_version": "2.17"},
                            "dependencies": []}))
        if role in TEMPLATES:
            os.makedirs(os.path.join(base, "templates"), exist_ok=True)
            for name, text in TEMPLATES[role].items():
                with open(os.path.join(base, "templates", name), "w") as fh:
                    fh.write(text)


def steps_script():
    lines = ["#!/bin/sh", "# W1: the 30 provisioning steps of roles %s as one script" % ", ".join(ROLE_ORDER), "set -e"]
    n = 0
    for role in ROLE_ORDER:
        for task, sh in ROLES[role]:
            n += 1
            lines.append("# %d. %s" % (n, task["name"]))
            lines.extend(sh)
    return "\n".join(lines) + "\n"


CHECKSUM_SCRIPT = r"""set -e
{
  for u in %(users)s; do getent passwd "$u"; getent group "$u"; done
  find %(roots)s -printf '%%p|%%u:%%g|%%m|%%y|%%l\n' | LC_ALL=C sort
  find %(roots)s -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
} > /tmp/w1-state
printf '%%s %%s\n' "$(sha256sum < /tmp/w1-state | cut -c1-16)" "$(wc -l < /tmp/w1-state)"
""" % {"users": " ".join(USERS), "roots": " ".join(CHECK_ROOTS)}


# ---------------------------------------------------------------------------------------------
# The package-heavy workload (variants ours-pkgs / plain-pkgs): one role that installs Debian packages
# from Debian's mirror (the only reachable one; builders need network_mode host for it). Its end state
# is the package database, hashed.

PKG_ROLE = "bench_pkgs"
PACKAGES = ["git", "curl", "unzip", "make", "python3-pip", "python3-venv", "openssh-client", "rsync"]
PKG_CHECKSUM_SCRIPT = r"""set -e
dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\n' | LC_ALL=C sort > /tmp/pkg-state
printf '%s %s\n' "$(sha256sum < /tmp/pkg-state | cut -c1-16)" "$(wc -l < /tmp/pkg-state)"
"""


def write_pkg_role(root):
    base = os.path.join(root, PKG_ROLE)
    for sub in ("tasks", "defaults", "meta"):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    tasks = [{"name": "Install the packages", "ansible.builtin.apt": {
        "name": PACKAGES, "update_cache": True, "install_recommends": False, "cache_valid_time": 0}}]
    with open(os.path.join(base, "tasks", "main.yml"), "w") as fh:
        fh.write(_yaml(tasks))
    with open(os.path.join(base, "defaults", "main.yml"), "w") as fh:
        fh.write(_yaml({"pkg_bust": "none"}))   # a dummy input: a new value makes the build cold
    with open(os.path.join(base, "meta", "main.yml"), "w") as fh:
        fh.write(_yaml({"galaxy_info": {"author": "bench", "description": "bench: install packages",
                                        "license": "GPL-3.0-or-later", "min_ansible_version": "2.15"}}))


def generate(out, token="local"):
    """Write the whole workload into `out`; return a dict of useful paths."""
    os.makedirs(out, exist_ok=True)
    write_payload(os.path.join(out, "payload"))
    write_roles(os.path.join(out, "roles"))
    with open(os.path.join(out, "steps.sh"), "w") as fh:
        fh.write(steps_script())
    os.chmod(os.path.join(out, "steps.sh"), 0o755)
    with open(os.path.join(out, "checksum.sh"), "w") as fh:
        fh.write(CHECKSUM_SCRIPT)
    write_pkg_role(os.path.join(out, "roles"))
    with open(os.path.join(out, "pkg-checksum.sh"), "w") as fh:
        fh.write(PKG_CHECKSUM_SCRIPT)
    with open(os.path.join(out, "pkg-playbook.yml"), "w") as fh:
        fh.write(_yaml([{"name": "Packages", "hosts": "all", "gather_facts": False, "roles": [PKG_ROLE]}]))
    with open(os.path.join(out, "ansible.cfg"), "w") as fh:   # as in examples/webapp
        fh.write("[defaults]\nroles_path = roles\ncallbacks_enabled = immutable.images.build_guard\n"
                 "localhost_warning = false\ninterpreter_python = auto_silent\n\n"
                 "[inventory]\ninventory_unparsed_warning = false\n")
    # Dockerfile: the label goes first so that every intermediate image carries it (cleanup finds them).
    with open(os.path.join(out, "Dockerfile"), "w") as fh:
        fh.write("FROM %s\nLABEL bench.run=%s\nCOPY payload /opt/payload\nCOPY steps.sh /tmp/steps.sh\n"
                 "RUN sh -e /tmp/steps.sh && rm /tmp/steps.sh\nCMD [\"/bin/bash\"]\n" % (BASE_IMAGE, token))
    with open(os.path.join(out, ".dockerignore"), "w") as fh:
        fh.write("*\n!payload\n!steps.sh\n")
    # The playbook Packer's ansible provisioner runs: the same three roles (the payload comes
    # from Packer's file provisioner, as a Packer user would do it).
    with open(os.path.join(out, "packer-playbook.yml"), "w") as fh:
        fh.write(_yaml([{"name": "W1", "hosts": "all", "gather_facts": False, "roles": ROLE_ORDER}]))
    return {"payload": os.path.join(out, "payload"), "roles": os.path.join(out, "roles")}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    generate(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "local")
    print(json.dumps(task_counts()))
