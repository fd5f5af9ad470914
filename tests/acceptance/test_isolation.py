"""Isolation: a container sees its own processes, network, mounts, hostname, IPC and cgroups,
holds Docker's default capabilities and nothing more, and masked /proc paths say nothing."""
import secrets

from engines import TEST_IMAGE

# Docker's default capability set, by number (linux/capability.h).
DEFAULT_CAPS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6, "SETUID": 7,
                "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_RAW": 13, "SYS_CHROOT": 18, "MKNOD": 27,
                "AUDIT_WRITE": 29, "SETFCAP": 31}
CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21


def test_pid_namespace_shows_only_the_containers_processes(engine_host):
    # ps as the container's only process: it must see itself as pid 1 and nothing else.
    result = engine_host.run(TEST_IMAGE, "ps", "-o", "pid,comm")
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert result.rc == 0 and rows == [["1", "ps"]], \
        "on %s, the container sees processes %s, expected only its own ps as pid 1" % (engine_host.name, rows)
    cmdline = engine_host.run(TEST_IMAGE, "cat", "/proc/1/cmdline").stdout
    assert cmdline.split("\0")[:2] == ["cat", "/proc/1/cmdline"], \
        "on %s, /proc/1 in the container is %r, not the container's command" % (engine_host.name, cmdline)


def test_namespace_links_differ_from_the_hosts(engine_host, containers):
    name = containers(engine_host, engine_host.start("--cgroupns", "private"))
    pid = engine_host.pid(name)
    for kind in ("pid", "mnt", "uts", "ipc", "net", "cgroup"):
        host_link = engine_host.check("readlink /proc/1/ns/%s" % kind).strip()
        container_link = engine_host.check("readlink /proc/%d/ns/%s" % (pid, kind)).strip()
        assert host_link != container_link, "on %s, container %s shares the host's %s namespace (%s)" % (
            engine_host.name, name, kind, host_link)


def test_network_namespace_has_its_own_interfaces(engine_host):
    links = engine_host.run(TEST_IMAGE, "ip", "-o", "link").stdout
    names = sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines())
    assert names == ["eth0", "lo"], "on %s, a bridge container has links %s" % (engine_host.name, names)
    links = engine_host.run("--network", "none", TEST_IMAGE, "ip", "-o", "link").stdout
    names = [line.split(":")[1].strip() for line in links.splitlines()]
    assert names == ["lo"], "on %s, --network none gives links %s, expected only lo" % (engine_host.name, names)


def test_mount_namespace_hides_host_files_and_keeps_writes_inside(engine_host):
    marker = "/root/dockyard-marker-%s" % secrets.token_hex(4)
    engine_host.check("touch %s" % marker)
    try:
        result = engine_host.run(TEST_IMAGE, "sh", "-c", "test -e %s && echo visible; touch /root/inside-%s; echo done"
                                 % (marker, marker[-8:]))
        assert result.stdout.split() == ["done"], "on %s, the container sees the host's %s" % (engine_host.name, marker)
        assert not engine_host.host.file("/root/inside-%s" % marker[-8:]).exists, \
            "on %s, a write inside the container reached the host" % engine_host.name
    finally:
        engine_host.sh("rm -f %s" % marker)


def test_uts_namespace_has_its_own_hostname(engine_host):
    host_name = engine_host.check("hostname").strip()
    seen = engine_host.run("--hostname", "inside-box", TEST_IMAGE, "hostname").stdout.strip()
    assert seen == "inside-box", "on %s, the container's hostname is %r" % (engine_host.name, seen)
    assert engine_host.check("hostname").strip() == host_name


def test_capabilities_are_dockers_default_set(engine_host):
    status = engine_host.run(TEST_IMAGE, "grep", "CapEff", "/proc/self/status").stdout
    effective = int(status.split()[1], 16)
    expected = sum(1 << bit for bit in DEFAULT_CAPS.values())
    assert not effective & (1 << CAP_SYS_ADMIN), "on %s, a container holds CAP_SYS_ADMIN" % engine_host.name
    assert not effective & (1 << CAP_NET_ADMIN), "on %s, a container holds CAP_NET_ADMIN" % engine_host.name
    assert effective == expected, "on %s, CapEff is %016x, Docker's default is %016x" % (
        engine_host.name, effective, expected)


def test_masked_proc_paths_give_nothing_away(engine_host):
    result = engine_host.run(TEST_IMAGE, "sh", "-c",
                             "for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do "
                             "[ -e $f ] && wc -c < $f; done; ls /sys/firmware | wc -l")
    sizes = [int(word) for word in result.stdout.split()]
    assert result.rc == 0 and sizes and not any(sizes), \
        "on %s, masked paths show bytes or entries: %s" % (engine_host.name, result.stdout.split())
    write = engine_host.run(TEST_IMAGE, "sh", "-c", "echo 1 > /proc/sys/kernel/domainname")
    assert write.rc != 0, "on %s, /proc/sys is writable inside a container" % engine_host.name
