"""The container's first process, from fork to exec, in runc's order: cgroup, namespaces,
hostname, the root filesystem and its mounts, pivot_root, terminal, masked and read-only
paths, user and capabilities, then (after the shim's START) the user's command as PID 1.
"""
import os

from . import capabilities, console, namespaces, process, rootfs


def run(spec, cgroup, sock, stdio):
    """Never returns. `stdio` is (stdin, stdout, stderr) fds, or None for a terminal."""
    process.child_main(sock, lambda: _create(spec, cgroup, stdio))


def _create(spec, cgroup, stdio):
    if stdio is not None:
        process.use_pipes(stdio)
    os.umask(0o022)                            # mount points as docker makes them
    cgroup.join()                              # before the cgroup namespace, so it is its root
    _enter_namespaces(spec)
    privileged = spec.get("privileged", False)
    root = spec["rootfs"]["merged"]
    rootfs.isolate_propagation()
    rootfs.mount_overlay(spec["rootfs"])
    rootfs.mount_proc(root)
    rootfs.mount_dev(root)
    rootfs.mount_devpts(root)
    rootfs.mount_shm(root, spec.get("shm_size") or 64 * 1024 * 1024)
    rootfs.mount_mqueue(root)
    rootfs.mount_sys(root, readonly=not privileged)
    rootfs.mount_cgroups(root, cgroup, readonly=not privileged)
    rootfs.bind_mounts(root, spec.get("mounts") or [])
    rootfs.bind_etc_files(root, spec.get("etc_files") or {})
    highest = capabilities.last_cap()          # the host's /proc, before it goes away
    caps = capabilities.resolve(spec.get("cap_add"), spec.get("cap_drop"), privileged,
                                capabilities.bounding())
    rootfs.pivot(root)
    master = None
    if spec.get("tty"):
        master, slave, slave_path = console.open_pty()
        rootfs.bind_console(slave_path)
        console.become_session_leader(slave)
    if not privileged:
        rootfs.readonly_paths()
        rootfs.mask_paths()
    path, env = process.prepare_command(spec["args"], spec.get("env") or [],
                                        spec.get("cwd") or "/", spec.get("user") or "",
                                        caps, highest)
    return path, spec["args"], env, spec.get("no_new_privileges", False), master


def _enter_namespaces(spec):
    """New mount, uts, ipc, net and cgroup namespaces (or the ones the spec names)."""
    wanted = spec.get("namespaces") or {}
    flags = namespaces.CLONE_NEWNS
    # EL7's 3.10 kernel has no cgroup namespaces
    if wanted.get("cgroup") != "host" and os.path.exists("/proc/self/ns/cgroup"):
        flags |= namespaces.CLONE_NEWCGROUP
    network = wanted.get("network")
    if network is None:
        flags |= namespaces.CLONE_NEWNET
    elif network != "host":
        fd = os.open(network, os.O_RDONLY)     # join another container's (or a prepared) netns
        try:
            namespaces.setns(fd, namespaces.CLONE_NEWNET)
        finally:
            os.close(fd)
    if wanted.get("ipc") != "host":
        flags |= namespaces.CLONE_NEWIPC
    if wanted.get("uts") != "host":
        flags |= namespaces.CLONE_NEWUTS
    namespaces.unshare(flags)
    if wanted.get("uts") != "host" and spec.get("hostname"):
        namespaces.sethostname(spec["hostname"])
