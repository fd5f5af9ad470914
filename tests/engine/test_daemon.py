"""yardd as a service: flags over daemon.json, clean SIGTERM, state that survives a restart,
live-restore on and off, restart policies honoured at start."""
import os

import pytest

from yardd import Yardd, fetch_published, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def make_daemon(tmp_path, busybox_archive):
    made = []

    def make(**kwargs):
        daemon = Yardd(tmp_path / ("d%d" % len(made)), **kwargs)
        os.makedirs(daemon.directory)
        made.append(daemon)
        daemon.start()
        daemon.load(busybox_archive)
        return daemon
    yield make
    for daemon in made:
        daemon.destroy()


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_flags_override_the_file_and_info_reports_the_result(make_daemon):
    daemon = make_daemon(extra_config={"cgroup-parent": "from-the-file", "debug": True})
    info = daemon.yard_ok("info")
    assert "Cgroup Parent: %s\n" % daemon.cgroup_parent in info      # the flag won
    assert "Debug Mode: true" in info                                  # the file still counts
    assert "Live Restore Enabled: false" in info


def test_default_cgroupns_mode_is_the_default_of_containers_that_ask_for_none(make_daemon):
    daemon = make_daemon(extra_config={"default-cgroupns-mode": "private"})
    link = daemon.yard_ok("run", "--name", "plain", "busybox", "readlink", "/proc/self/ns/cgroup").strip()
    assert link != os.readlink("/proc/self/ns/cgroup")
    assert daemon.inspect("plain")["HostConfig"]["CgroupnsMode"] == "private"
    asked = daemon.yard_ok("run", "--rm", "--cgroupns", "host", "busybox", "readlink", "/proc/self/ns/cgroup")
    assert asked.strip() == os.readlink("/proc/self/ns/cgroup")


def test_sigterm_stops_containers_and_removes_rules_and_socket(make_daemon):
    daemon = make_daemon()
    daemon.yard_ok("run", "-d", "--name", "worker", "-p", "80", "busybox", "sleep", "300")
    pid = daemon.inspect("worker")["State"]["Pid"]
    assert daemon.rules() and daemon.veths()
    assert daemon.stop() == 0
    assert not alive(pid)
    assert not os.path.exists(daemon.socket)
    assert daemon.rules() == [] and daemon.veths() == [] and daemon.cgroups() == []
    assert daemon.engine_processes() == []


def test_state_survives_a_restart_and_without_live_restore_running_containers_show_exited(make_daemon):
    daemon = make_daemon()
    daemon.yard_ok("create", "--name", "waiting", "-e", "KEPT=1", "busybox", "true")
    assert daemon.yard("run", "--name", "finished", "busybox", "sh", "-c", "echo said-before; exit 4").returncode == 4
    daemon.yard_ok("run", "-d", "--name", "running", "busybox", "sleep", "300")
    before = {name: daemon.inspect(name) for name in ("waiting", "finished", "running")}
    daemon.stop()
    daemon.start()
    after = {name: daemon.inspect(name) for name in ("waiting", "finished", "running")}
    for name in before:
        assert after[name]["Id"] == before[name]["Id"] and after[name]["Config"] == before[name]["Config"]
    assert after["waiting"]["State"]["Status"] == "created"
    assert after["finished"]["State"]["ExitCode"] == 4
    assert daemon.yard_ok("logs", "finished") == "said-before\n"
    assert after["running"]["State"]["Status"] == "exited"
    assert not alive(before["running"]["State"]["Pid"])
    daemon.yard_ok("start", "waiting")                                   # and they still work
    assert daemon.yard_ok("wait", "waiting") == "0\n"


def test_a_rm_container_not_running_is_removed_when_the_daemon_starts_as_dockerd_does(make_daemon):
    daemon = make_daemon()
    daemon.yard_ok("create", "--rm", "--name", "never-started", "busybox", "true")
    daemon.yard_ok("create", "--name", "kept", "busybox", "true")
    daemon.stop()
    daemon.start()
    assert daemon.yard_ok("ps", "-a", "--format", "{{.Names}}") == "kept\n"
    assert len(daemon.container_dirs()) == 1


