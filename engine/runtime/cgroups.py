"""A container's cgroup, <parent>/<id>, on cgroup v1, v2 and hybrid hosts.

v1 (EL7/EL8) and hybrid (v1 controllers plus an empty v2 tree, like the lab machine) put
the limits in the v1 controllers; a pure v2 host (EL9) in the unified tree. The parent is
a path from each hierarchy's root, as docker's --cgroup-parent.
"""
import errno
import os
import signal
import struct
import time

from . import devices, namespaces

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "devices")
V2_CONTROLLERS = ("memory", "cpu", "pids")

# Hierarchies without limits that a container joins anyway: systemd tracks a service's
# processes there (name=systemd on v1, unified on hybrid), and a container left in the
# daemon's service would be counted, and stopped, with it.
TRACKING = ("name=systemd", "unified")

_hierarchies = None


def hierarchies():
    """{"memory": mountpoint, ..., "name=systemd": ..., "unified": ...}: what is mounted.

    A pure v2 host has only "unified"; v1 and hybrid hosts have the v1 controllers.
    """
    global _hierarchies
    if _hierarchies is None:
        found = {}
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                fields = line.split()
                mountpoint = fields[4]
                fstype, options = fields[-3], fields[-1].split(",")
                if fstype == "cgroup":
                    for name in V1_CONTROLLERS + ("name=systemd",):
                        if name in options:
                            found.setdefault(name, mountpoint)
                elif fstype == "cgroup2":
                    found.setdefault("unified", mountpoint)
        if not found:
            raise RuntimeError("no cgroup hierarchy is mounted (looked in /proc/self/mountinfo)")
        _hierarchies = found
    return _hierarchies


def is_v2():
    return not any(controller in hierarchies() for controller in V1_CONTROLLERS)


def _read(directory, name):
    with open(os.path.join(directory, name)) as handle:
        return handle.read()


def _write(directory, name, value):
    path = os.path.join(directory, name)
    try:
        with open(path, "w") as handle:
            handle.write(str(value))
    except OSError as error:
        raise RuntimeError("cannot write %r to %s: %s" % (value, path, error.strerror))


