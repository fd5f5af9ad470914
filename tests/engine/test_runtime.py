"""The container runtime on this machine (root): isolation and limits seen from inside a
container and checked against the host, exit codes, exec, the shim's life, cleanup.

Containers run a busybox-static root filesystem, in a new empty network namespace, under a
cgroup parent unique to this run that is removed at the end.
"""
import binascii
import errno
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time

import pytest

from engine import runtime
from engine.runtime import cgroups

pytestmark = pytest.mark.root

BUSYBOX = "/bin/busybox"
# docker's default capability set as /proc/<pid>/status prints it.
DOCKER_DEFAULT_CAPS = 0x00000000a80425fb
CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21
ENGINE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(runtime.__file__))))


@pytest.fixture(scope="module")
def lower(tmp_path_factory):
    """A busybox root filesystem: /bin/busybox, one link per applet, passwd and group."""
    root = tmp_path_factory.mktemp("busybox-rootfs")
    (root / "bin").mkdir()
    (root / "etc").mkdir()
    subprocess.run(["cp", BUSYBOX, str(root / "bin" / "busybox")], check=True)
    applets = subprocess.run([BUSYBOX, "--list"], check=True, stdout=subprocess.PIPE,
                             universal_newlines=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", str(root / "bin" / applet))
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                         "app:x:1000:1000:app:/home/app:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nextra:x:2000:app\n")
    return root


@pytest.fixture(scope="module")
def cgroup_parent():
    parent = "yardtest-" + binascii.hexlify(os.urandom(4)).decode()
    yield parent
    for mountpoint in set(cgroups.hierarchies().values()):
        path = os.path.join(mountpoint, parent)
        if os.path.isdir(path):
            os.rmdir(path)


class Containers:
    """Makes containers from the busybox rootfs and removes every one of them at the end."""

    def __init__(self, tmp_path, lower, parent):
        self.tmp_path, self.lower, self.parent = tmp_path, lower, parent
        self.shims = []

    def spec(self, args, **overrides):
        container_id = binascii.hexlify(os.urandom(32)).decode()
        base = self.tmp_path / container_id[:12]
        for name in ("upper", "work", "merged", "bundle"):
            (base / name).mkdir(parents=True)
        spec = {
            "id": container_id,
            "rootfs": {"lower": [str(self.lower)], "upper": str(base / "upper"),
                       "work": str(base / "work"), "merged": str(base / "merged")},
            "args": args, "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/", "user": "",
            "hostname": container_id[:12], "tty": False, "stdin": False,
            "mounts": [], "etc_files": {}, "namespaces": {"network": None},
            "cgroup": {"parent": self.parent, "memory": 0, "memory_swap": 0, "cpu_quota": 0,
                       "cpu_period": 0, "cpu_shares": 0, "pids_limit": 0},
            "cap_add": [], "cap_drop": [], "privileged": False, "no_new_privileges": False,
            "shm_size": 64 * 1024 * 1024,
            "log": {"path": str(base / "bundle" / "json.log"), "max_size": 0, "max_file": 1},
        }
        spec.update(overrides)
        return spec

    def launch_spec(self, spec):
        shim = runtime.launch(os.path.dirname(spec["log"]["path"]), spec)
        self.shims.append(shim)
        return shim

    def launch(self, args, **overrides):
        spec = self.spec(args, **overrides)
        return self.launch_spec(spec), spec

    def run(self, args, **overrides):
        """Run to the end: (ExitStatus, stdout bytes, stderr bytes)."""
        shim, _ = self.launch(args, **overrides)
        stream = shim.attach(stdin=False, stdout=True, stderr=True)
        shim.start()
        out, err = demultiplex(read_all(stream))
        return shim.wait(), out, err

    def cleanup(self):
        for shim in self.shims:
            shim.cleanup()


@pytest.fixture
def containers(tmp_path, lower, cgroup_parent):
    made = Containers(tmp_path, lower, cgroup_parent)
    yield made
    made.cleanup()


def read_all(sock):
    data = b""
    with sock:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk


def demultiplex(data):
    """docker's 8-byte frames -> (stdout, stderr)."""
    streams = {1: b"", 2: b""}
    while data:
        kind, size = struct.unpack(">BxxxI", data[:8])
        streams[kind] += data[8:8 + size]
        data = data[8 + size:]
    return streams[1], streams[2]


def sh(script):
    return ["sh", "-c", textwrap.dedent(script)]


