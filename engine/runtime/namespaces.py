"""The Linux system calls the runtime needs and Python 3.6's os module lacks, through ctypes.

Each wrapper raises OSError (with errno and the call's arguments) instead of returning -1.
"""
import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# The files under /proc/<pid>/ns/ and the flag setns() checks them against. Order matters
# when joining: the mount namespace last, because it changes what /proc/<pid>/ns resolves to.
JOIN_ORDER = (("ipc", CLONE_NEWIPC), ("uts", CLONE_NEWUTS), ("net", CLONE_NEWNET),
              ("cgroup", CLONE_NEWCGROUP), ("mnt", CLONE_NEWNS))

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SLAVE = 0x80000
MS_STRICTATIME = 0x1000000
MNT_DETACH = 0x2

PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# glibc has no pivot_root() or bpf() wrapper: call them by number.
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217}[os.uname().machine]
SYS_BPF = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351}[os.uname().machine]
# glibc's sigaction() refuses the signals it keeps for itself (32, 33): the raw call does not.
SYS_RT_SIGACTION = {"x86_64": 13, "aarch64": 134, "ppc64le": 173, "s390x": 174}[os.uname().machine]
SIGNAL_COUNT = 64                  # _NSIG - 1 on every architecture above

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p)
_libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong)


def _check(result, call, *args):
    if result == -1:
        error = ctypes.get_errno()
        raise OSError(error, "%s(%s): %s" % (call, ", ".join(repr(a) for a in args),
                                             os.strerror(error)))
    return result


def _bytes(value):
    return None if value is None else os.fsencode(value)


def unshare(flags):
    _check(_libc.unshare(flags), "unshare", hex(flags))


def setns(fd, nstype=0):
    _check(_libc.setns(fd, nstype), "setns", fd, hex(nstype))


def mount(source, target, fstype, flags=0, data=None):
    _check(_libc.mount(_bytes(source), _bytes(target), _bytes(fstype), flags, _bytes(data)),
           "mount", source, target, fstype, hex(flags), data)


def umount2(target, flags=0):
    _check(_libc.umount2(_bytes(target), flags), "umount2", target, flags)


def pivot_root(new_root, put_old):
    _check(_libc.syscall(SYS_PIVOT_ROOT, _bytes(new_root), _bytes(put_old)),
           "pivot_root", new_root, put_old)


def default_signal(signum):
    """Give signal `signum` its default disposition, whatever the C library reserves."""
    # struct kernel_sigaction all zero: handler SIG_DFL, no flags, no restorer, empty mask.
    action = (ctypes.c_ulong * 4)()
    _check(_libc.syscall(SYS_RT_SIGACTION, signum, action, None, 8), "rt_sigaction", signum)


def bpf(command, attr):
    """bpf(2) with `attr`, a ctypes buffer holding the command's union bpf_attr member (the
    kernel writes some answers back into it); -> the call's result, often a new fd."""
    return _check(_libc.syscall(SYS_BPF, command, attr, len(attr)), "bpf", command)


EFD_NONBLOCK = 0o4000
EFD_CLOEXEC = 0o2000000


def eventfd():
    """A non-blocking, close-on-exec eventfd (os.eventfd is Python 3.10+)."""
    return _check(_libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd")


def sethostname(name):
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname", name)


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), "prctl", option, arg2)


def set_process_name(name):
    """This process's name as ps, top and pkill show it (at most 15 bytes are kept)."""
    buffer = ctypes.create_string_buffer(name)
    prctl(PR_SET_NAME, ctypes.addressof(buffer))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset(effective, permitted, inheritable):
    """Set this thread's capability sets; each argument is a 64-bit mask."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for index in range(2):
        shift = 32 * index
        data[index].effective = (effective >> shift) & 0xFFFFFFFF
        data[index].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[index].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.capset(ctypes.byref(header), data), "capset", hex(effective))