def _counter(text, key):
    """The value of `key` in a flat-keyed file such as memory.events (0 when missing)."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == key:
            return int(fields[1])
    return 0


def _check_no_processes(directory):
    """Refuse a parent holding processes; the root, the one cgroup without a cgroup.type
    file, is exempt from the rule (a cgroup namespace's root is not)."""
    if not os.path.exists(os.path.join(directory, "cgroup.type")):
        return
    pids = _read(directory, "cgroup.procs").split()
    if pids:
        raise RuntimeError("cgroup parent %s holds processes (%s): on cgroup v2 a cgroup with "
                           "processes of its own cannot have containers below it; move them to "
                           "a child cgroup or choose another --cgroup-parent"
                           % (directory, " ".join(pids[:5])))


def swap_max(memory, memory_swap):
    """memory.swap.max for docker's memory_swap, which counts memory + swap (0: docker's
    default, twice the memory; -1: unlimited), while v2 limits swap alone: runc's
    ConvertMemorySwapToCgroupV2Value."""
    if memory_swap == -1:
        return "max"
    memory_swap = memory_swap or 2 * memory
    if memory_swap < memory:
        raise RuntimeError("memory_swap %d is below memory %d: it counts memory + swap"
                           % (memory_swap, memory))
    return memory_swap - memory


def cpu_max(quota, period):
    """cpu.max is "$MAX $PERIOD" (cgroup-v2.rst). No quota (0, or v1's -1) is "max", no period
    the kernel's default 100000, as runc's fs2 writes them."""
    return "%s %d" % (quota if quota > 0 else "max", period or 100000)


def cpu_weight(shares):
    """cpu.weight [1, 10000] for v1's cpu.shares [2, 262144]: runc's linear
    ConvertCPUSharesToCgroupV2Value, as the runc of docker 20.10 has it (1024 -> 39; a later
    runc, opencontainers/runc#4785, uses a curve through 1024 -> 100). Shares are clamped
    first to the range the v1 kernel clamps them to, as dockerd does: outside it the weight
    would fall outside cpu.weight's range and the kernel would refuse it."""
    shares = min(max(shares, 2), 262144)
    return 1 + (shares - 2) * 9999 // 262142


def _host_memory():
    with open("/proc/meminfo") as handle:
        return _counter(handle.read(), "MemTotal:") * 1024


class Cgroup:
    """The cgroup of one container: `Cgroup(spec["cgroup"]["parent"], spec["id"])`."""

    def __init__(self, parent, name):
        mounts = hierarchies()
        self.v2 = is_v2()
        self.parent = parent.strip("/")
        relative = os.path.join(self.parent, name)
        self.dirs = {controller: os.path.join(mountpoint, relative)
                     for controller, mountpoint in mounts.items()}
        self._oom_events = None

    def _unique_dirs(self):
        """Co-mounted controllers (EL7's cpu,cpuacct) share one directory."""
        return sorted(set(self.dirs.values()))

    def create(self, limits, privileged=False):
        """Make the directories and write the limits (a spec's "cgroup" dict)."""
        if self.v2:
            self._enable_v2_controllers()
        for name, directory in sorted(self.dirs.items()):
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError:
                if self.v2 or name not in TRACKING:
                    raise
                del self.dirs[name]      # bookkeeping only: a read-only tree (nspawn) is no error
        if self.v2:
            self._limit_v2(limits)
            if not privileged:
                devices.restrict(self.dirs["unified"])     # v2 has no devices controller
        else:
            self._limit_v1(limits, privileged)

    def _enable_v2_controllers(self):
        """A v2 cgroup only has the controllers its ancestors delegate through subtree_control,
        and a cgroup that delegates may hold no processes of its own (cgroup-v2.rst, "No
        Internal Process Constraint"): the kernel would refuse with EBUSY, so say which.
        Checked even where no controller is there to delegate, to fail the same way on
        every v2 host."""
        root = hierarchies()["unified"]
        parts = [part for part in self.parent.split("/") if part]
        for depth in range(len(parts) + 1):                   # from the root down to the parent
            ancestor = os.path.join(root, *parts[:depth])
            os.makedirs(ancestor, exist_ok=True)
            _check_no_processes(ancestor)
            available = _read(ancestor, "cgroup.controllers").split()
            wanted = " ".join("+" + c for c in V2_CONTROLLERS if c in available)
            if wanted:
                _write(ancestor, "cgroup.subtree_control", wanted)

    def _limit_v1(self, limits, privileged):
        memory = limits.get("memory") or 0
        if memory:
            _write(self.dirs["memory"], "memory.limit_in_bytes", memory)
            swap = limits.get("memory_swap") or 2 * memory        # docker: swap = 2 x memory
            if os.path.exists(os.path.join(self.dirs["memory"], "memory.memsw.limit_in_bytes")):
                _write(self.dirs["memory"], "memory.memsw.limit_in_bytes", swap)
        if limits.get("cpu_period"):
            _write(self.dirs["cpu"], "cpu.cfs_period_us", limits["cpu_period"])
        if limits.get("cpu_quota"):
            _write(self.dirs["cpu"], "cpu.cfs_quota_us", limits["cpu_quota"])
        if limits.get("cpu_shares"):
            _write(self.dirs["cpu"], "cpu.shares", limits["cpu_shares"])
        if (limits.get("pids_limit") or 0) > 0:              # docker: 0 or -1 is unlimited
            _write(self.dirs["pids"], "pids.max", limits["pids_limit"])
        if not privileged and "devices" in self.dirs:
            _write(self.dirs["devices"], "devices.deny", "a")
            for rule in devices.RULES:
                _write(self.dirs["devices"], "devices.allow", rule)

    def _limit_v2(self, limits):
        """docker's values, which are v1's, in v2's files (cgroup-v2.rst), converted as runc does."""
        directory = self.dirs["unified"]
        offered = _read(directory, "cgroup.controllers").split()

        def write(name, value):
            # A file such as memory.max exists only where its controller is delegated: say
            # that, rather than the kernel's EACCES for a file that cannot be created.
            controller = name.split(".")[0]
            if controller not in offered:
                raise RuntimeError("cannot write %s: the %s controller is not delegated to %s "
                                   "(its cgroup.controllers: %s)" % (name, controller, directory,
                                                                     " ".join(offered) or "none"))
            _write(directory, name, value)

        memory = limits.get("memory") or 0
        if memory:
            write("memory.max", memory)
            if os.path.exists(os.path.join(directory, "memory.swap.max")):    # swap accounting on
                write("memory.swap.max", swap_max(memory, limits.get("memory_swap") or 0))
        if limits.get("cpu_quota") or limits.get("cpu_period"):
            write("cpu.max", cpu_max(limits.get("cpu_quota") or 0, limits.get("cpu_period") or 0))
        if limits.get("cpu_shares"):
            write("cpu.weight", cpu_weight(limits["cpu_shares"]))
        if (limits.get("pids_limit") or 0) > 0:              # docker: 0 or -1 is unlimited
            write("pids.max", limits["pids_limit"])

    def join(self, pid=0):
        """Move process `pid` (0: the calling one) into every hierarchy of this cgroup.

        The first write to a cgroup.procs after a quiet moment waits for an RCU grace period
        (the kernel's cgroup_threadgroup_rwsem turning to its writer side; 10 to 16 ms
        measured here), the next ones do not: a caller that can should overlap it with work."""
        for name, directory in sorted(self.dirs.items()):
            if self.v2 or name not in TRACKING or os.path.isdir(directory):
                _write(directory, "cgroup.procs", pid)

    def pids(self):
        """Host pids of the processes in the cgroup ([] once it is gone)."""
        directory = self.dirs.get("pids") or self.dirs.get("memory") or self.dirs["unified"]
        try:
            return [int(pid) for pid in _read(directory, "cgroup.procs").split()]
        except FileNotFoundError:
            return []

    def watch_oom(self):
        """On v1, have the kernel count this cgroup's OOM events in an eventfd: kernels before
        4.13 (EL7) keep no oom_kill counter, and this is how docker learns of OOMs there."""
        if self.v2 or "memory" not in self.dirs:
            return
        self._oom_events = namespaces.eventfd()
        control = os.open(os.path.join(self.dirs["memory"], "memory.oom_control"), os.O_RDONLY)
        try:
            _write(self.dirs["memory"], "cgroup.event_control", "%d %d" % (self._oom_events, control))
        finally:
            os.close(control)

    def oom_events(self):
        """OOM events seen since the last call (0 without watch_oom)."""
        if self._oom_events is None:
            return 0
        try:
            return struct.unpack("Q", os.read(self._oom_events, 8))[0]
        except BlockingIOError:
            return 0

    def oom_killed(self):
        """Has the kernel's OOM killer struck in this cgroup?"""
        return self.oom_kills() > 0 or self.oom_events() > 0

    def oom_kills(self):
        """How many processes of this cgroup the kernel's OOM killer has killed."""
        try:
            if self.v2:
                return _counter(_read(self.dirs["unified"], "memory.events"), "oom_kill")
            return _counter(_read(self.dirs["memory"], "memory.oom_control"), "oom_kill")
        except FileNotFoundError:
            return 0

    def stats(self):
        """{"memory_usage", "memory_limit", "cpu_usage_ns", "pids"} as the kernel counts them."""
        if self.v2:
            directory = self.dirs["unified"]
            usage = int(_read(directory, "memory.current"))
            limit = _read(directory, "memory.max").strip()
            cpu = _counter(_read(directory, "cpu.stat"), "usage_usec") * 1000
            pids = int(_read(directory, "pids.current"))
        else:
            usage = int(_read(self.dirs["memory"], "memory.usage_in_bytes"))
            limit = _read(self.dirs["memory"], "memory.limit_in_bytes").strip()
            cpu = int(_read(self.dirs["cpuacct"], "cpuacct.usage"))
            pids = int(_read(self.dirs["pids"], "pids.current"))
        host = _host_memory()
        # "No limit" reads as "max" (v2) or a huge number (v1): docker reports the host's memory.
        limit = host if limit == "max" or int(limit) > host else int(limit)
        return {"memory_usage": usage, "memory_limit": limit, "cpu_usage_ns": cpu, "pids": pids}

    def remove(self):
        """Kill what is left in the cgroup, then remove its directories (idempotent)."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for directory in self._unique_dirs():
            self._rmdir(directory)

    @staticmethod
    def _rmdir(directory):
        # A killed process leaves its cgroup a moment after it is reaped: retry briefly.
        for _ in range(200):
            try:
                os.rmdir(directory)
                return
            except FileNotFoundError:
                return
            except OSError as error:
                if error.errno != errno.EBUSY:
                    raise
                time.sleep(0.01)
        raise RuntimeError("cannot remove cgroup %s: processes are still in it" % directory)


def cgroup_stats(spec):
    """{"memory_usage", "memory_limit", "cpu_usage_ns", "pids"} of a container's cgroup."""
    return Cgroup(spec["cgroup"]["parent"], spec["id"]).stats()
