"""What yard writes in, and reads from, a cgroup v2 container cgroup for docker's limits.

The real v2 kernel path (limits in memory, cpu and pids files that the kernel enforces) runs
only where the cgroup2 tree offers those controllers, a pure v2 host (EL9): there
tests/engine/test_runtime.py checks the files of a running container. This machine's cgroup2
tree offers none of them (tests/engine/test_cgroup_v2.py runs the rest of the v2 path on it).
Here a temporary directory stands in for the tree, and every expected value is one that the
kernel's Documentation/admin-guide/cgroup-v2.rst or runc defines, cited at each test.
"""
import pytest

from engine.runtime import cgroups

MiB = 1024 * 1024


@pytest.mark.parametrize("shares, weight", [
    (2, 1), (1024, 39), (262144, 10000),      # runc: y = 1 + ((x - 2) * 9999) / 262142
    (512, 20), (4096, 157),
    (1, 1), (1000000, 10000),                 # clamped first to v1's [2, 262144], as dockerd does
])
def test_cpu_shares_become_runcs_cpu_weight(shares, weight):
    # runc libcontainer/cgroups/utils.go ConvertCPUSharesToCgroupV2Value; cgroup-v2.rst:
    # cpu.weight is "in the range [1, 10000]".
    assert cgroups.cpu_weight(shares) == weight


@pytest.mark.parametrize("memory, memory_swap, swap_max", [
    (64 * MiB, 0, 64 * MiB),                  # docker's default: memory + swap = 2 x memory
    (64 * MiB, 64 * MiB, 0),                  # memory + swap = memory: no swap at all
    (64 * MiB, 100 * MiB, 36 * MiB),
    (64 * MiB, -1, "max"),                    # unlimited swap
])
def test_docker_memory_swap_becomes_v2_swap_alone(memory, memory_swap, swap_max):
    # runc ConvertMemorySwapToCgroupV2Value: memory.swap.max = memorySwap - memory, -1 is
    # "max"; cgroup-v2.rst memory.swap.max: "Physical swap usage hard limit", default "max".
    assert cgroups.swap_max(memory, memory_swap) == swap_max


def test_memory_swap_below_memory_is_refused_with_both_values():
    # runc: "memory+swap limit should be >= memory limit".
    with pytest.raises(RuntimeError, match="memory_swap 1024 is below memory 67108864"):
        cgroups.swap_max(64 * MiB, 1024)


@pytest.mark.parametrize("quota, period, cpu_max", [
    (50000, 100000, "50000 100000"),          # docker --cpus 0.5
    (150000, 0, "150000 100000"),             # no period: the kernel's default
    (0, 200000, "max 200000"),                # a period alone
    (-1, 100000, "max 100000"),               # v1's -1 is "no quota"
])
def test_cpu_quota_and_period_become_cpu_max(quota, period, cpu_max):
    # cgroup-v2.rst cpu.max: "$MAX $PERIOD", "max" for no limit, default "max 100000";
    # runc libcontainer/cgroups/fs2/cpu.go writes the same.
    assert cgroups.cpu_max(quota, period) == cpu_max


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A directory that stands in for a pure v2 host's cgroup2 root, with the files the
    kernel would show: every controller offered at the root and to the parent `yard`."""
    monkeypatch.setattr(cgroups, "_hierarchies", {"unified": str(tmp_path)})
    for directory in (tmp_path, tmp_path / "yard", tmp_path / "yard" / "c1"):
        directory.mkdir(exist_ok=True)
        (directory / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma\n")
    (tmp_path / "yard" / "c1" / "memory.swap.max").write_text("max\n")
    return tmp_path


def read(path):
    return path.read_text().strip()


def test_limits_land_in_the_v2_files(tree):
    cgroups.Cgroup("yard", "c1").create(
        {"memory": 64 * MiB, "memory_swap": 0, "cpu_quota": 50000, "cpu_period": 100000,
         "cpu_shares": 512, "pids_limit": 40},
        privileged=True)                      # the device filter needs a real cgroup2 directory
    # Each ancestor delegates the controllers the limits need (cgroup-v2.rst, "Enabling and
    # Disabling": "+memory" in the parent's cgroup.subtree_control).
    assert read(tree / "cgroup.subtree_control") == "+memory +cpu +pids"
    assert read(tree / "yard" / "cgroup.subtree_control") == "+memory +cpu +pids"
    container = tree / "yard" / "c1"
    assert [read(container / name) for name in
            ("memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max")] == \
        [str(64 * MiB), str(64 * MiB), "50000 100000", "20", "40"]


def test_no_limit_writes_no_limit_file(tree):
    cgroups.Cgroup("yard", "c1").create({"memory": 0, "memory_swap": 0, "cpu_quota": 0,
                                         "cpu_period": 0, "cpu_shares": 0, "pids_limit": -1},
                                        privileged=True)
    assert sorted(path.name for path in (tree / "yard" / "c1").iterdir()) == \
        ["cgroup.controllers", "memory.swap.max"]


def test_stats_and_oom_kills_read_the_v2_files(tree):
    container = tree / "yard" / "c1"
    # cgroup-v2.rst: memory.current and pids.current are single values, memory.max "max"
    # when unlimited, cpu.stat and memory.events flat-keyed ("usage_usec", "oom_kill").
    (container / "memory.current").write_text("1048576\n")
    (container / "memory.max").write_text("max\n")
    (container / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
    (container / "pids.current").write_text("3\n")
    (container / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n")
    cgroup = cgroups.Cgroup("yard", "c1")
    stats = cgroup.stats()
    with open("/proc/meminfo") as handle:
        host_memory = int(handle.readline().split()[1]) * 1024       # MemTotal, docker's "no limit"
    assert stats == {"memory_usage": 1048576, "memory_limit": host_memory,
                     "cpu_usage_ns": 2500000, "pids": 3}
    assert cgroup.oom_kills() == 2 and cgroup.oom_killed()
