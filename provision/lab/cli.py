"""`provision lab up|down|status`: the local lab of systemd-nspawn hosts.

up     builds the rootfs once, then brings up the bridge, the package mirror and hosts 1..N
       (booting any that are down, adding any that are missing), and writes lab/hosts.ini.
down   removes every host, process, mount, link, rule and file the lab made.
status lists the hosts, the bridge and the mirror.

The lab of the README is `lab` (hosts lab-1.., bridge dylab0, 10.88.0.0/24, files in lab/).
DOCKYARD_LAB_NAME, DOCKYARD_LAB_SUBNET (three octets) and DOCKYARD_LAB_DIR choose another,
so that several labs can run side by side (the lab tests use their own).
"""
import contextlib
import fcntl
import os
import sys
from pathlib import Path

from provision.lab import inventory, machine, mirror, network, rootfs
from provision.lab.command import LabError, remove_tree
from provision.lab.settings import MAX_HOSTS, Lab

LOCKS = Path("/run/lock")


def main_lab(args):
    try:
        if os.geteuid() != 0:
            raise LabError("the lab needs root (namespaces, mounts, bridges, iptables)")
        lab = Lab.from_environment()
        with one_at_a_time(lab):
            if args.lab_verb == "up":
                up(lab, args.hosts)
            elif args.lab_verb == "down":
                down(lab)
            else:
                status(lab)
    except LabError as error:
        print("provision lab %s: %s" % (args.lab_verb, error), file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def one_at_a_time(lab):
    """Hold the lab's lock: two `up`s (or an `up` and a `down`) at once would each make half."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    with open(LOCKS / ("dockyard-lab-%s.lock" % lab.name), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("lab %s: waiting for another `provision lab` on it" % lab.name, file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(lab, count):
    if not 1 <= count <= MAX_HOSTS:
        raise LabError("--hosts must be between 1 and %d, not %d" % (MAX_HOSTS, count))
    root = rootfs.ensure()
    network.up(lab)
    mirror.up(lab)
    authorized_key = inventory.ensure_key(lab)
    # Hosts are only ever added by `up`: a lab of 5 stays 5 when asked for 3.
    indexes = sorted(set(range(1, count + 1)) | set(machine.present(lab)))
    down_now = [index for index in indexes if machine.pid(lab, index) is None]
    machine.allow_many_hosts()
    try:
        for index in down_now:
            try:
                machine.prepare(lab, index, root, authorized_key)
                machine.boot(lab, index)
            except OSError as error:
                raise LabError("%s: %s" % (lab.host_name(index), error))
        machine.wait_booted(lab, down_now)
    except BaseException:
        # Whatever failed, the hosts this run started go away whole: the next `up` starts clean.
        for index in down_now:
            machine.remove(lab, index)
        raise
    inventory.write(lab, indexes)
    for index in indexes:
        print(machine.describe(lab, index))
    print("lab: %d hosts up; inventory %s" % (len(indexes), lab.hosts_file))


def down(lab):
    for index in machine.present(lab):
        machine.remove(lab, index)
    mirror.down(lab)
    network.down(lab)
    inventory.remove(lab)
    if lab.state_dir.exists():
        remove_tree(lab.state_dir, "lab state")
    print("lab %s: down" % lab.name)


def status(lab):
    indexes = machine.present(lab)
    for index in indexes:
        print(machine.describe(lab, index))
    if not indexes:
        print("lab %s: no hosts" % lab.name)
    print(network.describe(lab))
    print(mirror.describe(lab))
