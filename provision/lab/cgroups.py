"""Each lab host's own cgroup, in every cgroup hierarchy of this machine.

With no systemd on this machine to hand it a scope, systemd-nspawn makes its `payload` and
`supervisor` cgroups inside the cgroup it was started in, and the host's systemd and engine
build theirs below those. Hosts started from one cgroup would share them, and a host stopping
could kill what another runs there. So each host starts in a cgroup of its own, dockyard-<host>,
below the starting process's cgroup in every hierarchy; the paths are recorded so that `down`,
from wherever it runs, removes those subtrees with whatever the host's engine made in them.
"""
import errno
import os
import time
from pathlib import Path

from provision.lab.command import LabError

MOUNT_OPTIONS = {"rw", "ro", "nosuid", "nodev", "noexec", "relatime", "noatime"}


def hierarchies():
    """The directory of this process's cgroup in each hierarchy mounted here."""
    mounts = {}
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields, _, tail = line.partition(" - ")
            fstype, _, options = tail.split()[:3]
            root, point = fields.split()[3:5]
            if fstype == "cgroup2":
                mounts.setdefault("", (root, point))
            elif fstype == "cgroup":
                mounts.setdefault(frozenset(options.split(",")) - MOUNT_OPTIONS, (root, point))
    directories = []
    with open("/proc/self/cgroup") as own:
        for line in own:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            key = frozenset(controllers.split(",")) if controllers else ""
            if key in mounts:
                root, point = mounts[key]
                directories.append(Path(point) / os.path.relpath(path, root))
    return directories


def create(name):
    """A cgroup `name` below this process's own in every hierarchy; their paths."""
    made = []
    for parent in hierarchies():
        cgroup = parent / name
        try:
            cgroup.mkdir(exist_ok=True)
            # A new cpuset cgroup starts with no CPUs and no memory nodes: nothing could run in it.
            for limit in ["cpuset.cpus", "cpuset.mems"]:
                if (parent / limit).exists() and not (cgroup / limit).read_text().strip():
                    (cgroup / limit).write_text((parent / limit).read_text())
        except OSError as error:
            raise LabError("%s: cannot create cgroup %s: %s" % (name, cgroup, error.strerror))
        made.append(cgroup)
    return made


def enter(cgroups):
    """Move the calling process into each cgroup (runs in the child, before nspawn starts)."""
    for cgroup in cgroups:
        with open(cgroup / "cgroup.procs", "w") as procs:
            procs.write("0")


def remove(cgroups, what):
    """Remove each cgroup and everything below it, deepest first."""
    for cgroup in cgroups:
        if not cgroup.is_dir():
            continue
        for directory, _, _ in sorted(os.walk(cgroup), key=lambda entry: -len(entry[0])):
            remove_one(Path(directory), what)


def remove_one(cgroup, what):
    # The processes of a host that has just stopped may take a moment to leave its cgroups.
    deadline = time.monotonic() + 10
    while True:
        try:
            cgroup.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY or time.monotonic() > deadline:
                raise LabError("%s: cannot remove cgroup %s: %s" % (what, cgroup, error.strerror))
            time.sleep(0.2)
