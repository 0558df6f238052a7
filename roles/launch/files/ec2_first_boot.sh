#!/bin/sh
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# immutable.images: waits until the ec2 builder's first boot is over. Usage: ec2_first_boot.sh TIMEOUT_SECONDS
#
# Run over SSH by the launch role once sshd answers, before any role. sshd answers while cloud-init still runs
# (package upgrades that hold the dpkg and rpm locks, the AMI's own setup, the target's user_data): roles run on a
# booted host, as a play's would. An instance without cloud-init, or one too old to say its status, is taken as
# booted. Exit status: 0 booted (cloud-init done, or done with recoverable errors: it says so), 3 still booting after
# TIMEOUT_SECONDS, 4 cloud-init failed; then cloud-init's report follows (the build's message shows it).
timeout=${1:?usage: ec2_first_boot.sh TIMEOUT_SECONDS}

command -v cloud-init >/dev/null 2>&1 || { echo "no cloud-init: booted"; exit 0; }
cloud-init status --help >/dev/null 2>&1 || { echo "cloud-init without a status command: booted"; exit 0; }

timeout "$timeout" cloud-init status --wait >/dev/null 2>&1
rc=$?
case $rc in
    0) echo "cloud-init: done" ;;
    2) echo "cloud-init: done, with recoverable errors:"; cloud-init status --long 2>&1 ;;
    124) echo "cloud-init still running after ${timeout}s (ssh_timeout):"; cloud-init status --long 2>&1; exit 3 ;;
    *) echo "cloud-init failed on the builder's first boot:"; cloud-init status --long 2>&1; exit 4 ;;
esac
exit 0
