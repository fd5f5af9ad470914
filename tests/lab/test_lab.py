"""`provision lab up|down|status` on this machine: real nspawn hosts, bridge, mirror and rules."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from provision.lab import cgroups, machine, mirror
from provision.lab.settings import MIRROR_PORT

pytestmark = [pytest.mark.root, pytest.mark.lab]


def test_every_host_takes_the_lab_key_and_matches_known_hosts(lab):
    for index, name in enumerate(lab.names, 1):
        assert lab.sh(index, "hostname") == (0, name + "\n")
    assert oct(lab.key_file.stat().st_mode & 0o777) == "0o600"


def test_every_host_has_its_own_network_namespace(lab):
    namespaces = [lab.sh(index, "readlink /proc/1/ns/net")[1]
                  for index in range(1, lab.count + 1)]
    namespaces.append(os.readlink("/proc/self/ns/net") + "\n")
    assert len(set(namespaces)) == lab.count + 1


def test_inotify_instances_are_raised_for_many_hosts(lab):
    # Past about 16 hosts, each with its own systemd, the kernel's default of 128 runs out.
    assert int(open("/proc/sys/fs/inotify/max_user_instances").read()) >= 8192


def test_hosts_reach_each_other_over_the_lab_network(lab):
    for index in range(1, lab.count + 1):
        for address in lab.addresses:
            probe = ("python3 -c 'import socket; s = socket.create_connection((\"%s\", 22), 5); "
                     "print(s.recv(4).decode())'" % address)
            assert lab.sh(index, probe) == (0, "SSH-\n"), (index, address)


def test_no_host_has_a_route_out_of_the_lab(lab):
    # `ip route get` asks the host's routing table and sends no packet.
    for index in range(1, lab.count + 1):
        status, output = lab.sh(index, "ip route get 1.1.1.1")
        assert status != 0 and "unreachable" in output, output
        assert lab.sh(index, "ip route get %s" % lab.addresses[0])[0] == 0


def test_packages_install_through_the_lab_mirror(lab):
    status, output = lab.sh(1, "export DEBIAN_FRONTEND=noninteractive; "
                               "apt-get update -q && apt-get install -y -q hello && hello")
    assert status == 0 and "Hello, world!" in output, output
    assert "%s/debian bookworm" % lab.settings.mirror_url in output


def test_the_mirror_forwards_to_nowhere_but_the_machines_archives(lab):
    # A path naming another host is refused (this one, 127.0.0.1, would stay on this machine).
    fetch = ("python3 -c 'import http.client; c = http.client.HTTPConnection(\"%s\", %d, timeout=20); "
             "c.request(\"GET\", \"%s\"); print(c.getresponse().status)'")
    address, port = lab.settings.gateway, MIRROR_PORT
    assert lab.sh(1, fetch % (address, port, "/127.0.0.1/debian/dists/bookworm/Release")) == (0, "403\n")
    assert lab.sh(1, fetch % (address, port, "/debian/dists/bookworm/Release")) == (0, "200\n")


def test_the_mirror_serves_one_index_to_many_hosts_at_once(lab):
    # A lab's hosts all run `apt-get update` together. apt-cacher-ng 3.7, refreshing one cached
    # index for several of them at once, failed all but one (and left their apt-get hanging):
    # see templates/lab/acng.conf. Twenty at once, twice (the second round finds it cached).
    address = "%s/debian/dists/bookworm/InRelease" % lab.settings.mirror_url
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def fetch(_):
        with direct.open(address, timeout=60) as answer:
            return answer.status, answer.read(34)

    for _ in range(2):
        with ThreadPoolExecutor(20) as pool:
            answers = set(pool.map(fetch, range(20)))
        assert answers == {(200, b"-----BEGIN PGP SIGNED MESSAGE-----")}
    errors = mirror.directory(lab.settings) / "apt-cacher.err"
    assert "out of the way" not in (errors.read_text() if errors.exists() else "")


def test_cgroup_v1_memory_hierarchy_is_writable(lab):
    group = "/sys/fs/cgroup/memory/labtest-%d" % os.getpid()
    status, output = lab.sh(2, "mkdir %s && echo 33554432 > %s/memory.limit_in_bytes && "
                               "cat %s/memory.limit_in_bytes; rmdir %s" % ((group,) * 4))
    assert (status, output) == (0, "33554432\n")


def test_engine_state_directories_are_not_overlay(lab):
    for path in machine.ENGINE_DIRS:
        assert lab.sh(3, "stat -f -c %T " + path)[1].strip() != "overlayfs", path


def test_inventory_reads_as_ansible_reads_it(lab):
    ansible_inventory = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    listed = subprocess.run([ansible_inventory, "-i", str(lab.hosts_file), "--list"],
                            capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    inventory = json.loads(listed.stdout)
    assert inventory["engines"]["hosts"] == lab.names
    assert inventory["registry"]["hosts"] == lab.names[-1:]
    for name, address in zip(lab.names, lab.addresses):
        variables = inventory["_meta"]["hostvars"][name]
        assert variables["ansible_host"] == address
        assert variables["cgroup_parent"] == name
        assert variables["ansible_user"] == "root"
        assert variables["ansible_ssh_private_key_file"] == str(lab.key_file)
        assert variables["ansible_ssh_common_args"] == "-o UserKnownHostsFile=%s" % lab.known_hosts
        assert variables["debian_mirror"] == lab.settings.mirror_url + "/debian"


def test_status_lists_hosts_bridge_and_mirror(lab):
    status = lab.run("status")
    assert status.returncode == 0, status.stderr
    for name, address in zip(lab.names, lab.addresses):
        assert any(line.split() == [name, address, "running"] for line in status.stdout.splitlines())
    assert "bridge %s: %s/24, 3 of 3 FORWARD rules" % (lab.settings.bridge, lab.settings.gateway) \
        in status.stdout
    assert "mirror %s: running" % lab.settings.mirror_url in status.stdout


def test_up_twice_keeps_running_hosts_and_boots_a_stopped_one(lab):
    known_hosts = lab.known_hosts.read_text()
    pids = [machine.pid(lab.settings, index) for index in range(1, lab.count + 1)]
    again = lab.run("up", "--hosts", str(lab.count))
    assert again.returncode == 0, again.stderr
    assert [machine.pid(lab.settings, index) for index in range(1, lab.count + 1)] == pids

    sshd_pids = [lab.sh(index, "systemctl show -p MainPID ssh")[1] for index in (1, 3)]
    os.kill(pids[1], signal.SIGTERM)   # nspawn powers the host off
    while machine.pid(lab.settings, 2) is not None:
        time.sleep(0.2)
    # Its shutdown took nothing of the other hosts with it (each has cgroups of its own).
    assert [lab.sh(index, "systemctl show -p MainPID ssh")[1] for index in (1, 3)] == sshd_pids
    assert lab.run("up", "--hosts", str(lab.count)).returncode == 0
    assert machine.pid(lab.settings, 2) not in (None, pids[1])
    assert lab.known_hosts.read_text() == known_hosts   # same host keys after a reboot
    assert lab.sh(2, "hostname") == (0, lab.names[1] + "\n")


def test_down_removes_every_process_mount_link_rule_and_file(spare_lab):
    # A lab of its own, so the session's lab stays up for the other tests.
    up = spare_lab.run("up", "--hosts", "1")
    assert up.returncode == 0, up.stderr
    made = leftovers(spare_lab.settings)
    assert all(made.values()), made    # each check below can see what a lab makes
    down = spare_lab.run("down")
    assert down.returncode == 0, down.stderr
    assert leftovers(spare_lab.settings) == {key: [] for key in made}


def test_two_ups_at_once_make_one_lab(spare_lab):
    ups = [subprocess.Popen([sys.executable, "-m", "provision.cli", "lab", "up", "--hosts", "1"],
                            env=spare_lab.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for up in ups:
        _, stderr = up.communicate(timeout=600)
        assert up.returncode == 0, stderr
    root = machine.directory(spare_lab.settings, 1) / "root"
    mounts = [line for line in open("/proc/self/mountinfo") if " %s " % root in line]
    assert len(mounts) == 1, mounts
    assert [m for m, _ in machine.nspawn_processes() if m == "labd-1"] == ["labd-1"]
    assert spare_lab.sh(1, "hostname") == (0, "labd-1\n")


def leftovers(settings):
    """What a lab leaves on this machine: processes, mounts, links, rules, files."""
    mounts = open("/proc/self/mountinfo").read()
    links = os.listdir("/sys/class/net")
    rules = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True,
                           check=True).stdout
    return {
        "nspawn": [m for m, _ in machine.nspawn_processes() if m.startswith(settings.name + "-")],
        "mirror": [pid for pid in os.listdir("/proc") if pid.isdigit() and
                   str(settings.state_dir).encode() in read_cmdline(pid)],
        "mounts": [line for line in mounts.splitlines() if str(settings.state_dir) in line],
        "links": [link for link in links if link in (settings.bridge, "vb-%s-1" % settings.name)],
        "rules": [rule for rule in rules.splitlines() if "dockyard lab %s" % settings.name in rule],
        "cgroups": [str(path) for path in cgroups.hierarchies()
                    if (path / ("dockyard-%s-1" % settings.name)).exists()],
        "files": [str(p) for p in (settings.state_dir, settings.hosts_file, settings.key_file)
                  if p.exists()],
    }


def read_cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as cmdline:
            return cmdline.read()
    except OSError:
        return b""


def test_a_failed_up_leaves_nothing_the_next_up_trips_over(spare_lab):
    # A host whose state is broken (its overlay's upper layer is a file) cannot be prepared.
    host = machine.directory(spare_lab.settings, 1)
    host.mkdir(parents=True)
    (host / "upper").write_text("not a directory")
    failed = spare_lab.run("up", "--hosts", "1")
    assert failed.returncode == 1
    assert failed.stderr.startswith("provision lab up: labd-1: "), failed.stderr
    assert "upper" in failed.stderr and "Traceback" not in failed.stderr
    assert not host.exists()

    again = spare_lab.run("up", "--hosts", "1")
    assert again.returncode == 0, again.stderr
    assert spare_lab.sh(1, "hostname") == (0, "labd-1\n")
