"""The container lifecycle through the yard CLI against a real yardd: exit codes, verbs,
restart policies, logs, exec, /etc files, published ports and concurrent API calls."""
import os
import secrets
import socket
import subprocess
import threading
import time

import pytest

from engine.cli.client import Client, ClientError
from engine.runtime import cgroup_v2
from yardd import wait_for, yardd  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def test_run_returns_the_output_and_the_exit_code(yardd):
    result = yardd.yard("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert yardd.yard("ps", "-a", "-q").stdout == ""          # --rm removed it


def test_a_command_that_cannot_run_exits_126_or_127_and_an_engine_error_125(yardd):
    missing = yardd.yard("run", "--rm", "busybox", "nosuch")
    assert missing.returncode == 127 and "executable file not found" in missing.stderr
    assert yardd.yard("run", "--rm", "busybox", "/etc/passwd").returncode == 126
    assert yardd.yard("run", "--rm", "--bogus-flag", "busybox").returncode == 125
    assert yardd.yard("run", "--rm", "--memory", "1k", "busybox", "true").returncode == 125
    assert yardd.yard("ps", "-a", "-q").stdout == ""


def test_stdin_environment_workdir_user_and_hostname(yardd, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=yes\n")
    out = yardd.yard_ok("run", "--rm", "-e", "A=1", "--env-file", env_file, "-w", "/tmp", "-u", "65534",
                        "-h", "box", "busybox", "sh", "-c", 'echo $A $FROM_FILE $(pwd) $(id -u) $(hostname)')
    assert out == "1 yes /tmp 65534 box\n"
    assert yardd.yard_ok("run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", input="shout\n") == "SHOUT\n"
    assert yardd.yard_ok("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint") == "via entrypoint\n"


def test_lifecycle_create_start_stop_restart_rename_rm(yardd):
    container_id = yardd.yard_ok("create", "--name", "life", "busybox", "sleep", "300").strip()
    assert len(container_id) == 64
    assert yardd.inspect("life")["State"]["Status"] == "created"
    yardd.yard_ok("start", "life")
    state = yardd.inspect(container_id[:8])["State"]          # a short id prefix finds it
    assert state["Running"] and os.path.exists("/proc/%d" % state["Pid"])
    assert "Up " in yardd.yard_ok("ps", "--format", "{{.Names}} {{.Status}}")
    assert yardd.yard("rm", "life").returncode == 1            # running: refused without -f
    first_pid = state["Pid"]
    yardd.yard_ok("restart", "-t", "1", "life")
    assert yardd.inspect("life")["State"]["Pid"] not in (0, first_pid)
    yardd.yard_ok("stop", "-t", "1", "life")                  # sleep as pid 1 ignores SIGTERM: killed
    state = yardd.inspect("life")["State"]
    assert (state["Status"], state["ExitCode"], state["Pid"]) == ("exited", 137, 0)
    assert not os.path.exists("/proc/%d" % first_pid)
    yardd.yard_ok("rename", "life", "renamed")
    assert yardd.inspect("renamed")["Id"] == container_id
    yardd.yard_ok("rm", "renamed")
    assert yardd.yard("inspect", "renamed").returncode == 1
    assert yardd.container_dirs() == []


def test_kill_exits_137_and_wait_reports_it(yardd):
    yardd.yard_ok("run", "-d", "--name", "victim", "busybox", "sleep", "300")
    yardd.yard_ok("kill", "victim")
    assert yardd.yard_ok("wait", "victim") == "137\n"
    assert yardd.inspect("victim")["State"]["ExitCode"] == 137


def test_names_are_unique_and_generated_ones_look_like_docker(yardd):
    yardd.yard_ok("create", "--name", "taken", "busybox", "true")
    clash = yardd.yard("create", "--name", "taken", "busybox", "true")
    assert clash.returncode == 125 and "already in use" in clash.stderr
    generated = yardd.inspect(yardd.yard_ok("create", "busybox", "true").strip())["Name"]
    adjective, _, surname = generated.lstrip("/").partition("_")
    assert adjective.isalpha() and surname.rstrip("0123456789").isalpha()


def test_restart_on_failure_gives_up_after_the_count(yardd):
    yardd.yard_ok("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3")
    assert wait_for(lambda: yardd.inspect("flaky")["RestartCount"] == 2
                    and yardd.inspect("flaky")["State"]["Status"] == "exited")
    state = yardd.inspect("flaky")["State"]
    assert state["ExitCode"] == 3
    time.sleep(1)                                             # and it stays down
    assert yardd.inspect("flaky")["RestartCount"] == 2


def test_restart_always_brings_back_a_process_killed_from_the_host_but_not_a_stopped_one(yardd):
    yardd.yard_ok("run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sleep", "300")
    first = yardd.inspect("phoenix")["State"]["Pid"]
    os.kill(first, 9)
    assert wait_for(lambda: yardd.inspect("phoenix")["State"]["Pid"] not in (0, first))
    assert yardd.inspect("phoenix")["RestartCount"] == 1
    yardd.yard_ok("stop", "-t", "1", "phoenix")
    time.sleep(1)
    assert yardd.inspect("phoenix")["State"]["Status"] == "exited"


def test_logs_rotate_by_max_size_and_max_file(yardd):
    yardd.yard_ok("run", "-d", "--name", "chatty", "--log-opt", "max-size=2k", "--log-opt", "max-file=2",
                  "busybox", "sh", "-c", "for i in $(seq 1 300); do echo line-$i; done")
    yardd.yard_ok("wait", "chatty")
    log_path = yardd.inspect("chatty")["LogPath"]
    assert os.path.exists(log_path + ".1") and not os.path.exists(log_path + ".2")
    assert os.path.getsize(log_path) <= 2048 and os.path.getsize(log_path + ".1") <= 2048
    lines = yardd.yard_ok("logs", "chatty").splitlines()
    assert lines[-1] == "line-300" and "line-1" not in lines
    assert lines == ["line-%d" % n for n in range(301 - len(lines), 301)]   # in order, none lost inside
    assert yardd.yard_ok("logs", "--tail", "2", "chatty") == "line-299\nline-300\n"
    stamped = yardd.yard_ok("logs", "-t", "--tail", "1", "chatty")
    assert stamped.endswith("Z line-300\n") and stamped.startswith("20")


def test_logs_follow_streams_until_the_container_ends(yardd):
    yardd.yard_ok("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
                  "for i in 1 2 3; do echo tick-$i; sleep 0.3; done; echo done >&2")
    result = yardd.yard("logs", "-f", "ticker", timeout=60)
    assert result.stdout == "tick-1\ntick-2\ntick-3\n" and result.stderr == "done\n"


def test_logs_since_and_until_take_docker_times(yardd):
    yardd.yard_ok("run", "--name", "clock", "busybox", "sh", "-c", "echo early; sleep 2; echo late")
    stamps = [line.split()[0] for line in yardd.yard_ok("logs", "-t", "clock").splitlines()]
    late = stamps[1][:19] + "Z"                     # whole seconds: at or before "late", after "early"
    assert yardd.yard_ok("logs", "--since", late, "clock") == "late\n"
    assert yardd.yard_ok("logs", "--until", late, "clock") == "early\n"
    assert yardd.yard_ok("logs", "--since", "1h", "clock") == "early\nlate\n"
    assert yardd.yard_ok("logs", "--until", "1h", "clock") == ""
    refused = yardd.yard("logs", "--since", "yesterday", "clock")
    assert (refused.returncode, refused.stderr) == (
        1, 'invalid value for "since": failed to parse value as time or duration: "yesterday"\n')


def test_exec_runs_in_the_container_with_its_own_options(yardd):
    yardd.yard_ok("run", "-d", "--name", "host", "busybox", "sleep", "300")
    pid = yardd.inspect("host")["State"]["Pid"]
    result = yardd.yard("exec", "-e", "X=42", "-w", "/tmp", "-u", "65534", "host", "sh", "-c",
                        "echo $X $(pwd) $(id -u); tr '\\0' ' ' < /proc/1/cmdline; exit 7")
    assert result.returncode == 7
    assert result.stdout == "42 /tmp 65534\nsleep 300 "
    assert yardd.yard_ok("exec", "-i", "host", "cat", input="fed\n") == "fed\n"
    # The exec'd process lives in the container's namespaces.
    namespaces = yardd.yard_ok("exec", "host", "sh", "-c",
                               "readlink /proc/self/ns/pid; readlink /proc/self/ns/net").split()
    assert namespaces == [os.readlink("/proc/%d/ns/pid" % pid), os.readlink("/proc/%d/ns/net" % pid)]
    yardd.yard_ok("exec", "-d", "host", "touch", "/tmp/detached")
    assert wait_for(lambda: yardd.yard("exec", "host", "test", "-e", "/tmp/detached").returncode == 0)
    assert yardd.yard("exec", "host", "nosuch").returncode in (126, 127)


def test_etc_files_name_the_container_and_skip_loopback_resolvers(yardd):
    yardd.yard_ok("run", "-d", "--name", "etc", "-h", "etc-box", "busybox", "sleep", "300")
    address = yardd.inspect("etc")["NetworkSettings"]["IPAddress"]
    hosts = yardd.yard_ok("exec", "etc", "cat", "/etc/hosts")
    assert "%s\tetc-box" % address in hosts and "127.0.0.1\tlocalhost" in hosts
    assert yardd.yard_ok("exec", "etc", "cat", "/etc/hostname") == "etc-box\n"
    resolv = yardd.yard_ok("exec", "etc", "cat", "/etc/resolv.conf")
    assert "nameserver" in resolv and "nameserver 127." not in resolv


def test_a_published_port_answers_with_real_traffic(yardd):
    server = "while true; do echo hello-from-$(hostname) | nc -l -p 80; done"
    yardd.yard_ok("run", "-d", "--name", "web", "-h", "web", "-p", "80", "busybox", "sh", "-c", server)
    host_port = int(yardd.yard_ok("port", "web", "80").strip().rsplit(":", 1)[1])
    assert yardd.inspect("web")["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == str(host_port)
    assert "0.0.0.0:%d->80/tcp" % host_port in yardd.yard_ok("ps")
    assert _fetch("127.0.0.1", host_port) == b"hello-from-web\n"
    address = yardd.inspect("web")["NetworkSettings"]["IPAddress"]
    assert _fetch(address, 80) == b"hello-from-web\n"            # and on the bridge itself
    yardd.yard_ok("rm", "-f", "web")
    assert not any(str(host_port) in rule for rule in yardd.rules())


def _fetch(address, port):
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection((address, port), timeout=5) as conn:
                data = b""
                while True:
                    chunk = conn.recv(100)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    return data
        except OSError:
            pass
        if time.monotonic() > deadline:
            return b""
        time.sleep(0.2)


def test_top_stats_and_prune(yardd):
    yardd.yard_ok("run", "-d", "--name", "busy", "--pids-limit", "50", "busybox", "sleep", "300")
    top = yardd.yard_ok("top", "busy")
    assert "sleep 300" in top and top.startswith("UID")
    stats = yardd.yard_ok("stats", "--no-stream", "busy").splitlines()
    assert stats[0].startswith("CONTAINER ID") and stats[1].split()[1] == "busy"
    yardd.yard_ok("run", "--name", "done", "busybox", "true")
    pruned = yardd.yard_ok("container", "prune", "-f")
    assert yardd.inspect("busy")["State"]["Running"]
    assert yardd.yard("inspect", "done").returncode == 1 and "Total reclaimed space" in pruned


def test_inspect_has_dockers_shape(yardd):
    yardd.yard_ok("run", "-d", "--name", "shape", "-p", "8080", "--memory", "64m", "busybox", "sleep", "300")
    info = yardd.inspect("shape")
    for key in ("Id", "Created", "Path", "Args", "State", "Image", "Name", "RestartCount", "HostConfig",
                "Config", "NetworkSettings", "Mounts"):
        assert key in info
    assert set(info["State"]) >= {"Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid",
                                  "ExitCode", "Error", "StartedAt", "FinishedAt"}
    assert (info["Name"], info["Path"], info["Args"]) == ("/shape", "sleep", ["300"])
    assert info["HostConfig"]["Memory"] == 64 * 1024 * 1024
    bridge = info["NetworkSettings"]["Networks"]["bridge"]
    assert bridge["IPAddress"] == info["NetworkSettings"]["IPAddress"] and bridge["Gateway"]
    assert info["Image"].startswith("sha256:")


def test_concurrent_api_calls_are_safe(yardd):
    errors, names = [], ["para%d" % n for n in range(6)]

    def cycle(name):
        try:
            yardd.yard_ok("run", "-d", "--name", name, "busybox", "sleep", "300")
            yardd.yard_ok("exec", name, "true")
            yardd.yard_ok("rm", "-f", name)
        except AssertionError as error:
            errors.append(str(error))
    threads = [threading.Thread(target=cycle, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert yardd.yard_ok("ps", "-a", "--format", "{{.Names}}") == ""
    assert yardd.veths() == [] and yardd.container_dirs() == []


def test_network_modes_host_none_and_container(yardd):
    host_net = os.readlink("/proc/self/ns/net")
    assert yardd.yard_ok("run", "--rm", "--network", "host", "busybox", "readlink", "/proc/self/ns/net") \
        == host_net + "\n"
    links = yardd.yard_ok("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert links.split() == ["lo"]
    yardd.yard_ok("run", "-d", "--name", "owner", "busybox", "sleep", "300")
    owner_net = os.readlink("/proc/%d/ns/net" % yardd.inspect("owner")["State"]["Pid"])
    joined = yardd.yard_ok("run", "--rm", "--network", "container:owner", "busybox", "readlink", "/proc/self/ns/net")
    assert joined == owner_net + "\n" and owner_net != host_net
    assert yardd.yard("run", "--rm", "--network", "nosuch", "busybox", "true").returncode == 125


def test_start_attach_and_ps_format_table(yardd):
    yardd.yard_ok("create", "--name", "later", "busybox", "sh", "-c", "echo attached-output; exit 2")
    result = yardd.yard("start", "-a", "later")
    assert (result.returncode, result.stdout) == (2, "attached-output\n")
    table = yardd.yard_ok("ps", "-a", "--format", "table {{.Names}}\t{{.Status}}").splitlines()
    assert table[0].split() == ["NAMES", "STATUS"]
    assert table[1].startswith("later") and "Exited (2)" in table[1]


def _cgroup_file(yardd, controller, container_id, name):
    with open("/sys/fs/cgroup/%s/%s/%s/%s" % (controller, yardd.cgroup_parent, container_id, name)) as source:
        return source.read().strip()


@pytest.mark.skipif(not os.path.isdir("/sys/fs/cgroup/memory"), reason="checks cgroup v1 files (this machine)")
def test_resource_flags_reach_the_containers_cgroup(yardd):
    container_id = yardd.yard_ok("run", "-d", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5",
                                 "--cpu-shares", "512", "--pids-limit", "40", "busybox", "sleep", "300").strip()
    assert _cgroup_file(yardd, "memory", container_id, "memory.limit_in_bytes") == str(64 * 1024 * 1024)
    assert _cgroup_file(yardd, "memory", container_id, "memory.memsw.limit_in_bytes") == str(128 * 1024 * 1024)
    assert _cgroup_file(yardd, "cpu", container_id, "cpu.cfs_quota_us") == "50000"
    assert _cgroup_file(yardd, "cpu", container_id, "cpu.cfs_period_us") == "100000"
    assert _cgroup_file(yardd, "cpu", container_id, "cpu.shares") == "512"
    assert _cgroup_file(yardd, "pids", container_id, "pids.max") == "40"


def test_a_process_past_its_memory_limit_is_oom_killed(yardd):
    hog = "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"
    result = yardd.yard("run", "--name", "hog", "--memory", "16m", "busybox", "sh", "-c", hog)
    assert result.returncode == 137 and "survived" not in result.stdout
    assert yardd.inspect("hog")["State"]["OOMKilled"] is True


def test_bind_mounts_read_write_and_read_only(yardd, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "from-host").write_text("host data\n")
    out = yardd.yard_ok("run", "--rm", "-v", "%s:/data" % shared, "busybox", "sh", "-c",
                        "cat /data/from-host; echo written > /data/from-container")
    assert out == "host data\n" and (shared / "from-container").read_text() == "written\n"
    result = yardd.yard("run", "--rm", "-v", "%s:/data:ro" % shared, "busybox", "touch", "/data/nope")
    assert result.returncode != 0 and not (shared / "nope").exists()


def test_cgroupns_host_shares_the_hosts_and_private_is_the_containers_own(yardd):
    show = "readlink /proc/self/ns/cgroup; cat /proc/self/cgroup"
    shared = yardd.yard_ok("run", "--rm", "--cgroupns", "host", "busybox", "sh", "-c", show).splitlines()
    assert shared[0] == os.readlink("/proc/self/ns/cgroup")
    assert any(":/%s/" % yardd.cgroup_parent in line for line in shared[1:])   # full paths, as on the host
    private = yardd.yard_ok("run", "--rm", "--cgroupns", "private", "busybox", "sh", "-c", show).splitlines()
    assert private[0] != os.readlink("/proc/self/ns/cgroup")
    assert all(line.endswith(":/") for line in private[1:])         # its own cgroup is its root
    refused = yardd.yard("run", "--rm", "--cgroupns", "shared", "busybox", "true")
    assert (refused.returncode, refused.stderr.splitlines()[0]) == (125, "yard run: --cgroupns: invalid CGROUP mode")
    with pytest.raises(ClientError) as refused_by_the_daemon:
        Client(yardd.host).post("/containers/create", body={"Image": "busybox", "HostConfig": {"CgroupnsMode": "x"}})
    assert (refused_by_the_daemon.value.status, refused_by_the_daemon.value.message) == (
        400, "invalid cgroup namespace mode: x")


def test_cgroupns_defaults_to_dockers_choice_for_the_host(yardd):
    """docker's: private on a cgroup v2 host, host on v1 and hybrid ones (this machine)."""
    expected = "private" if cgroup_v2() else "host"
    yardd.yard_ok("run", "-d", "--name", "plain", "busybox", "sleep", "300")
    assert yardd.inspect("plain")["HostConfig"]["CgroupnsMode"] == expected
    link = yardd.yard_ok("exec", "plain", "readlink", "/proc/self/ns/cgroup").strip()
    assert (link == os.readlink("/proc/self/ns/cgroup")) == (expected == "host")


@pytest.fixture
def remote_host():
    """Another host: a network namespace linked to this one by a veth pair on a /30."""
    tag = secrets.token_hex(2)
    namespace, link, octet = "ycr" + tag, "ycr%sh" % tag, int(tag[:2], 16)
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        subprocess.run(["ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace],
                       check=True)
        subprocess.run(["ip", "addr", "add", "10.252.%d.1/30" % octet, "dev", link], check=True)
        subprocess.run(["ip", "link", "set", link, "up"], check=True)
        for command in (["ip", "addr", "add", "10.252.%d.2/30" % octet, "dev", "eth0"],
                        ["ip", "link", "set", "eth0", "up"], ["ip", "link", "set", "lo", "up"]):
            subprocess.run(["ip", "netns", "exec", namespace] + command, check=True)
        yield {"namespace": namespace, "host_address": "10.252.%d.1" % octet}
    finally:
        subprocess.run(["ip", "link", "del", link], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", namespace])


def test_a_published_port_answers_another_host(yardd, remote_host):
    yardd.yard_ok("run", "-d", "--name", "remote-web", "-p", "80", "busybox", "sh", "-c",
                  "while true; do echo seen-from-afar | nc -l -p 80; done")
    port = yardd.yard_ok("port", "remote-web", "80").strip().rsplit(":", 1)[1]
    fetch = ["ip", "netns", "exec", remote_host["namespace"], "nc", "-w", "5", remote_host["host_address"], port]
    answer = wait_for(lambda: subprocess.run(fetch, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                             universal_newlines=True, timeout=30).stdout)
    assert answer == "seen-from-afar\n"


def test_an_image_in_use_by_a_container_cannot_be_removed(yardd):
    yardd.yard_ok("create", "--name", "user", "busybox", "true")
    refused = yardd.yard("rmi", "busybox")
    assert refused.returncode != 0 and "user" in refused.stderr
    yardd.yard_ok("rm", "user")
    yardd.yard_ok("rmi", "busybox")


def test_run_never_loses_output_between_attach_and_start(yardd):
    """docker run starts the container as soon as attach is answered: the attachment must already
    be in place then (it once was not, and short-lived output went missing now and then)."""
    client = Client(yardd.host)
    for attempt in range(30):
        body = {"Image": "busybox", "Cmd": ["echo", "run-%d" % attempt], "AttachStdout": True,
                "AttachStderr": True, "HostConfig": {"AutoRemove": True}}
        container_id = client.post("/containers/create", body=body)["Id"]
        sock = client.hijack("/containers/%s/attach" % container_id, {"stream": 1, "stdout": 1, "stderr": 1})
        waiter = client.open("POST", "/containers/%s/wait" % container_id, {"condition": "removed"})
        client.post("/containers/%s/start" % container_id)
        received = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
        sock.close()
        waiter.read()
        assert received[8:] == ("run-%d\n" % attempt).encode(), "attempt %d" % attempt
