#!/bin/sh
# systemd-nspawn mounts the machine's cgroup v1 controllers read-only in a lab host, and a
# container engine inside must create cgroups in them. Mounting each controller afresh gives a
# writable view of the whole hierarchy (the lab's engines then share the machine's cgroup tree,
# so each keeps to its own cgroup parent). name=systemd stays as nspawn set it up: it is systemd's own.
set -eu
awk '$3 == "cgroup" { print $2, $4 }' /proc/self/mounts | while read -r dir options; do
    controllers=$(echo "$options" | tr , '\n' \
        | grep -Ev '^(ro|rw|nosuid|nodev|noexec|relatime|noatime|name=.*)$' | paste -sd, -) || true
    [ -n "$controllers" ] || continue
    umount "$dir"
    mount -t cgroup -o "nosuid,nodev,noexec,$controllers" cgroup "$dir"
done
