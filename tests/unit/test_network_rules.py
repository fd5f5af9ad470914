"""The iptables rules the bridge driver programs, compared with a golden dump (as moby does)."""
import os

from engine.network import iptables
from engine.network.ipam import Pool, mac_for

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "network-rules.txt")

ENDPOINTS = {
    "b" * 64: {"IPAddress": "172.17.0.3", "Ports": []},
    "a" * 64: {"IPAddress": "172.17.0.2", "Ports": [
        {"proto": "tcp", "host_ip": "", "host_port": 8080, "container_port": 80},
        {"proto": "udp", "host_ip": "10.0.0.5", "host_port": 5353, "container_port": 53},
    ]},
}


def test_rules_for_published_ports_match_the_golden_dump():
    text = iptables.chain_rules("yard0", "172.17.0.0/16", "YARD", ENDPOINTS)
    if os.environ.get("DOCKYARD_REGENERATE_GOLDEN"):
        with open(GOLDEN, "w") as target:
            target.write(text)
    with open(GOLDEN) as source:
        assert text == source.read()


def test_jumps_enter_our_chains_from_the_builtin_ones():
    assert ("nat", "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", "YARD"]) in iptables.jumps("YARD")
    assert ("filter", "FORWARD", ["-j", "YARD-FORWARD"]) in iptables.jumps("YARD")


def test_addresses_follow_the_last_one_given_and_skip_held_ones():
    pool = Pool("172.17.0.1/16")
    assert str(pool.allocate("one")) == "172.17.0.2"
    assert str(pool.allocate("two")) == "172.17.0.3"
    pool.release("one")
    assert str(pool.allocate("three")) == "172.17.0.4"      # a freed address is not reused at once
    again = Pool("172.17.0.1/16", pool.state())
    assert str(again.allocate("four")) == "172.17.0.5"
    assert str(again.allocate("two")) == "172.17.0.3"      # an owner keeps its lease


def test_a_full_subnet_wraps_around_to_freed_addresses():
    pool = Pool("10.0.0.1/30")                                # one usable address besides the gateway
    assert str(pool.allocate("one")) == "10.0.0.2"
    pool.release("one")
    assert str(pool.allocate("two")) == "10.0.0.2"


def test_mac_is_derived_from_the_address_as_docker_does():
    assert mac_for("172.17.0.2") == "02:42:ac:11:00:02"
