"""`docker top`: the processes in a container's cgroup, as the host sees them."""
import os
import pwd

from .bundle import read_json
from .cgroups import Cgroup


def _describe(pid):
    """(pid, ppid, user, cmdline) of a live process; None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            stat = handle.read()
        with open("/proc/%d/status" % pid) as handle:
            uid = int(next(l for l in handle if l.startswith("Uid:")).split()[1])
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            args = handle.read().rstrip(b"\0").split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return None
    comm, _, rest = stat.partition("(")[2].rpartition(")")
    ppid = int(rest.split()[1])
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    cmdline = b" ".join(args).decode("utf-8", "replace") or "[%s]" % comm
    return pid, ppid, user, cmdline


def processes(bundle_dir):
    """[(pid, ppid, user, cmdline), ...] sorted by pid."""
    spec = read_json(os.path.join(bundle_dir, "spec.json"))
    found = (_describe(pid) for pid in sorted(Cgroup(spec["cgroup"]["parent"], spec["id"]).pids()))
    return [entry for entry in found if entry is not None]