def host_cgroup_dir(pid, controller):
    """Where the host sees a process's cgroup for a v1 controller (or the v2 tree)."""
    hierarchies = cgroups.hierarchies()
    with open("/proc/%d/cgroup" % pid) as handle:
        for line in handle:
            _, names, path = line.rstrip("\n").split(":", 2)
            if cgroups.is_v2() and names == "":
                return hierarchies["unified"] + path
            if controller in names.split(","):
                return hierarchies[controller] + path
    raise AssertionError("pid %d has no %s cgroup" % (pid, controller))


def read(path):
    with open(path) as handle:
        return handle.read().strip()


# --- isolation ---------------------------------------------------------------------------

def test_container_has_its_own_namespaces(containers):
    kinds = ["pid", "mnt", "uts", "ipc", "net", "cgroup"]
    status, out, _ = containers.run(sh("for k in %s; do readlink /proc/self/ns/$k; done" % " ".join(kinds)))
    assert status.code == 0
    inside = out.decode().split()
    for kind, link in zip(kinds, inside):
        assert link != os.readlink("/proc/self/ns/" + kind), kind
    assert len(inside) == len(kinds)


def test_the_command_is_pid_1(containers):
    args = ["sh", "-c", "cat /proc/1/cmdline; echo; echo $$"]
    status, out, _ = containers.run(args)
    cmdline, pid = out.split(b"\n")[:2]
    assert cmdline == b"\0".join(a.encode() for a in args) + b"\0"
    assert pid == b"1"


def test_no_engine_file_descriptor_leaks_into_the_container(containers):
    status, out, _ = containers.run(["ls", "/proc/1/fd"])      # ls is PID 1; 3 is its listing
    assert out.split() == [b"0", b"1", b"2", b"3"]


def test_host_files_are_invisible_and_hostname_is_the_containers(containers, tmp_path):
    marker = tmp_path / "host-only"
    marker.write_text("secret")
    status, out, _ = containers.run(sh("""
        hostname
        test -e %s && echo marker-visible
        ls /
        ip -o link | cut -d: -f2
    """ % marker), hostname="box-one")
    lines = out.decode().split()
    assert lines[0] == "box-one"
    assert "marker-visible" not in lines
    assert "work" not in lines and "root" not in lines
    assert set(lines[1:]) >= {"bin", "etc", "proc", "sys", "dev"}
    assert lines[-1] == "lo"                       # a new network namespace: only lo


def test_capabilities_are_dockers_defaults(containers):
    status, out, _ = containers.run(sh("grep -E '^Cap(Eff|Bnd|Inh|Amb)' /proc/self/status"))
    caps = dict(line.split(":\t") for line in out.decode().splitlines())
    assert int(caps["CapEff"], 16) == DOCKER_DEFAULT_CAPS
    assert int(caps["CapBnd"], 16) == DOCKER_DEFAULT_CAPS
    assert int(caps["CapInh"], 16) == 0 and int(caps["CapAmb"], 16) == 0
    assert not int(caps["CapEff"], 16) & (1 << CAP_SYS_ADMIN)
    assert not int(caps["CapEff"], 16) & (1 << CAP_NET_ADMIN)


def test_cap_add_cap_drop_and_a_non_root_user(containers):
    status, out, _ = containers.run(sh("grep ^CapEff /proc/self/status; ip link set lo down && echo admin"),
                                    cap_add=["NET_ADMIN"], cap_drop=["cap_chown"])
    eff = int(out.decode().split()[1], 16)
    assert eff == (DOCKER_DEFAULT_CAPS | 1 << CAP_NET_ADMIN) & ~1
    assert b"admin" in out
    status, out, _ = containers.run(sh("id -u; id -g; id -G; grep ^CapEff /proc/self/status | cut -f2; echo $HOME"),
                                    user="app")
    assert out.decode().split("\n")[:5] == ["1000", "1000", "1000 2000", "0000000000000000", "/home/app"]


def test_masked_and_read_only_paths(containers):
    masked_files = [p for p in ("/proc/interrupts", "/proc/keys", "/proc/kcore", "/proc/timer_list",
                                "/proc/sched_debug", "/proc/latency_stats") if os.path.isfile(p)]
    masked_dirs = [p for p in ("/proc/acpi", "/proc/scsi", "/proc/asound", "/sys/firmware")
                   if os.path.isdir(p)]
    assert masked_files and masked_dirs, "this kernel shows nothing docker masks"
    script = "".join("echo %s=$(wc -c < %s)\n" % (p, p) for p in masked_files)
    script += "".join("echo %s=$(ls -A %s | wc -l)\n" % (p, p) for p in masked_dirs)
    script += "touch /sys/x || echo sys-ro\n"
    script += "echo x > /proc/sys/kernel/domainname || echo proc-sys-ro\n"
    script += "echo c > /proc/sysrq-trigger || echo sysrq-ro\n"
    status, out, _ = containers.run(sh(script))
    values = dict(line.split("=") for line in out.decode().splitlines() if "=" in line)
    assert values == {p: "0" for p in masked_files + masked_dirs}
    assert {"sys-ro", "proc-sys-ro", "sysrq-ro"} <= set(out.decode().split())


