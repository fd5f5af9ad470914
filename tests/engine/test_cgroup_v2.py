"""The cgroup v2 code path on this machine's real cgroup2 tree (root).

This machine is hybrid: v1 controllers, and a cgroup2 tree at /sys/fs/cgroup/unified that
offers none of memory, cpu and pids. The `pure_v2` fixture makes the runtime see only that
tree, as on a pure v2 host whose root it is, and the v2 code runs against the kernel: making
cgroups, joining them, reading cgroup.controllers and subtree_control, the no-internal-
processes rule, the container's /sys/fs/cgroup, and the device filter (eBPF programs attach
to any cgroup2 directory, controllers or not). Writing memory/cpu/pids limits needs a host
whose v2 tree has those controllers: tests/engine/test_runtime.py checks them there, and
tests/unit/test_cgroup_v2_values.py checks the values written against the kernel's docs.

Whole containers (the shim included) see the same pure v2 view in a private mount namespace,
the machine's own mounts untouched; there all of test_runtime.py passes but the tests that
set limits:

    unshare --mount --propagation private sh -c 'umount -R /sys/fs/cgroup &&
        mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec .venv/bin/pytest tests/engine/test_runtime.py'
"""
import binascii
import ctypes
import errno
import os
import signal
import stat
import struct
import subprocess
import time

import pytest

from engine.runtime import cgroups, devices, namespaces, rootfs

pytestmark = [pytest.mark.root,
              pytest.mark.skipif("unified" not in cgroups.hierarchies(), reason="no cgroup2 tree")]

UNIFIED = cgroups.hierarchies().get("unified", "")
BPF_PROG_GET_FD_BY_ID, BPF_PROG_QUERY = 13, 16


@pytest.fixture
def pure_v2(monkeypatch):
    """The runtime sees one hierarchy, the cgroup2 tree: a pure v2 host."""
    monkeypatch.setattr(cgroups, "_hierarchies", {"unified": UNIFIED})


@pytest.fixture
def parent():
    """A cgroup parent of this test's own under the cgroup2 root; removed with what is left."""
    name = "yardtest-v2-" + binascii.hexlify(os.urandom(4)).decode()
    yield name
    for directory, _, _ in sorted(os.walk(os.path.join(UNIFIED, name)), reverse=True):
        with open(os.path.join(directory, "cgroup.procs")) as handle:
            for pid in handle.read().split():
                os.kill(int(pid), signal.SIGKILL)
        cgroups.Cgroup._rmdir(directory)


