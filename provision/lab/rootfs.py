"""The lab's root filesystem: Debian bookworm from debootstrap, built once and cached.

Every lab host boots from this tree through its own overlay, so it holds only what all hosts
share; per-host files (hostname, address, host keys) are written by `machine`. The cache is named
by a digest of what goes into it, so changing the package list or a file below builds anew.
"""
import hashlib
import os

from provision.lab import aptsources, templates
from provision.lab.command import LabError, remove_tree, run
from provision.lab.settings import CACHE, TEMPLATES

SUITE = "bookworm"
PACKAGES = ["systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "sudo", "iproute2",
            "iptables", "ca-certificates", "kmod", "procps", "iputils-ping", "netbase"]
# Files every host gets: (template, path in the rootfs, mode).
FILES = [("cgroup-v1-writable.sh", "usr/local/sbin/cgroup-v1-writable", 0o755),
         ("cgroup-v1-writable.service", "etc/systemd/system/cgroup-v1-writable.service", 0o644),
         ("sshd.conf", "etc/ssh/sshd_config.d/lab.conf", 0o644)]
UNITS = ["systemd-networkd.service", "cgroup-v1-writable.service", "ssh.service"]


def digest():
    content = hashlib.sha256(" ".join([SUITE] + PACKAGES + UNITS).encode())
    for template, path, mode in FILES:
        content.update(("%s %o\n" % (path, mode)).encode())
        content.update((TEMPLATES / template).read_bytes())
    return content.hexdigest()[:12]


def path():
    return CACHE / ("rootfs-%s-%s" % (SUITE, digest()))


def ensure():
    """The cached rootfs, built first if missing. A failed build leaves nothing behind."""
    target = path()
    if target.is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    building = CACHE / (".building-%s-%d" % (target.name, os.getpid()))
    print("lab: building the %s root filesystem (once, about a minute) in %s" % (SUITE, target))
    try:
        build(building)
        building.rename(target)
    except BaseException:
        remove_tree(building, "rootfs build")
        if target.is_dir():
            return target   # another `up` (another lab) finished the same build first
        raise
    return target


def build(root):
    archive = aptsources.archive_for(SUITE)
    run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), SUITE, root,
         archive.uri], "rootfs: debootstrap %s from %s" % (SUITE, archive.uri))
    # Each host gets its own identity and its own apt sources (the lab mirror) before boot.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    for template, relative, mode in FILES:
        templates.write(root / relative, template, mode=mode)
    run(["systemctl", "--root", root, "enable"] + UNITS, "rootfs: enabling units")
    if not (root / "usr/sbin/sshd").exists():
        raise LabError("rootfs: debootstrap finished but %s has no sshd" % root)
