#!/bin/sh
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# immutable.images: the ec2 builder's dead man's switch. Usage: ec2_watchdog.sh TIMEOUT_SECONDS
#
# Started over SSH by the launch role, as root, on an instance launched with
# InstanceInitiatedShutdownBehavior=terminate: shutting down terminates it. The controller holds the
# lease by having an SSH session open (Ansible keeps one for the whole build); each look that finds one
# renews the lease. Once no session has been seen for TIMEOUT_SECONDS, the instance shuts down.
# It lives in memory only (the copy Ansible ran is removed, the lease is on a tmpfs): an AMI made from
# the instance does not carry it, and it does not survive the reboot of an image creation.
timeout=${1:?usage: ec2_watchdog.sh TIMEOUT_SECONDS}
lease=${IMMUTABLE_IMAGES_LEASE:-/run/immutable-images-watchdog.lease}
period=$((timeout / 4))
[ "$period" -gt 60 ] && period=60
[ "$period" -lt 1 ] && period=1

watch() {
    trap '' HUP INT
    while :; do
        sleep "$period"
        # An SSH session of a user ("sshd: user@notty", "sshd-session: user@pts/0"): the controller is there.
        if grep -qsa 'sshd[-a-z]*: [^ ]*@' /proc/[0-9]*/cmdline; then
            touch "$lease"
            continue
        fi
        age=$(( $(date +%s) - $(date -r "$lease" +%s) ))
        if [ "$age" -ge "$timeout" ]; then
            echo "no SSH session for ${age}s: shutting down" > "$lease"
            shutdown -h now || poweroff
            exit 0
        fi
    done
}

# The lease exists before this returns (the build, and its tests, may look for it at once).
touch "$lease"
# exec, not a redirection of the call: the shell would keep the session's own stdout and stderr open in
# saved descriptors, and the SSH session would not end.
(exec </dev/null >/dev/null 2>&1; watch) &
echo "watchdog $! started: shutdown after ${timeout}s without an SSH session"