def test_dev_holds_only_the_default_devices(containers):
    status, out, _ = containers.run(sh("""
        find /dev -maxdepth 1 -type c | sort
        echo --
        stat -c '%n %t:%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty
        echo --
        mount | grep -E ' /dev/(pts|shm|mqueue) '
        df -k /dev/shm | tail -1
    """))
    devices, numbers, mounts = out.decode().split("--\n")
    assert devices.split() == ["/dev/full", "/dev/null", "/dev/random", "/dev/tty",
                               "/dev/urandom", "/dev/zero"]
    assert numbers.split() == ["/dev/null", "1:3", "/dev/zero", "1:5", "/dev/full", "1:7",
                               "/dev/random", "1:8", "/dev/urandom", "1:9", "/dev/tty", "5:0"]
    assert "devpts on /dev/pts" in mounts and "mqueue on /dev/mqueue" in mounts
    assert mounts.splitlines()[-1].split()[1] == str(64 * 1024)


def test_a_tty_is_the_containers_own_pty(containers):
    shim, _ = containers.launch(sh("tty; stat -c %t:%T /dev/console; test -t 0 && echo in-tty; stty size"),
                                tty=True)
    stream = shim.attach(stdout=True, stderr=True)
    shim.resize(30, 100)
    shim.start()
    out = read_all(stream).decode()
    assert shim.wait().code == 0
    assert out.split() == ["/dev/pts/0", "88:0", "in-tty", "30", "100"]   # raw bytes: no frames


def test_signals_are_as_exec_leaves_them_and_the_command_leads_a_session(containers):
    # What the engine was started with (CI's runner: signal 32 ignored) is not the command's.
    blocked_here = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    ignored_here = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        status, out, _ = containers.run(sh("grep -E '^Sig(Ign|Blk)' /proc/self/status | cut -f2; "
                                           "cut -d' ' -f6 /proc/1/stat"))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked_here)
        signal.signal(signal.SIGUSR2, ignored_here)
    ignored, blocked, session = out.decode().split()
    assert int(ignored, 16) == 0 and int(blocked, 16) == 0      # no SIGPIPE left ignored
    assert session == "1"


def test_stdin_reaches_the_command_and_its_end_closes_it(containers):
    shim, _ = containers.launch(["sh", "-c", "wc -l; echo done >&2"], stdin=True)
    stream = shim.attach(stdin=True, stdout=True, stderr=True)
    shim.start()
    stream.sendall(b"one\ntwo\nthree\n" + b"more\n" * 100000)      # more than a pipe holds
    stream.shutdown(socket.SHUT_WR)
    out, err = demultiplex(read_all(stream))
    assert (out.strip(), err) == (b"100003", b"done\n")
    assert shim.wait().code == 0


def test_mounts_and_etc_files(containers, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "in").write_text("from host")
    hosts = tmp_path / "hosts"
    hosts.write_text("10.1.2.3 peer\n")
    spec = containers.spec(
        sh("cat /data/in; cat /etc/hosts; touch /ro/x || echo ro; echo new > /data/out; echo w > /written"),
        mounts=[{"source": str(data), "destination": "/data"},
                {"source": str(data), "destination": "/ro", "readonly": True}],
        etc_files={"/etc/hosts": str(hosts)})
    shim = containers.launch_spec(spec)
    stream = shim.attach()
    shim.start()
    out, _ = demultiplex(read_all(stream))
    assert out.decode().split("\n")[:3] == ["from host10.1.2.3 peer", "ro", ""]
    assert (data / "out").read_text() == "new\n"
    with open(os.path.join(spec["rootfs"]["upper"], "written")) as written:   # the writable layer
        assert written.read() == "w\n"


def test_the_working_directory_is_created_and_relative_commands_start_there(containers):
    spec = containers.spec(["./hello"], cwd="/app/dir")
    os.makedirs(os.path.join(spec["rootfs"]["upper"], "app", "dir"))
    with open(os.path.join(spec["rootfs"]["upper"], "app", "dir", "hello"), "w") as script:
        script.write("#!/bin/sh\npwd\n")
    os.chmod(os.path.join(spec["rootfs"]["upper"], "app", "dir", "hello"), 0o755)
    shim = containers.launch_spec(spec)
    stream = shim.attach()
    shim.start()
    assert demultiplex(read_all(stream))[0] == b"/app/dir\n"
    _, out, _ = containers.run(["pwd"], cwd="/not/there/yet")
    assert out == b"/not/there/yet\n"


