#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: package_inventory
short_description: Internal - list the OS packages and Python distributions installed on a builder
version_added: 0.2.0
description:
  - A step of the build that the provision role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Reads the package databases present on the host it runs on (a builder container or EC2 instance),
    with the host's Python 3 and no third-party libraries.
  - C(dpkg) (V(/var/lib/dpkg/status), installed packages only, and V(/var/lib/dpkg/status.d) of distroless images),
    C(rpm) (C(rpm -qa) when the C(rpm) command exists), C(apk) (V(/lib/apk/db/installed)), and Python distributions
    (C(*.dist-info/METADATA) and C(*.egg-info/PKG-INFO)) in the system site and dist-packages directories and in
    O(python_paths).
  - The operating system comes from V(/etc/os-release).
  - The result is the input of M(immutable.images.image_sbom), which writes it as a CycloneDX SBOM.
  - Reads only; never reports a change.
extends_documentation_fragment:
  - immutable.images.attributes
attributes:
  check_mode:
    support: full
    details: Reads the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  python_paths:
    description:
      - Further places with Python distributions, for example virtualenvs of applications.
      - A virtualenv or prefix is searched in its C(lib*/python3*/site-packages) (and C(dist-packages)); any other
        directory is searched itself. Glob patterns are allowed.
    type: list
    elements: path
    default: []
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: List what is installed on the builder
  immutable.images.package_inventory:
    python_paths:
      - /opt/app/venv
  register: inventory

- name: Write the SBOM of the image and run the scan gate
  immutable.images.image_sbom:
    packages: "{{ inventory.packages }}"
    os: "{{ inventory.os }}"
    path: sbom/webapp.cdx.json
"""

RETURN = r"""
stage:
  description: V(sbom), when the inventory cannot be read (the stage the provision role records).
  returned: failure
  type: str
packages:
  description: Installed packages, sorted by type, name, version and architecture.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Package name (for V(pypi), as in its metadata).
      type: str
    version:
      description: Installed version (with the epoch, C(epoch:version), where the package has one).
      type: str
    type:
      description: V(deb), V(rpm), V(apk) or V(pypi).
      type: str
    arch:
      description: Architecture, for OS packages.
      type: str
      returned: when known
    source:
      description: Source package name, for OS packages.
      type: str
      returned: when known
    source_version:
      description: Version of the source package, for OS packages.
      type: str
      returned: when known
    purl:
      description: The package URL, for example V(pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12).
      type: str
  sample:
    - {name: libc6, version: 2.36-9+deb12u4, type: deb, arch: amd64, source: glibc, source_version: 2.36-9+deb12u4,
       purl: "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"}
os:
  description: The operating system from C(/etc/os-release); empty when there is none.
  returned: always
  type: dict
  contains:
    id:
      description: C(ID), for example V(debian).
      type: str
    version_id:
      description: C(VERSION_ID), for example V(12).
      type: str
    pretty_name:
      description: C(PRETTY_NAME).
      type: str
    version_codename:
      description: C(VERSION_CODENAME), for example V(bookworm).
      type: str
sources:
  description: The package databases found, of V(dpkg), V(rpm), V(apk) and V(python).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.images.plugins.module_utils._artifacts import package_inventory


def main():
    module = AnsibleModule(
        argument_spec=dict(python_paths=dict(type="list", elements="path", default=[])),
        supports_check_mode=True,
    )
    rpm = module.get_bin_path("rpm")

    def rpm_query():
        rc, out, err = module.run_command([rpm] + package_inventory.RPM_COMMAND[1:])
        if rc != 0:
            module.fail_json(msg="rpm -qa failed (rc %d): %s" % (rc, err.strip()), stage="sbom")
        return out

    try:
        result = package_inventory.collect("/", module.params["python_paths"], rpm_query if rpm else None)
    except Exception as e:  # pylint: disable=broad-exception-caught  # any failure here is one of stage sbom
        module.fail_json(msg="cannot read the package inventory: %s" % e, stage="sbom")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
