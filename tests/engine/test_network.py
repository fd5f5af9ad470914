"""The bridge driver with real traffic: network namespaces play the containers and a
remote host; the kernel's answers decide (DNAT, MASQUERADE, bridge traffic, cleanup).
"""
import os
import secrets
import subprocess
import sys
import textwrap

import pytest

from engine.network import Bridge, PortAllocated

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

SERVE_ONCE = textwrap.dedent("""
    import socket, sys
    server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", int(sys.argv[1]))); server.listen(1)
    print("listening", flush=True)
    conn, peer = server.accept()
    conn.sendall(("%s from %s" % (sys.argv[2], peer[0])).encode()); conn.close()
""")
CONNECT = textwrap.dedent("""
    import socket, sys
    conn = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    print(conn.recv(200).decode())
""")


def in_netns(netns_path, argv, **kwargs):
    return ["nsenter", "--net=" + netns_path] + argv if netns_path else argv


def serve_once(netns_path, port, reply):
    server = subprocess.Popen(in_netns(netns_path, [sys.executable, "-c", SERVE_ONCE, str(port), reply]),
                              stdout=subprocess.PIPE, universal_newlines=True)
    assert server.stdout.readline().strip() == "listening"
    return server


def fetch(netns_path, address, port):
    result = subprocess.run(in_netns(netns_path, [sys.executable, "-c", CONNECT, address, str(port)]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=20)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


class FakeContainer:
    """A process in a new network namespace, as a container's init would be."""

    def __init__(self):
        self.process = subprocess.Popen(["unshare", "--net", "sleep", "600"])
        # Wait until unshare has switched namespaces.
        for _ in range(200):
            if os.readlink("/proc/%d/ns/net" % self.process.pid) != os.readlink("/proc/self/ns/net"):
                break
            subprocess.run(["sleep", "0.01"])
        self.netns = "/proc/%d/ns/net" % self.process.pid
        self.id = secrets.token_hex(32)

    def stop(self):
        self.process.kill()
        self.process.wait()


@pytest.fixture
def names():
    tag = secrets.token_hex(2)
    third = int(tag, 16) % 200 + 20
    return {"bridge": "ytb" + tag, "chain": "YT" + tag.upper(),
            "bip": "10.%d.%d.1/24" % (third, int(tag[:2], 16)), "remote": "ytr" + tag}


@pytest.fixture
def bridge(tmp_path, names):
    network = Bridge(str(tmp_path), name=names["bridge"], bip=names["bip"], chain=names["chain"])
    network.setup()
    yield network
    network.teardown()
    subprocess.run(["ip", "link", "del", names["bridge"]], stderr=subprocess.DEVNULL)


@pytest.fixture
def containers():
    made = []

    def make():
        container = FakeContainer()
        made.append(container)
        return container
    yield make
    for container in made:
        container.stop()


@pytest.fixture
def remote_host(names):
    """Another host: a named netns linked to this one by a veth pair on 10.251.x.0/30."""
    ns, link = names["remote"], names["remote"] + "h"
    octet = int(names["bridge"][3:5], 16)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(["ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns], check=True)
    subprocess.run(["ip", "addr", "add", "10.251.%d.1/30" % octet, "dev", link], check=True)
    subprocess.run(["ip", "link", "set", link, "up"], check=True)
    for command in (["ip", "addr", "add", "10.251.%d.2/30" % octet, "dev", "eth0"],
                    ["ip", "link", "set", "eth0", "up"], ["ip", "link", "set", "lo", "up"]):
        subprocess.run(["ip", "netns", "exec", ns] + command, check=True)
    yield {"netns": "/run/netns/" + ns, "address": "10.251.%d.2" % octet, "host_address": "10.251.%d.1" % octet}
    subprocess.run(["ip", "link", "del", link], stderr=subprocess.DEVNULL)
    subprocess.run(["ip", "netns", "del", ns])


def nat_rules():
    return subprocess.run(["iptables-save", "-t", "nat"], stdout=subprocess.PIPE, universal_newlines=True).stdout


def test_container_gets_an_address_and_a_default_route(bridge, containers):
    container = containers()
    endpoint = bridge.connect(container.id, container.netns)
    addresses = subprocess.run(in_netns(container.netns, ["ip", "-o", "-4", "addr", "show", "eth0"]),
                               stdout=subprocess.PIPE, universal_newlines=True).stdout
    assert "%s/24" % endpoint["IPAddress"] in addresses
    routes = subprocess.run(in_netns(container.netns, ["ip", "route"]), stdout=subprocess.PIPE,
                            universal_newlines=True).stdout
    assert "default via %s dev eth0" % bridge.gateway in routes
    assert endpoint["MacAddress"].startswith("02:42:")


def test_the_veth_is_a_hairpin_port_of_the_bridge_with_the_endpoints_mac_and_goes_on_disconnect(
        bridge, containers):
    container = containers()
    endpoint = bridge.connect(container.id, container.netns)
    host_end = "veth" + container.id[:8]
    port = subprocess.run(["ip", "-d", "link", "show", host_end], stdout=subprocess.PIPE,
                          universal_newlines=True).stdout
    assert "master %s" % bridge.name in port and "hairpin on" in port and ",UP" in port
    eth0 = subprocess.run(in_netns(container.netns, ["ip", "link", "show", "eth0"]), stdout=subprocess.PIPE,
                          universal_newlines=True).stdout
    assert "link/ether %s " % endpoint["MacAddress"] in eth0 and ",UP" in eth0
    bridge.disconnect(container.id)
    assert not os.path.exists("/sys/class/net/%s" % host_end)


def test_a_veth_that_cannot_be_made_is_an_error_that_says_why(bridge, containers):
    container = containers()
    with pytest.raises(RuntimeError, match="No such file or directory: '/proc/4194305/ns/net'"):
        bridge.connect(container.id, "/proc/4194305/ns/net")      # above pid_max: no such process
    assert bridge.endpoints() == {}


def test_two_containers_on_the_bridge_reach_each_other(bridge, containers):
    first, second = containers(), containers()
    first_address = bridge.connect(first.id, first.netns)["IPAddress"]
    second_address = bridge.connect(second.id, second.netns)["IPAddress"]
    assert first_address != second_address
    server = serve_once(first.netns, 7000, "hi")
    assert fetch(second.netns, first_address, 7000) == "hi from %s" % second_address
    server.wait(timeout=10)


def test_published_port_answers_from_another_host_and_from_this_one(bridge, containers, remote_host):
    container = containers()
    endpoint = bridge.connect(container.id, container.netns,
                              ports=[{"proto": "tcp", "host_port": 0, "container_port": 80}])
    host_port = endpoint["Ports"][0]["host_port"]
    assert host_port >= 32768
    server = serve_once(container.netns, 80, "web")
    # DNAT: the remote host dials this host's address, the container answers.
    assert fetch(remote_host["netns"], remote_host["host_address"], host_port).startswith("web from ")
    server.wait(timeout=10)
    server = serve_once(container.netns, 80, "web")
    assert fetch(None, "127.0.0.1", host_port).startswith("web from ")
    server.wait(timeout=10)


def test_outbound_connection_is_masqueraded(bridge, containers, remote_host):
    container = containers()
    bridge.connect(container.id, container.netns)
    server = serve_once(remote_host["netns"], 9000, "remote")
    # The remote host sees this host's address, not the container's.
    assert fetch(container.netns, remote_host["address"], 9000) == "remote from %s" % remote_host["host_address"]
    server.wait(timeout=10)


def test_rules_exist_while_connected_and_go_with_the_container(bridge, containers, names):
    container = containers()
    endpoint = bridge.connect(container.id, container.netns,
                              ports=[{"proto": "tcp", "host_port": 0, "container_port": 80}])
    rule = "--to-destination %s:80" % endpoint["IPAddress"]
    assert rule in nat_rules()
    bridge.disconnect(container.id)
    assert rule not in nat_rules()
    assert not os.path.exists("/sys/class/net/veth" + container.id[:8])


def test_a_host_port_is_published_once(bridge, containers):
    first, second = containers(), containers()
    bridge.connect(first.id, first.netns, ports=[{"proto": "tcp", "host_port": 38123, "container_port": 80}])
    with pytest.raises(PortAllocated, match="port is already allocated"):
        bridge.connect(second.id, second.netns, ports=[{"proto": "tcp", "host_port": 38123, "container_port": 80}])
    assert second.id not in bridge.endpoints()


def test_addresses_are_not_handed_out_twice_across_restarts(tmp_path, bridge, containers, names):
    first = containers()
    held = bridge.connect(first.id, first.netns)["IPAddress"]
    restarted = Bridge(str(tmp_path), name=names["bridge"], bip=names["bip"], chain=names["chain"])
    restarted.setup()
    second = containers()
    assert restarted.connect(second.id, second.netns)["IPAddress"] != held
    assert set(restarted.endpoints()) == {first.id, second.id}


def test_teardown_removes_every_chain_and_jump(tmp_path, names):
    network = Bridge(str(tmp_path), name=names["bridge"], bip=names["bip"], chain=names["chain"])
    network.setup()
    assert names["chain"] in nat_rules()
    network.teardown()
    subprocess.run(["ip", "link", "del", names["bridge"]])
    saved = subprocess.run(["iptables-save"], stdout=subprocess.PIPE, universal_newlines=True).stdout
    assert names["chain"] not in saved


def test_without_bip_the_bridge_takes_the_first_default_subnet_no_route_uses(tmp_path):
    # In a network namespace of its own, where 172.17.0.0/16 is already routed (a VPN, a
    # docker0): the bridge must take 172.18.0.1/16, as dockerd does, and not clash.
    choose = textwrap.dedent("""
        import subprocess, sys
        from engine.network import Bridge
        subprocess.run(["ip", "link", "add", "taken0", "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", "172.17.3.1/24", "dev", "taken0"], check=True)
        subprocess.run(["ip", "link", "set", "taken0", "up"], check=True)
        network = Bridge(sys.argv[1], name="yard0", iptables=False, ip_forward=False)
        network.setup()
        print(network.gateway, network.subnet)
        print(subprocess.run(["ip", "-4", "-o", "addr", "show", "yard0"], stdout=subprocess.PIPE,
                             universal_newlines=True).stdout.split()[3])
    """)
    result = subprocess.run(["unshare", "--net", sys.executable, "-c", choose, str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["172.18.0.1", "172.18.0.0/16", "172.18.0.1/16"]
