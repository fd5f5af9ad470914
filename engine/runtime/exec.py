"""`docker exec`: another process in a running container, with the container's namespaces,
cgroup, capabilities and (unless the exec names its own) user, environment and directory.
"""
import binascii
import os
import shutil

from . import capabilities, console, namespaces, process
from .bundle import read_int, read_json, write_json
from .cgroups import Cgroup
from .client import CreateError, Shim, spawn
from .shim import fork_child


def exec_process(bundle_dir, exec_spec, start=True):
    """Start an exec shim in <bundle>/exec/<id>; -> ExecShim.

    exec_spec = {"args", "env", "cwd", "user", "tty", "stdin"}; env entries override the
    container's. With start=False the process waits for ExecShim.start(), so that a client
    can attach first and miss no output.
    """
    directory = os.path.join(bundle_dir, "exec", binascii.hexlify(os.urandom(16)).decode())
    os.makedirs(directory)
    write_json(os.path.join(directory, "exec.json"), exec_spec)
    try:
        spawn("exec", directory)
    except CreateError:
        shutil.rmtree(directory)
        raise
    shim = ExecShim(directory)
    if start:
        shim.start()
    return shim


class ExecShim(Shim):
    """Same handle as Shim; `.id` names the exec, `.cleanup()` removes its directory."""

    def __init__(self, directory):
        Shim.__init__(self, directory)
        self.id = os.path.basename(directory)

    def cleanup(self):
        self._stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def create_exec(directory):
    """In the exec shim: enter the container's pid namespace and fork the exec'd process."""
    bundle = os.path.dirname(os.path.dirname(directory))
    spec = read_json(os.path.join(bundle, "spec.json"))
    exec_spec = read_json(os.path.join(directory, "exec.json"))
    if os.path.exists(os.path.join(bundle, "exit.json")):
        raise CreateError("container %s is not running" % spec["id"])
    fds = _namespaces_of(read_int(os.path.join(bundle, "pid")), spec["id"])
    namespaces.setns(fds["pid"], namespaces.CLONE_NEWPID)     # for the child we fork next
    cgroup = Cgroup(spec["cgroup"]["parent"], spec["id"])

    def child(sock, stdio):
        process.child_main(sock, lambda: _enter(spec, exec_spec, cgroup, fds, stdio))

    return fork_child(directory, exec_spec.get("tty", False), exec_spec.get("stdin", False),
                      False, child)


def _namespaces_of(pid, container_id):
    """{kind: fd} of the container's namespaces, from its init's /proc directory.

    The directory is opened once and everything is read through it, so a pid reused by
    another process after the container ended can never lend us its namespaces.
    """
    names = ["pid"] + [name for name, _ in namespaces.JOIN_ORDER
                       if os.path.exists("/proc/self/ns/" + name)]   # none for cgroup on EL7
    try:
        proc = os.open("/proc/%d" % pid, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with open(os.open("cgroup", os.O_RDONLY, dir_fd=proc)) as handle:
                if container_id not in handle.read():
                    raise ProcessLookupError(pid)
            return {name: os.open("ns/" + name, os.O_RDONLY, dir_fd=proc) for name in names}
        finally:
            os.close(proc)
    except (FileNotFoundError, ProcessLookupError):
        raise CreateError("container %s is not running" % container_id)


def _merge_env(base, overrides):
    """The container's environment with the exec's entries replacing same-named ones."""
    names = {entry.partition("=")[0] for entry in overrides}
    return [e for e in base if e.partition("=")[0] not in names] + list(overrides)


def _enter(spec, exec_spec, cgroup, fds, stdio):
    if stdio is not None:
        process.use_pipes(stdio)
    cgroup.join()
    highest = capabilities.last_cap()                # the host's /proc, before we leave it
    privileged = spec.get("privileged", False)
    caps = capabilities.resolve(spec.get("cap_add"), spec.get("cap_drop"), privileged,
                                capabilities.bounding())
    for name, flag in namespaces.JOIN_ORDER:         # mnt last: it also moves root and cwd
        if name in fds:
            namespaces.setns(fds[name], flag)
            os.close(fds[name])
    master = None
    if exec_spec.get("tty"):
        master, slave, _ = console.open_pty()
        console.become_session_leader(slave)
    env = _merge_env(spec.get("env") or [], exec_spec.get("env") or [])
    path, env = process.prepare_command(exec_spec["args"], env,
                                        exec_spec.get("cwd") or spec.get("cwd") or "/",
                                        exec_spec.get("user") or spec.get("user") or "",
                                        caps, highest)
    return path, exec_spec["args"], env, spec.get("no_new_privileges", False), master