def test_a_bundle_path_longer_than_a_unix_socket_address(containers, tmp_path):
    deep = tmp_path / ("d" * 100) / ("e" * 100)
    deep.mkdir(parents=True)
    spec = containers.spec(["echo", "deep"])
    spec["log"]["path"] = str(deep / "json.log")
    shim = containers.launch_spec(spec)
    assert len(os.path.join(shim.directory, "shim.sock")) > 108
    stream = shim.attach()
    shim.start()
    assert demultiplex(read_all(stream))[0] == b"deep\n"
    assert shim.wait().code == 0


def test_the_json_log_holds_each_line_and_rotates(containers):
    spec = containers.spec(sh("i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done; echo -n end >&2"))
    spec["log"].update(max_size=2000, max_file=3)
    shim = containers.launch_spec(spec)
    shim.start()
    assert shim.wait().code == 0
    path = spec["log"]["path"]
    assert [os.path.exists(path + suffix) for suffix in ("", ".1", ".2", ".3")] == [True] * 3 + [False]
    assert all(os.path.getsize(path + suffix) <= 2000 for suffix in ("", ".1", ".2"))
    with open(path) as log:
        entries = [json.loads(line) for line in log]
    assert [(e["log"], e["stream"]) for e in entries[-2:]] == [("line-199\n", "stdout"), ("end", "stderr")]
    assert all(e["time"].endswith("Z") for e in entries)


# --- limits ----------------------------------------------------------------------------------

def test_limits_are_written_to_the_cgroup(containers):
    limits = {"memory": 64 * 1024 * 1024, "memory_swap": 0, "cpu_quota": 50000,
              "cpu_period": 100000, "cpu_shares": 512, "pids_limit": 40}
    shim, spec = containers.launch(["sleep", "1000"], cgroup=dict(limits, parent=containers.parent))
    shim.start()
    memory = host_cgroup_dir(shim.pid, "memory")
    assert memory.endswith("/%s/%s" % (containers.parent, spec["id"]))
    with open("/proc/%d/cgroup" % shim.pid) as handle:
        joined = {names: path for _, names, path in (l.strip().split(":", 2) for l in handle)}
    wanted = {"memory", "pids", "devices", "cpu", "cpuacct", "name=systemd", ""}     # "": unified
    assert all(path == "/%s/%s" % (containers.parent, spec["id"])
               for names, path in joined.items() if set(names.split(",")) & wanted)
    if cgroups.is_v2():
        assert read(memory + "/memory.max") == str(limits["memory"])
        assert read(memory + "/cpu.max") == "50000 100000"
        assert read(memory + "/pids.max") == "40"
    else:
        assert read(memory + "/memory.limit_in_bytes") == str(limits["memory"])
        assert read(memory + "/memory.memsw.limit_in_bytes") == str(2 * limits["memory"])
        cpu = host_cgroup_dir(shim.pid, "cpu")
        assert read(cpu + "/cpu.cfs_quota_us") == "50000"
        assert read(cpu + "/cpu.cfs_period_us") == "100000"
        assert read(cpu + "/cpu.shares") == "512"
        assert read(host_cgroup_dir(shim.pid, "pids") + "/pids.max") == "40"
    stats = runtime.cgroup_stats(spec)
    assert stats["memory_limit"] == limits["memory"] and stats["pids"] == 1
    assert [entry[3] for entry in runtime.processes(shim.directory)] == ["sleep 1000"]
    shim.signal(signal.SIGKILL)
    assert shim.wait().code == 137


def test_the_container_reads_its_own_limits_under_sys_fs_cgroup(containers):
    limit = 48 * 1024 * 1024
    if cgroups.is_v2():
        files = {"memory.max": str(limit), "pids.max": "30", "cpu.max": "20000 100000"}
    else:
        files = {"memory/memory.limit_in_bytes": str(limit), "pids/pids.max": "30",
                 "cpu/cpu.cfs_quota_us": "20000"}
    script = "".join("cat /sys/fs/cgroup/%s\n" % name for name in sorted(files))
    script += "echo 1 > /sys/fs/cgroup/%s || echo read-only\n" % sorted(files)[0]
    script += "ls /sys/fs/cgroup/%s | grep -c yardtest\n" % ("" if cgroups.is_v2() else "memory")
    status, out, _ = containers.run(sh(script), cgroup={
        "parent": containers.parent, "memory": limit, "pids_limit": 30,
        "cpu_quota": 20000, "cpu_period": 100000})
    lines = out.decode().split()
    assert lines == [files[name] for name in sorted(files)] + ["read-only", "0"]


