"""The container's filesystem: an overlayfs root and, one function per concern, what runc's
default spec mounts in it, then pivot_root.

Everything here runs in the container's init, inside its new mount namespace: the overlay
and every mount below exist only there and vanish with the container.
"""
import errno
import os
import stat

from .cgroups import hierarchies
from .namespaces import (MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC,
                         MS_REMOUNT, MS_SLAVE, MS_STRICTATIME, mount, pivot_root, umount2)

MASKED_PATHS = ("/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
                "/proc/timer_stats", "/sys/firmware")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# docker's default devices: name -> (major, minor); /dev/console is the tty, bound later.
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
           "urandom": (1, 9), "tty": (5, 0)}
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx", "core": "/proc/kcore"}

# statvfs flags that mean the same as the mount flags of these bits (rdonly, nosuid, nodev, noexec).
_KEPT_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC


def secure_join(root, path):
    """root + path, resolving every symlink as if root were "/", so the result stays in root."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved = []
    for _ in range(255):                     # a bound on symlink hops, like the kernel's ELOOP
        if not parts:
            return os.path.join(root, *resolved)
        part = parts.pop(0)
        if part == "..":
            resolved = resolved[:-1]
            continue
        candidate = os.path.join(root, *(resolved + [part]))
        if os.path.islink(candidate):
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
        else:
            resolved.append(part)
    raise OSError(errno.ELOOP, "too many levels of symbolic links: %s" % path)


def _ensure_target(target, like_dir):
    """Create a mount point: a directory for a directory, an empty file for anything else."""
    if like_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            open(target, "a").close()


def _bind(source, target, readonly=False):
    mount(source, target, None, MS_BIND | MS_REC)
    if readonly:
        flags = os.statvfs(target).f_flag & _KEPT_FLAGS
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags)


def isolate_propagation():
    """Nothing mounted from here on propagates back to the host (runc's default rslave)."""
    mount(None, "/", None, MS_REC | MS_SLAVE)


def mount_overlay(rootfs):
    """The image layers (top-most first) under the container's writable layer, at merged.

    Mount options must fit in one page (4 KiB), which a few dozen layer paths do not: each
    directory is named through a short /proc/self/fd/N link to an open descriptor instead.
    """
    for name in ("upper", "work", "merged"):
        os.makedirs(rootfs[name], mode=0o755, exist_ok=True)
    fds = [os.open(path, os.O_RDONLY | os.O_DIRECTORY)
           for path in rootfs["lower"] + [rootfs["upper"], rootfs["work"]]]
    try:
        links = ["/proc/self/fd/%d" % fd for fd in fds]
        options = "lowerdir=%s,upperdir=%s,workdir=%s" % (":".join(links[:-2]), links[-2], links[-1])
        if len(options) >= 4096:
            raise RuntimeError("too many image layers for one overlay mount (%d)" % (len(fds) - 2))
        mount("overlay", rootfs["merged"], "overlay", 0, options)
    finally:
        for fd in fds:
            os.close(fd)


def mount_proc(root):
    target = secure_join(root, "/proc")
    os.makedirs(target, exist_ok=True)
    mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def mount_sys(root, readonly=True):
    target = secure_join(root, "/sys")
    os.makedirs(target, exist_ok=True)
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (MS_RDONLY if readonly else 0)
    mount("sysfs", target, "sysfs", flags)


def mount_dev(root):
    """A fresh tmpfs /dev with docker's default device nodes and links, nothing from the host."""
    dev = secure_join(root, "/dev")
    os.makedirs(dev, exist_ok=True)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")
    for name, (major, minor) in sorted(DEVICES.items()):
        os.mknod(os.path.join(dev, name), stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(os.path.join(dev, name), 0o666)          # mknod's mode is cut by the umask
    for name, target in sorted(DEV_LINKS.items()):
        os.symlink(target, os.path.join(dev, name))


def mount_devpts(root):
    """The container's own pty instance: its ptys are not the host's."""
    target = os.path.join(root, "dev", "pts")
    os.makedirs(target)
    mount("devpts", target, "devpts", MS_NOSUID | MS_NOEXEC,
          "newinstance,ptmxmode=0666,mode=0620,gid=5")


def mount_shm(root, size):
    target = os.path.join(root, "dev", "shm")
    os.makedirs(target)
    mount("shm", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=%d" % size)


def mount_mqueue(root):
    target = os.path.join(root, "dev", "mqueue")
    os.makedirs(target)
    mount("mqueue", target, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def mount_cgroups(root, cgroup, readonly=True):
    """/sys/fs/cgroup holds the container's own cgroup and nothing above it, laid out as on
    the host (docker's view): programs inside can read their limits."""
    base = secure_join(root, "/sys/fs/cgroup")
    if cgroup.v2:
        _bind(cgroup.dirs["unified"], base, readonly)
        return
    mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755")
    mountpoints = hierarchies()
    for name, directory in sorted(cgroup.dirs.items()):
        # EL7 co-mounts cpu,cpuacct in one directory, with a link for each name.
        target = os.path.basename(mountpoints[name])
        if not os.path.isdir(os.path.join(base, target)):
            os.mkdir(os.path.join(base, target))
            _bind(directory, os.path.join(base, target), readonly)
        if target != name and "=" not in name:            # not for name=systemd
            os.symlink(target, os.path.join(base, name))
    if readonly:
        mount(None, base, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def bind_mounts(root, mounts):
    """The spec's volumes: host paths bound at their destinations, read-only when asked."""
    for entry in mounts:
        source = entry["source"]
        if not os.path.exists(source):
            raise RuntimeError('invalid mount config for type "bind": bind source path does '
                               'not exist: %s' % source)
        target = secure_join(root, entry["destination"])
        _ensure_target(target, os.path.isdir(source))
        _bind(source, target, entry.get("readonly", False))


def bind_etc_files(root, etc_files):
    """/etc/hosts, /etc/resolv.conf, /etc/hostname: per-container files the daemon wrote."""
    for destination, source in sorted(etc_files.items()):
        target = secure_join(root, destination)
        _ensure_target(target, False)
        _bind(source, target)


def pivot(root):
    """Make root "/" and detach the old root entirely (runc's pivot_root(".", ".") trick)."""
    os.chdir(root)
    pivot_root(".", ".")
    umount2(".", MNT_DETACH)
    os.chdir("/")


def bind_console(slave_path):
    """/dev/console is the container's tty (call after pivot, with the container's own pty)."""
    _ensure_target("/dev/console", False)
    _bind(slave_path, "/dev/console")


def mask_paths(paths=MASKED_PATHS):
    """Hide kernel files: an empty read-only tmpfs over directories, /dev/null over files."""
    for path in paths:
        try:
            if os.path.isdir(path):
                mount("tmpfs", path, "tmpfs", MS_RDONLY)
            else:
                mount("/dev/null", path, None, MS_BIND)
        except FileNotFoundError:
            pass                              # not every kernel has every file


def readonly_paths(paths=READONLY_PATHS):
    for path in paths:
        try:
            _bind(path, path, readonly=True)
        except FileNotFoundError:
            pass
