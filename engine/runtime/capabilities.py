"""Capabilities as Docker grants them: its default set, cap_add/cap_drop, privileged.

Docker (20.10.14+, after CVE-2022-24769) puts the set in the bounding, effective and
permitted sets and leaves inheritable and ambient empty, so a non-root user ends up with
no capabilities after exec, and root with exactly the set. We do the same.
"""
import errno

from . import namespaces

# Index = capability number (linux/capability.h).
NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)

DEFAULT = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
           "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")


def _normalize(name):
    """'net_admin', 'CAP_NET_ADMIN' -> 'NET_ADMIN'; 'all' -> 'ALL' (docker accepts all forms)."""
    upper = name.strip().upper()
    bare = upper[4:] if upper.startswith("CAP_") else upper
    if bare != "ALL" and bare not in NAMES:
        raise ValueError('unknown capability: "%s"' % name)
    return bare


def last_cap():
    """The highest capability number this kernel knows (newer names are not dropped twice)."""
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        return int(handle.read())


def bounding():
    """The names in this process's bounding set: all a container can get from us."""
    with open("/proc/self/status") as handle:
        value = next(int(line.split()[1], 16) for line in handle if line.startswith("CapBnd:"))
    return {name for number, name in enumerate(NAMES) if value & (1 << number)}


def resolve(cap_add=(), cap_drop=(), privileged=False, available=frozenset(NAMES)):
    """The set of capability names a container gets, as docker's TweakCapabilities computes it.

    "All" (privileged, cap_add ALL) means all the engine has; asking by name for one it
    lacks is an error rather than a container silently without it.
    """
    adds = {_normalize(name) for name in cap_add or ()}
    drops = {_normalize(name) for name in cap_drop or ()}
    if privileged or "ALL" in adds:
        adds = set(available)
    missing = sorted(adds - set(available))
    if missing:
        raise ValueError("capability CAP_%s is not available to the engine" % missing[0])
    base = set() if "ALL" in drops else set(DEFAULT) & set(available)
    return (base | adds) - drops


def mask(names, highest):
    """A 64-bit mask of the named capabilities this kernel has."""
    return sum(1 << NAMES.index(name) for name in names if NAMES.index(name) <= highest)


def drop_bounding(names, highest):
    """Drop from the bounding set every capability not named (needs CAP_SETPCAP: do it as root)."""
    keep = mask(names, highest)
    for number in range(highest + 1):
        if not keep & (1 << number):
            namespaces.prctl(namespaces.PR_CAPBSET_DROP, number)


def apply(names, highest):
    """Make the named capabilities the effective and permitted sets; clear inheritable, ambient."""
    caps = mask(names, highest)
    namespaces.capset(caps, caps, 0)
    try:
        namespaces.prctl(namespaces.PR_CAP_AMBIENT, namespaces.PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError as error:
        if error.errno != errno.EINVAL:              # kernels before 4.3 have no ambient set
            raise
