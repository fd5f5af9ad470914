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
    # The kernel's own account of the loop over two seconds: CPU time used, and periods throttled.
    first = _cpu_account(engine_host, pid)
    time.sleep(2)
    second = _cpu_account(engine_host, pid)
    share = (second["usage_ns"] - first["usage_ns"]) / float(second["wall_ns"] - first["wall_ns"])
    assert share <= 0.2 * 1.5, "on %s, a busy loop under --cpus 0.2 used %.2f of a CPU" % (engine_host.name, share)
    # A loop that got its whole quota must have met the limit (on a busy machine it may get less).
    if share >= 0.15:
        assert second["nr_throttled"] > first["nr_throttled"], \
            "on %s, a busy loop used %.2f of a CPU and was never throttled" % (engine_host.name, share)


def _cpu_account(engine_host, pid):
    """CPU time used by a container (ns), its throttled periods, and the host's clock (ns)."""
    stat = dict(line.split() for line in engine_host.cgroup_file(pid, "cpu", "cpu.stat", "cpu.stat").splitlines())
    if "usage_usec" in stat:                               # v2 keeps usage in cpu.stat
        usage = int(stat["usage_usec"]) * 1000
    else:
        usage = int(engine_host.cgroup_file(pid, "cpuacct", "cpuacct.usage", "cpu.stat"))
    return {"usage_ns": usage, "nr_throttled": int(stat["nr_throttled"]),
            "wall_ns": int(engine_host.check("date +%s%N"))}


def test_pids_limit_stops_a_fork_bomb_and_the_host_stays_fine(engine_host, containers):
    # The bomb runs in a subshell: busybox sh gives up when a fork fails, and the container's
    # first process must outlive it (exec: it needs no fork of its own once the limit is hit).
    bomb = "(i=0; while [ $i -lt 200 ]; do sleep 300 & i=$((i+1)); done) 2>/dev/null; exec sleep 300"
    name = containers(engine_host, engine_host.start("--pids-limit", "32", command=("sh", "-c", bomb)))
    pid = engine_host.pid(name)
    assert engine_host.cgroup_file(pid, "pids", "pids.max", "pids.max") == "32"
    time.sleep(2)
    current = int(engine_host.cgroup_file(pid, "pids", "pids.current", "pids.current"))
    assert 28 <= current <= 32, "on %s, a fork bomb under --pids-limit 32 holds %d processes" % (
        engine_host.name, current)
    assert engine_host.sh("true").rc == 0 and engine_host.cli("ps").rc == 0, \
        "on %s, the host does not answer during a contained fork bomb" % engine_host.name
