"""Limits: memory (and its OOM kill), CPU quota and throttling, and the pids limit, read from
the host's own cgroup files for the container's process."""
import time

from engines import TEST_IMAGE

MiB = 1024 * 1024


def test_memory_limit_is_in_the_cgroup(engine_host, containers):
    name = containers(engine_host, engine_host.start("--memory", "64m"))
    pid = engine_host.pid(name)
    limit = engine_host.cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max")
    assert int(limit) == 64 * MiB, "on %s, container %s has memory limit %s, expected %d" % (
        engine_host.name, name, limit, 64 * MiB)


def test_a_process_past_its_memory_limit_is_oom_killed(engine_host, containers):
    name = containers(engine_host, "dyk-oom-" + engine_host.name)
    engine_host.remove(name)
    result = engine_host.cli("run", "--name", name, "--memory", "32m", "--memory-swap", "32m",
                             TEST_IMAGE, "sh", "-c", "tail /dev/zero")
    assert result.rc == 137, "on %s, the OOM container exited %d, expected 137" % (engine_host.name, result.rc)
    state = engine_host.inspect(name)["State"]
    assert state["OOMKilled"] is True, "on %s, inspect says OOMKilled=%r" % (engine_host.name, state["OOMKilled"])


def test_cpus_become_quota_over_period_and_a_busy_loop_is_throttled(engine_host, containers):
    name = containers(engine_host, engine_host.start("--cpus", "0.2", command=("sh", "-c", "while :; do :; done")))
    pid = engine_host.pid(name)
    quota = engine_host.cgroup_file(pid, "cpu", "cpu.cfs_quota_us", "cpu.max").split()
    if len(quota) == 2:                                   # v2: "20000 100000"
        quota, period = quota
    else:
        period = engine_host.cgroup_file(pid, "cpu", "cpu.cfs_period_us", "cpu.max").split()[-1]
        quota = quota[0]
    assert (int(quota), int(period)) == (20000, 100000), \
        "on %s, --cpus 0.2 gave quota/period %s/%s" % (engine_host.name, quota, period)
    # Let the loop run against its quota for a while, then ask the kernel whether it was held back.
    time.sleep(2)
    stat = dict(line.split() for line in
                engine_host.cgroup_file(pid, "cpu", "cpu.stat", "cpu.stat").splitlines())
    assert int(stat["nr_throttled"]) > 0, "on %s, a busy loop under --cpus 0.2 was never throttled: %s" % (
        engine_host.name, stat)
    assert int(stat["nr_throttled"]) * 2 >= int(stat["nr_periods"]), \
        "on %s, the busy loop ran unthrottled in most periods: %s" % (engine_host.name, stat)


def test_pids_limit_stops_a_fork_bomb_and_the_host_stays_fine(engine_host, containers):
    bomb = "i=0; while [ $i -lt 200 ]; do sleep 120 & i=$((i+1)); done; sleep 120"
    name = containers(engine_host, engine_host.start("--pids-limit", "32", command=("sh", "-c", bomb)))
    pid = engine_host.pid(name)
    assert engine_host.cgroup_file(pid, "pids", "pids.max", "pids.max") == "32"
    time.sleep(2)
    current = int(engine_host.cgroup_file(pid, "pids", "pids.current", "pids.current"))
    assert current <= 32, "on %s, the fork bomb reached %d processes past --pids-limit 32" % (
        engine_host.name, current)
    assert engine_host.sh("true").rc == 0 and engine_host.cli("ps").rc == 0, \
        "on %s, the host does not answer during a contained fork bomb" % engine_host.name