def in_child(cgroup, work):
    """Run `work()` in a forked process inside `cgroup`; -> the text it returns."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(reader)
            cgroup.join()
            os.write(writer, work().encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as handle:
        answer = handle.read()
    os.waitpid(pid, 0)
    return answer


def attached_programs(directory):
    """The ids of the device programs attached to a cgroup (BPF_PROG_QUERY)."""
    ids = (ctypes.c_uint32 * 8)()
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        # target_fd, attach_type, query_flags, attach_flags (out), prog_ids, prog_cnt (in/out)
        attr = ctypes.create_string_buffer(struct.pack(
            "=IIIIQI4x", fd, devices.BPF_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), len(ids)))
        namespaces.bpf(BPF_PROG_QUERY, attr)
    finally:
        os.close(fd)
    attach_flags, count = struct.unpack_from("=12xI8xI", attr.raw)
    return attach_flags, list(ids[:count])


def program_exists(program_id):
    attr = ctypes.create_string_buffer(struct.pack("=III", program_id, 0, 0))
    try:
        os.close(namespaces.bpf(BPF_PROG_GET_FD_BY_ID, attr))
        return True
    except FileNotFoundError:
        return False


def test_a_v2_cgroup_is_made_joined_and_removed_on_the_real_tree(pure_v2, parent):
    cgroup = cgroups.Cgroup(parent, "c1")
    assert cgroup.v2 and list(cgroup.dirs) == ["unified"]
    cgroup.create({}, privileged=True)
    directory = os.path.join(UNIFIED, parent, "c1")
    assert os.path.isfile(os.path.join(directory, "cgroup.procs"))
    # Nothing memory, cpu or pids here to delegate: subtree_control stays as it was.
    with open(os.path.join(UNIFIED, parent, "cgroup.subtree_control")) as handle:
        assert handle.read().split() == []
    child = subprocess.Popen(["sleep", "1000"], preexec_fn=cgroup.join)
    assert cgroup.pids() == [child.pid]
    with open("/proc/%d/cgroup" % child.pid) as handle:
        assert "0::/%s/c1\n" % parent in handle.read()
    cgroup.remove()
    assert child.wait() == -signal.SIGKILL
    assert not os.path.exists(directory) and cgroup.pids() == []


def test_a_parent_with_processes_of_its_own_is_refused_by_name(pure_v2, parent):
    busy = cgroups.Cgroup(parent, "busy")
    busy.create({}, privileged=True)
    sleeper = subprocess.Popen(["sleep", "1000"], preexec_fn=busy.join)
    try:
        with pytest.raises(RuntimeError) as refused:
            cgroups.Cgroup(parent + "/busy", "c1").create({})
        assert "%s/%s/busy holds processes (%d)" % (UNIFIED, parent, sleeper.pid) in str(refused.value)
        assert "--cgroup-parent" in str(refused.value)
        assert not os.path.exists(os.path.join(UNIFIED, parent, "busy", "c1"))
        # Its parent has no process of its own (the rule is per cgroup): fine.
        cgroups.Cgroup(parent, "c2").create({}, privileged=True)
    finally:
        busy.remove()
        sleeper.wait()


def test_a_limit_without_its_controller_says_which_is_missing(pure_v2, parent):
    with open(os.path.join(UNIFIED, "cgroup.subtree_control")) as handle:
        offered = handle.read().split()
    if "memory" in offered:
        pytest.skip("this cgroup2 tree has the memory controller")
    cgroup = cgroups.Cgroup(parent, "c1")
    with pytest.raises(RuntimeError, match="cannot write memory.max: the memory controller is "
                                           "not delegated to %s/%s/c1" % (UNIFIED, parent)):
        cgroup.create({"memory": 64 * 1024 * 1024})
    cgroup.remove()


def make_nodes(directory, nodes):
    for name, (kind, major, minor) in nodes.items():
        os.mknod(os.path.join(directory, name), kind | 0o600, os.makedev(major, minor))


def open_each(directory, names):
    """"name:ok" or "name:ERRNO" for opening each node read-only."""
    found = []
    for name in names:
        try:
            os.close(os.open(os.path.join(directory, name), os.O_RDONLY | os.O_NONBLOCK))
            found.append(name + ":ok")
        except OSError as error:
            found.append("%s:%s" % (name, errno.errorcode[error.errno]))
    return " ".join(found)


def test_only_dockers_default_devices_open_in_a_v2_container_cgroup(pure_v2, parent, tmp_path):
    # /dev/null, a pty slave number (136:*; no such pty in this directory: the tty layer
    # answers EIO once the filter lets the open through), /dev/mem, /dev/kmsg, a disk.
    nodes = {"null": (stat.S_IFCHR, 1, 3), "pty": (stat.S_IFCHR, 136, 0),
             "mem": (stat.S_IFCHR, 1, 1), "kmsg": (stat.S_IFCHR, 1, 11), "disk": (stat.S_IFBLK, 8, 0)}
    cgroup = cgroups.Cgroup(parent, "c1")
    cgroup.create({})
    flags, programs = attached_programs(cgroup.dirs["unified"])
    assert flags == devices.BPF_F_ALLOW_MULTI and len(programs) == 1

    def mknod_and_open():
        make_nodes(str(tmp_path), nodes)        # "c *:* m" and "b *:* m": any node can be made
        return open_each(str(tmp_path), list(nodes) + ["/dev/null"])

    opened = dict(entry.split(":") for entry in in_child(cgroup, mknod_and_open).split())
    assert opened.pop("pty") != "EPERM"
    assert opened == {"null": "ok", "mem": "EPERM", "kmsg": "EPERM", "disk": "EPERM", "/dev/null": "ok"}
    # Outside the cgroup the same kmsg node opens: the EPERM above was the filter's.
    assert open_each(str(tmp_path), ["kmsg"]) == "kmsg:ok"


def test_a_privileged_container_gets_no_device_filter(pure_v2, parent):
    cgroup = cgroups.Cgroup(parent, "c1")
    cgroup.create({}, privileged=True)
    assert attached_programs(cgroup.dirs["unified"])[1] == []


def test_the_device_filter_goes_with_its_cgroup(pure_v2, parent):
    fds = len(os.listdir("/proc/self/fd"))
    cgroup = cgroups.Cgroup(parent, "c1")
    cgroup.create({})
    assert len(os.listdir("/proc/self/fd")) == fds            # no program or cgroup fd kept
    (program,) = attached_programs(cgroup.dirs["unified"])[1]
    assert program_exists(program)
    cgroup.remove()
    # The kernel releases a removed cgroup's programs from a work queue: wait for it, boundedly.
    for _ in range(200):
        if not program_exists(program):
            break
        time.sleep(0.05)
    assert not program_exists(program)


def test_the_container_sees_its_own_v2_cgroup_read_only(pure_v2, parent, tmp_path):
    cgroup = cgroups.Cgroup(parent, "c1")
    cgroup.create({}, privileged=True)
    target = tmp_path / "sys" / "fs" / "cgroup"
    target.mkdir(parents=True)

    def mount_and_look():
        namespaces.unshare(namespaces.CLONE_NEWNS | namespaces.CLONE_NEWCGROUP)
        rootfs.isolate_propagation()
        rootfs.mount_cgroups(str(tmp_path), cgroup)
        with open(str(target / "cgroup.procs")) as handle:
            own = handle.read().split() == [str(os.getpid())]
        try:
            open(str(target / "cgroup.procs"), "w").close()
            writable = "writable"
        except OSError as error:
            writable = errno.errorcode[error.errno]
        with open("/proc/self/cgroup") as handle:
            seen = [line.strip() for line in handle if line.startswith("0::")][0]
        return "%s %s %s %s" % (own, writable, seen, os.path.isdir(str(target / "c1")))

    try:
        assert in_child(cgroup, mount_and_look) == "True EROFS 0::/ False"
    finally:
        cgroup.remove()


def test_a_program_the_verifier_refuses_comes_with_its_reasons():
    exit_only = struct.pack("=BBhi", devices.EXIT, 0, 0, 0)          # returns r0, never set
    with pytest.raises(RuntimeError, match=r"(?s)^cannot load the device filter: bpf\(5\): "
                                           r"Permission denied\n.*R0 !read_ok"):
        devices._load(exit_only)
