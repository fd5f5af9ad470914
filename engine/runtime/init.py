"""The container's first process, from fork to exec: namespaces, hostname, the root
filesystem and its mounts, pivot_root, terminal, masked and read-only paths, the cgroup and
its namespace, user and capabilities, then (after the shim's START) the user's command as
PID 1.

The shim moves this process into the container's cgroup meanwhile (as runc's parent does
for its init), so the cgroup comes late here: its namespace must be made once in it.
"""
import os

from . import capabilities, channel, console, namespaces, process, rootfs


def run(spec, cgroup, sock, stdio):
    """Never returns. `stdio` is (stdin, stdout, stderr) fds, or None for a terminal."""
    process.child_main(sock, lambda: _create(spec, cgroup, stdio, sock))


def _create(spec, cgroup, stdio, sock):
    if stdio is not None:
        process.use_pipes(stdio)
    os.umask(0o022)                            # mount points as docker makes them
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
    _enter_cgroup_namespace(spec, sock)
    path, env = process.prepare_command(spec["args"], spec.get("env") or [],
                                        spec.get("cwd") or "/", spec.get("user") or "",
                                        caps, highest)
    return path, spec["args"], env, spec.get("no_new_privileges", False), master


def _enter_cgroup_namespace(spec, sock):
    """Once the shim has moved us into the container's cgroup, a cgroup namespace rooted
    there (unless the spec keeps the host's)."""
    if sock.recv(16) != channel.JOINED:
        raise RuntimeError("the shim went away before the container joined its cgroup")
    # EL7's 3.10 kernel has no cgroup namespaces
    if (spec.get("namespaces") or {}).get("cgroup") != "host" and os.path.exists("/proc/self/ns/cgroup"):
        namespaces.unshare(namespaces.CLONE_NEWCGROUP)


def _enter_namespaces(spec):
    """New mount, uts, ipc and net namespaces (or the ones the spec names)."""
    wanted = spec.get("namespaces") or {}
    flags = namespaces.CLONE_NEWNS
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