def test_out_of_memory_exits_137_and_says_so(containers):
    limit = 16 * 1024 * 1024
    status, _, _ = containers.run(["tail", "/dev/zero"],
                                  cgroup={"parent": containers.parent, "memory": limit,
                                          "memory_swap": limit})
    assert status.code == 137
    assert status.oom_killed is True


@pytest.mark.skipif(cgroups.is_v2(), reason="v1 OOM notification")
def test_v1_oom_events_are_seen_without_the_oom_kill_counter(cgroup_parent):
    """EL7's kernel has no oom_kill counter: the eventfd on memory.oom_control must do."""
    limit = 16 * 1024 * 1024
    cgroup = cgroups.Cgroup(cgroup_parent, "oom-" + binascii.hexlify(os.urandom(4)).decode())
    cgroup.create({"memory": limit, "memory_swap": limit})
    try:
        cgroup.watch_oom()
        assert cgroup.oom_events() == 0
        eater = subprocess.run([BUSYBOX, "tail", "/dev/zero"], preexec_fn=cgroup.join)
        assert eater.returncode == -signal.SIGKILL
        assert cgroup.oom_events() >= 1
    finally:
        cgroup.remove()


def test_the_smallest_memory_limit_docker_allows_still_starts(containers):
    """6 MiB, docker's minimum: our own setup before exec must fit in it."""
    status, out, _ = containers.run(["echo", "fits"], cgroup={
        "parent": containers.parent, "memory": 6 * 1024 * 1024, "memory_swap": 6 * 1024 * 1024})
    assert (status.code, status.oom_killed, out) == (0, False, b"fits\n")


def test_a_fork_bomb_stops_at_the_pids_limit(containers):
    status, out, err = containers.run(sh("""
        (i=0; while [ $i -lt 60 ]; do sleep 1000 & i=$((i+1)); done) 2>/dev/null
        set -- /proc/[0-9]*
        echo $#
        kill -9 -1
    """), cgroup={"parent": containers.parent, "pids_limit": 20})
    running = int(out.split()[0])
    assert 10 < running <= 20
    # The host still forks freely.
    assert subprocess.run(["true"]).returncode == 0


# --- exit codes and lifecycle ----------------------------------------------------------------

def test_exit_codes_propagate(containers):
    assert containers.run(["sh", "-c", "exit 3"])[0].code == 3
    assert containers.run(["sh", "-c", "trap 'exit 42' TERM; kill -TERM $$; sleep 1000"])[0].code == 42


def test_a_missing_or_unrunnable_command_fails_at_launch(containers):
    with pytest.raises(runtime.CreateError) as missing:
        containers.launch(["nosuch"])
    assert missing.value.exit_code == 127
    assert str(missing.value) == 'exec: "nosuch": executable file not found in $PATH'
    with pytest.raises(runtime.CreateError) as unrunnable:
        containers.launch(["/etc/passwd"])
    assert unrunnable.value.exit_code == 126
    with pytest.raises(runtime.CreateError) as nouser:
        containers.launch(["true"], user="nobody-here")
    assert "unable to find user nobody-here" in str(nouser.value)
    with pytest.raises(runtime.CreateError) as nocap:
        containers.launch(["true"], cap_add=["NOPE"])
    assert (str(nocap.value), nocap.value.exit_code) == ('unknown capability: "NOPE"', 125)


def test_sigkill_gives_137_and_status_follows_the_lifecycle(containers):
    shim, _ = containers.launch(["sleep", "1000"])
    assert shim.status() == "created"
    shim.signal(signal.SIGINT)                   # PID 1 has no handler: ignored, as docker's
    assert shim.wait(timeout=0.2) is None
    shim.start()
    assert shim.status() == "running"
    assert shim.wait(timeout=0.2) is None
    shim.signal(signal.SIGKILL)
    status = shim.wait()
    assert (status.code, status.oom_killed) == (137, False)
    assert shim.status() == "exited" and shim.exit_status() == status
    for late in (shim.start, lambda: shim.signal(signal.SIGTERM), lambda: shim.attach()):
        with pytest.raises(RuntimeError, match="is not running"):
            late()


