"""The container runtime: Linux primitives that turn a spec into an isolated process.

Layering: the containers service (engine/containers) decides *what* runs; this package
makes it so with namespaces, an overlayfs root, cgroups and capabilities, and nothing
here knows about the API, images or networks.

Interface used by the containers service (kept stable; extend, don't change):

    spec = {                         # written by the containers service, JSON-able
      "id": "<64 hex>",
      "rootfs": {"lower": [dir, ...],  # image layer dirs, top-most first
                 "upper": dir, "work": dir, "merged": dir},
      "args": ["/bin/sh", "-c", "..."], "env": ["PATH=...", ...], "cwd": "/",
      "user": "" | "uid" | "uid:gid" | "name" | "name:group",   (resolved inside the rootfs)
      "hostname": "abc123", "tty": False, "stdin": False,        (stdin: keep stdin open)
      "mounts": [{"source": "/host/dir", "destination": "/data", "readonly": False}, ...],
      "etc_files": {"/etc/hosts": path, "/etc/resolv.conf": path, "/etc/hostname": path},
      "namespaces": {"network": None | "/proc/<pid>/ns/net" (join) | "host",
                     "pid": None | "host", "ipc": None | "host",
                     "cgroup": None | "host"},                      (None: a new one)
      "cgroup": {"parent": "yard", "memory": bytes|0, "memory_swap": bytes|0|-1,
                 "cpu_quota": int|0, "cpu_period": int|0, "cpu_shares": int|0,
                 "pids_limit": int|0},
      "cap_add": [...], "cap_drop": [...], "privileged": False,
      "no_new_privileges": False, "shm_size": bytes,
      "log": {"path": "<container dir>/<id>-json.log", "max_size": bytes|0, "max_file": int},
    }

    launch(bundle_dir, spec) -> Shim
        Start a shim: a process detached from the daemon (it survives a daemon restart,
        for live-restore) that holds the container's stdio (a pty when spec["tty"]),
        writes its output to the json-file log, and records how it ended. The container's
        first process is *created* (namespaces, cgroup, mounts done) but does not exec
        the user's command until `Shim.start()`: between the two the daemon wires the
        network into /proc/<pid>/ns/net. Raises RuntimeError with a docker-like message
        when the container cannot be created (e.g. `exec: "nosuch": executable file not
        found in $PATH` -> the caller maps to exit code 127, permission denied -> 126).
        The exception is a CreateError (a RuntimeError) whose `.exit_code` is that code
        (125 for the engine's own failures: a bad cgroup value, a missing bind source...).

    Shim(bundle_dir)                 reconnects to a running (or finished) shim after a daemon restart
      .pid                           the container's init pid, as seen from the host
      .start()                       let the user's command run (returns once it has exec'd)
      .attach(stdin, stdout, stderr) -> socket  live streams: docker's 8-byte framing
                                     when not a tty, raw bytes when a tty
      .resize(height, width)
      .signal(signum)
      .wait(timeout=None) -> ExitStatus | None   blocks until the container ends
      .status() -> "created" | "running" | "exited"
      .exit_status() -> ExitStatus(code, oom_killed, finished_at) | None
      .cleanup()                     unmount the rootfs, remove the cgroup and shim files

    exec_process(bundle_dir, exec_spec, start=True) -> ExecShim
        Run another process inside a running container (setns into its namespaces,
        join its cgroup), with exec_spec = {"args", "env", "cwd", "user", "tty", "stdin"};
        same attach/resize/wait as Shim. Empty user/cwd mean the container's; env entries
        override the container's. With start=False it waits for `.start()`, so a client can
        attach first. `.id` names it; it lives in <bundle>/exec/<id>; `.cleanup()` removes it.

    cgroup_stats(spec) -> {"memory_usage", "memory_limit", "cpu_usage_ns", "pids"}
    cgroup_v2() -> bool              a pure cgroup v2 host (no v1 controller mounted), where
                                     docker's defaults differ
    processes(bundle_dir) -> [(pid, ppid, user, cmdline), ...]   for `top`
    reap_shims()                     collect the shims that have ended: they are the daemon's
                                     children (call it now and then, e.g. every second)

All of it works on cgroup v1, v2 and hybrid hosts, and on Python 3.6 (ctypes for unshare,
setns, pivot_root, mount, capset, prctl).

Modules, one job each: client (launch, Shim: the daemon's side) starts shim (the detached
process that owns a container), which forks init (the container's first process: cgroups,
namespaces, rootfs, then process: user, capabilities, exec) or exec (docker exec); console
(ptys), channel (the shim/child handshake), logs (json-file), bundle (the bundle's files),
users, capabilities, cgroups, devices (the device rules, v2's as eBPF), namespaces (ctypes
syscalls), processes (top).

Details the daemon may rely on:
- The shim is a fork of the daemon, made from the thread that calls launch() or
  exec_process(): it runs the code the daemon has loaded (no interpreter start, no import,
  nothing read from the engine's files, which an upgrade may have replaced), in a session
  of its own, with the daemon's descriptors closed, and named `yard-shim` (ps, pkill). It
  stays the daemon's child (no second fork): reap_shims() collects it once it has ended.
  What a running shim costs is the pages it writes, not a copy of the daemon (about 4 MiB
  private, against 5.5 MiB for the fresh interpreter shims were before).
- The bundle directory holds spec.json, pid (the container's host pid), shim.pid (the
  shim's pid and start time: a recycled pid is not taken for it), shim.sock, started,
  exit.json {"code", "oom_killed", "finished_at"} and shim.log (the shim's own errors).
  `cleanup()` leaves only exit.json (a Shim made afterwards has pid None and still
  answers status()/exit_status()); the daemon removes the directory.
- signal() and resize() on an ended process raise RuntimeError("... is not running").
- The overlay and every mount exist only in the container's mount namespace: nothing is
  mounted on the host, so nothing can leak there. /sys/fs/cgroup shows the container's own
  cgroups, laid out as on the host and read-only (as docker's), so programs read their limits.
- memory_swap 0 with a memory limit means docker's default, swap = 2 x memory; -1 unlimited.
  pids_limit 0 or -1: unlimited. The cgroup is <parent>/<id> in every v1 controller used
  (memory, cpu, cpuacct, pids, devices) and also in name=systemd and, on hybrid hosts, the
  unified tree, so systemd does not count containers as part of yardd.service. The shims
  do stay in the daemon's cgroup: for live-restore, yardd's unit needs KillMode=process
  (as docker.service has). OOMKilled comes from the kernel's oom_kill counters and, on
  v1, an eventfd on memory.oom_control (kernels without the counter, EL7).
- Namespaces also accept "uts": "host". Capabilities follow docker 20.10.14+: the set is
  bounding, effective and permitted; inheritable and ambient are empty. privileged: every
  capability the engine itself has, /sys writable, nothing masked (no host devices are
  added to /dev). Otherwise only docker's default devices can be opened: on cgroup v1 by
  the devices controller, on v2 by an eBPF program attached to the container's cgroup.
- On cgroup v2 a --cgroup-parent below the root must hold no processes of its own (the
  kernel's "no internal processes" rule): launch fails with a message naming it.
- exit_status() of a shim that vanished without writing one (a host reboot) is code 255.
- resize() without a tty does nothing. The user's command is PID 1 of its namespace: as
  with docker, it ignores signals it has no handler for, except SIGKILL.
"""
from .cgroups import cgroup_stats, is_v2 as cgroup_v2
from .client import CreateError, ExitStatus, Shim, launch, reap_shims
from .exec import ExecShim, exec_process
from .processes import processes

__all__ = ["CreateError", "ExecShim", "ExitStatus", "Shim", "cgroup_stats", "cgroup_v2", "exec_process",
           "launch", "processes", "reap_shims"]