def test_live_restore_keeps_containers_and_their_ports_across_a_restart(make_daemon):
    daemon = make_daemon(live_restore=True)
    daemon.yard_ok("run", "-d", "--name", "kept", "-p", "80", "busybox", "sh", "-c",
                   "while true; do echo still-here | nc -l -p 80; done")
    state = daemon.inspect("kept")["State"]
    port = int(daemon.yard_ok("port", "kept", "80").strip().rsplit(":", 1)[1])
    daemon.stop()
    assert alive(state["Pid"])
    assert fetch_published(port) == b"still-here\n"                               # the daemon is down
    daemon.start()
    assert daemon.inspect("kept")["State"]["Pid"] == state["Pid"]
    assert daemon.inspect("kept")["State"]["Running"]
    assert daemon.yard_ok("exec", "kept", "echo", "reattached") == "reattached\n"
    assert fetch_published(port) == b"still-here\n"
    daemon.yard_ok("kill", "kept")                                      # the monitor is back too
    assert daemon.yard_ok("wait", "kept") == "137\n"
    assert daemon.veths() == []


def test_restart_always_is_honoured_when_the_daemon_starts(make_daemon):
    daemon = make_daemon()
    daemon.yard_ok("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "300")
    daemon.yard_ok("run", "-d", "--name", "never", "busybox", "sleep", "300")
    first = daemon.inspect("always")["State"]["Pid"]
    daemon.stop()
    daemon.start()
    assert wait_for(lambda: daemon.inspect("always")["State"]["Running"])
    assert daemon.inspect("always")["State"]["Pid"] != first
    assert daemon.inspect("never")["State"]["Status"] == "exited"


def test_after_a_daemon_crash_without_live_restore_its_containers_are_stopped_at_start(make_daemon):
    daemon = make_daemon()
    daemon.yard_ok("run", "-d", "--name", "orphan", "-p", "80", "busybox", "sleep", "300")
    pid = daemon.inspect("orphan")["State"]["Pid"]
    daemon.process.kill()                                          # no clean shutdown at all
    daemon.process.wait()
    assert alive(pid)                                              # the shim kept it
    daemon.start()
    state = daemon.inspect("orphan")["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 137
    assert not alive(pid)
    assert daemon.veths() == [] and not any("DNAT" in rule for rule in daemon.rules())


def test_restart_policies_are_honoured_after_a_host_restart(make_daemon):
    daemon = make_daemon(live_restore=True)
    daemon.yard_ok("run", "-d", "--name", "service", "--restart", "always", "busybox", "sleep", "300")
    daemon.yard_ok("run", "-d", "--name", "oneshot", "busybox", "sleep", "300")
    pids = [daemon.inspect(name)["State"]["Pid"] for name in ("service", "oneshot")]
    daemon.stop()
    # A reboot: every shim and container process is gone, their records stay.
    for pid in daemon.engine_processes() + pids:
        os.kill(pid, 9)
    assert wait_for(lambda: not any(alive(pid) for pid in pids))
    daemon.start()
    assert wait_for(lambda: daemon.inspect("service")["State"]["Running"])
    assert daemon.inspect("service")["State"]["Pid"] not in pids
    oneshot = daemon.inspect("oneshot")["State"]
    # 255: the shim vanished without a word (137 if it saw its child die before it went).
    assert oneshot["Status"] == "exited" and oneshot["ExitCode"] in (255, 137)


def test_with_live_restore_an_exit_while_the_daemon_is_down_is_recorded_at_start(make_daemon, tmp_path):
    daemon = make_daemon(live_restore=True)
    signal_dir = tmp_path / "signal"
    signal_dir.mkdir()
    daemon.yard_ok("run", "-d", "--name", "quitter", "-v", "%s:/signal" % signal_dir, "busybox", "sh", "-c",
                   "while [ ! -e /signal/go ]; do sleep 0.1; done; echo leaving; exit 7")
    pid = daemon.inspect("quitter")["State"]["Pid"]
    daemon.stop()
    (signal_dir / "go").write_text("")
    assert wait_for(lambda: not alive(pid))
    daemon.start()
    state = daemon.inspect("quitter")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 7)
    assert daemon.yard_ok("logs", "quitter") == "leaving\n"
    assert daemon.veths() == [] and daemon.cgroups() == []