def test_exec_joins_the_running_container(containers):
    shim, spec = containers.launch(["sleep", "1000"], env=["PATH=/bin", "A=container"])
    shim.start()
    execed = runtime.exec_process(shim.directory, {"args": ["sh", "-c", (
        "for k in pid mnt net; do readlink /proc/self/ns/$k; done; cat /proc/1/cmdline; "
        "echo; echo $A $B; hostname; id -u; pwd")], "env": ["B=exec"], "cwd": "/tmp",
        "user": "app", "tty": False, "stdin": False}, start=False)
    stream = execed.attach(stdout=True, stderr=True)
    execed.start()
    out, err = demultiplex(read_all(stream))
    assert execed.wait().code == 0
    lines = out.decode().split("\n")
    for kind, line in zip(("pid", "mnt", "net"), lines):
        assert line == os.readlink("/proc/%d/ns/%s" % (shim.pid, kind))
    assert lines[3:8] == ["sleep\x001000\x00", "container exec", spec["hostname"], "1000", "/tmp"]
    execed.cleanup()
    assert not os.path.exists(execed.directory)


def test_the_shim_outlives_its_daemon_and_reconnects(containers):
    """A 'daemon' process launches a container and is SIGKILLed; the shim carries on."""
    spec = containers.spec(["sh", "-c", "echo started; sleep 1000"])
    bundle = os.path.dirname(spec["log"]["path"])
    daemon = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import json, os, signal, sys
        from engine import runtime
        runtime.launch(sys.argv[1], json.loads(sys.argv[2])).start()
        print("ready", flush=True)
        signal.pause()
    """), bundle, json.dumps(spec)], stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=ENGINE_ROOT))
    assert daemon.stdout.readline() == b"ready\n"
    daemon.kill()
    daemon.wait()
    shim = runtime.Shim(bundle)
    containers.shims.append(shim)
    assert shim.status() == "running"
    os.kill(shim.pid, 0)
    shim.signal(signal.SIGKILL)
    assert shim.wait().code == 137
    with open(spec["log"]["path"]) as log:
        assert '"log": "started\\n"' in log.read()


def test_the_shim_is_the_daemons_own_code_and_holds_none_of_its_files(containers, tmp_path):
    """A shim is a fork of the daemon: it starts even once the engine's files are gone (an
    upgrade replaced them), and it keeps none of the daemon's descriptors (a client's
    connection it held would never see its end)."""
    copy = tmp_path / "engine-copy"
    shutil.copytree(os.path.join(ENGINE_ROOT, "engine"), str(copy / "engine"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    spec = containers.spec(["sh", "-c", "echo forked; sleep 1000"])
    marker = tmp_path / "daemon-file"
    daemon = subprocess.run([sys.executable, "-I", "-c", textwrap.dedent("""
        import json, shutil, sys, threading
        sys.path.insert(0, sys.argv[1])
        from engine import runtime
        shutil.rmtree(sys.argv[1])
        held = open(sys.argv[3], "w")
        busy = threading.Thread(target=threading.Event().wait, daemon=True)
        busy.start()
        runtime.launch(sys.argv[2], json.loads(sys.argv[4])).start()
    """), str(copy), os.path.dirname(spec["log"]["path"]), str(marker), json.dumps(spec)], cwd="/")
    assert daemon.returncode == 0
    shim = runtime.Shim(os.path.dirname(spec["log"]["path"]))
    containers.shims.append(shim)
    with open(os.path.join(shim.directory, "shim.pid")) as handle:
        shim_pid = int(handle.read().split()[0])
    with open("/proc/%d/comm" % shim_pid) as handle:
        assert handle.read() == "yard-shim\n"
    held = [os.readlink("/proc/%d/fd/%s" % (shim_pid, fd)) for fd in os.listdir("/proc/%d/fd" % shim_pid)]
    assert str(marker) not in held
    assert shim.status() == "running"
    shim.signal(signal.SIGKILL)
    assert shim.wait().code == 137
    with open(spec["log"]["path"]) as log:
        assert json.loads(log.readline())["log"] == "forked\n"


def test_an_ended_shim_is_collected_not_left_a_zombie(containers):
    status, out, _ = containers.run(["echo", "bye"])
    assert (status.code, out) == (0, b"bye\n")
    shim = containers.shims[-1]
    with open(os.path.join(shim.directory, "shim.pid")) as handle:
        shim_pid = int(handle.read().split()[0])
    for _ in range(100):
        runtime.reap_shims()
        if not os.path.exists("/proc/%d" % shim_pid):
            break
        subprocess.run(["sleep", "0.05"])
    assert not os.path.exists("/proc/%d" % shim_pid)


def test_a_recycled_shim_pid_is_not_taken_for_the_shim(containers):
    shim, _ = containers.launch(["sleep", "1000"])
    shim.start()
    assert shim.status() == "running"
    path = os.path.join(shim.directory, "shim.pid")
    with open(path) as handle:
        written = handle.read()
    with open(path, "w") as handle:
        handle.write(written.split()[0] + " 1")      # as if the pid now named another process
    assert shim.status() == "exited"
    with open(path, "w") as handle:
        handle.write(written)
    assert shim.status() == "running"


def test_cleanup_leaves_no_mount_cgroup_or_file(containers):
    shim, spec = containers.launch(["sleep", "1000"], cgroup={"parent": containers.parent,
                                                             "memory": 32 * 1024 * 1024})
    shim.start()
    cgroup_dir = host_cgroup_dir(shim.pid, "memory")
    with open("/proc/%d/mountinfo" % shim.pid) as handle:
        assert " / " in handle.read()            # the container has its own root...
    shim.cleanup()
    with open("/proc/self/mountinfo") as handle:
        mounts = handle.read()
    assert spec["rootfs"]["merged"] not in mounts   # ...and the host never saw its mounts
    assert not os.path.exists(cgroup_dir)
    assert sorted(os.listdir(shim.directory)) == ["exit.json", "json.log"]
    assert shim.exit_status().code == 137


def test_an_image_of_many_layers_with_long_paths(containers, tmp_path):
    """60 layers at ~100-character paths: more than a page of absolute overlay options."""
    layers = []
    for index in range(60):
        layer = tmp_path / "layers" / ("%02d-%s" % (index, "x" * 90)) / "diff"
        (layer / "etc").mkdir(parents=True)
        (layer / "etc" / ("layer-%02d" % index)).write_text(str(index))
        layers.append(str(layer))
    spec = containers.spec(sh("ls /etc | grep -c layer-; cat /etc/layer-59"))
    spec["rootfs"]["lower"] = layers + spec["rootfs"]["lower"]
    shim = containers.launch_spec(spec)
    stream = shim.attach()
    shim.start()
    out, _ = demultiplex(read_all(stream))
    assert out.split() == [b"60", b"59"]


def test_a_bad_limit_fails_launch_and_leaves_no_cgroup(containers):
    spec = containers.spec(["true"], cgroup={"parent": containers.parent,
                                             "memory": 64 * 1024 * 1024, "memory_swap": 1024})
    with pytest.raises(runtime.CreateError) as failed:
        containers.launch_spec(spec)
    assert failed.value.exit_code == 125
    assert "memory" in str(failed.value) and "1024" in str(failed.value)
    with pytest.raises(runtime.CreateError) as nosource:
        containers.launch(["true"], mounts=[{"source": "/nonexistent-yardtest", "destination": "/d"}])
    assert str(nosource.value) == ('invalid mount config for type "bind": bind source path does '
                                   'not exist: /nonexistent-yardtest')
    for mountpoint in set(cgroups.hierarchies().values()):
        assert not os.path.exists(os.path.join(mountpoint, containers.parent, spec["id"]))


class _RefusingCgroup:
    """A cgroup the kernel will not let a process join (EBUSY, as v2's "no internal
    processes" rule answers), after `delay` seconds."""

    def __init__(self, delay=0.0):
        self.delay = delay

    def join(self, pid):
        time.sleep(self.delay)
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))


def _fork_child_outcome(directory, child, cgroup):
    """What shim.fork_child says, run in a process of its own (it makes its caller a
    subreaper): {"ok": True}, or the CreateError's message and code."""
    read, write = os.pipe()
    helper = os.fork()
    if helper == 0:
        signal.alarm(10)                          # a create that hangs fails the test
        try:
            from engine.runtime.shim import fork_child
            fork_child(str(directory), False, False, False, child, cgroup=cgroup)
            outcome = {"ok": True}
        except runtime.CreateError as error:
            outcome = {"error": str(error), "code": error.exit_code}
        except BaseException as error:
            outcome = {"error": repr(error), "code": None}
        os.write(write, json.dumps(outcome).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as source:
        said = source.read()
    os.waitpid(helper, 0)
    return json.loads(said) if said else {"error": "fork_child hung", "code": None}


def test_a_cgroup_the_process_cannot_join_fails_the_create_and_says_why(tmp_path):
    from engine.runtime import channel

    def waits_for_joined(sock, stdio):            # as the container's init does
        if sock.recv(16) == channel.JOINED:
            channel.send(sock, {"ok": True})
    assert _fork_child_outcome(tmp_path, waits_for_joined, _RefusingCgroup()) == {
        "error": "cannot put the container's process in its cgroup: [Errno 16] Device or resource busy",
        "code": 125}


def test_a_process_that_failed_first_gives_its_own_reason_not_the_cgroups(tmp_path):
    from engine.runtime import channel

    def fails_at_once(sock, stdio):               # a bad bind source, say, before JOINED comes
        channel.send(sock, {"error": 'exec: "nosuch": executable file not found in $PATH', "code": 127})
    assert _fork_child_outcome(tmp_path, fails_at_once, _RefusingCgroup(delay=0.2)) == {
        "error": 'exec: "nosuch": executable file not found in $PATH', "code": 127}


@pytest.mark.skipif("devices" not in cgroups.hierarchies() and not cgroups.is_v2(),
                    reason="needs the v1 devices controller or cgroup v2's device programs")
def test_host_devices_cannot_be_opened_even_after_mknod(containers):
    status, out, err = containers.run(sh("""
        mknod /mem c 1 1 && echo made
        head -c 1 /mem > /dev/null || echo denied
        head -c 1 /dev/zero | wc -c
    """))
    assert out.decode().split() == ["made", "denied", "1"]


def test_privileged_and_no_new_privileges(containers):
    status, out, _ = containers.run(sh("grep -E '^(CapEff|NoNewPrivs)' /proc/self/status | cut -f2; "
                                       "touch /sys/kernel/profiling && echo sys-rw; wc -c < /proc/keys"),
                                    privileged=True, no_new_privileges=True)
    eff, no_new_privs, sys_rw, keys = out.decode().split()
    with open("/proc/self/status") as handle:          # all the engine itself has
        assert eff == next(line.split()[1] for line in handle if line.startswith("CapBnd:"))
    assert (no_new_privs, sys_rw) == ("1", "sys-rw")
    assert int(keys) > 0                        # nothing masked


def test_network_joins_another_container_or_the_host(containers):
    first, _ = containers.launch(["sleep", "1000"])
    first.start()
    netns = "/proc/%d/ns/net" % first.pid
    _, out, _ = containers.run(["readlink", "/proc/self/ns/net"], namespaces={"network": netns})
    assert out.decode().strip() == os.readlink(netns)
    _, out, _ = containers.run(["readlink", "/proc/self/ns/net"], namespaces={"network": "host"})
    assert out.decode().strip() == os.readlink("/proc/self/ns/net")


def test_host_pid_ipc_and_uts_namespaces_on_request(containers):
    status, out, _ = containers.run(
        sh("for k in pid ipc uts; do readlink /proc/self/ns/$k; done; test -d /proc/%d && echo host-procs"
           % os.getpid()),
        namespaces={"network": None, "pid": "host", "ipc": "host", "uts": "host"})
    assert out.decode().split() == [os.readlink("/proc/self/ns/" + k) for k in ("pid", "ipc", "uts")] + [
        "host-procs"]


def test_exec_with_a_tty_and_a_missing_command(containers):
    shim, _ = containers.launch(["sleep", "1000"])
    shim.start()
    execed = runtime.exec_process(shim.directory, {"args": ["tty"], "tty": True}, start=False)
    stream = execed.attach(stdout=True)
    execed.start()
    assert read_all(stream).split() == [b"/dev/pts/0"]
    assert execed.wait().code == 0
    with pytest.raises(runtime.CreateError) as missing:
        runtime.exec_process(shim.directory, {"args": ["nosuch"]})
    assert missing.value.exit_code == 127
    assert os.listdir(os.path.join(shim.directory, "exec")) == [execed.id]
    shim.signal(signal.SIGKILL)
    shim.wait()
    with pytest.raises(runtime.CreateError, match="is not running"):
        runtime.exec_process(shim.directory, {"args": ["true"]})


def test_many_runs_leave_nothing_behind(containers, tmp_path):
    for _ in range(10):
        shim, spec = containers.launch(["true"], cgroup={"parent": containers.parent,
                                                        "memory": 32 * 1024 * 1024})
        shim.start()
        assert shim.wait().code == 0
        shim.cleanup()
    # Other tests on this machine mount and unmount too: look only for ours.
    with open("/proc/self/mountinfo") as handle:
        assert str(tmp_path) not in handle.read()
    for mountpoint in set(cgroups.hierarchies().values()):
        parent = os.path.join(mountpoint, containers.parent)
        children = [entry for entry in os.listdir(parent)
                    if os.path.isdir(os.path.join(parent, entry))] if os.path.isdir(parent) else []
        assert children == []
