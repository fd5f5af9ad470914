"""The lab network: a bridge with the lab's /24, and the FORWARD rules that keep it to itself.

Traffic between lab hosts is bridged, but br_netfilter (built into this kernel) passes it through
the machine's iptables FORWARD chain, whose policy is DROP once a Docker engine has run here: the
lab accepts its own bridge's traffic, and drops whatever would leave the lab (there is no NAT and
no route out either, so lab hosts reach only each other and the mirror on the bridge address).
"""
from pathlib import Path

from provision.lab.command import LabError, run


def rules(lab):
    """The lab's FORWARD rules, as iptables arguments after the chain name."""
    tag = ["-m", "comment", "--comment", "dockyard lab %s" % lab.name]
    return [["-i", lab.bridge, "-o", lab.bridge] + tag + ["-j", "ACCEPT"],
            ["-i", lab.bridge] + tag + ["-j", "DROP"],
            ["-o", lab.bridge] + tag + ["-j", "DROP"]]


def bridge_exists(lab):
    return Path("/sys/class/net", lab.bridge).exists()


def rule_present(rule):
    try:
        run(["iptables", "-w", "-C", "FORWARD"] + rule, "iptables check")
        return True
    except LabError:
        return False


def up(lab):
    """Create what is missing; leave what is there."""
    what = "network %s" % lab.bridge
    if not bridge_exists(lab):
        run(["ip", "link", "add", lab.bridge, "type", "bridge"], what)
    address = "%s/24" % lab.gateway
    if address not in run(["ip", "-o", "-4", "addr", "show", "dev", lab.bridge], what):
        run(["ip", "addr", "add", address, "dev", lab.bridge], what)
    run(["ip", "link", "set", lab.bridge, "up"], what)
    # Inserted at the top in reverse, so they end up in order: accept inside, then drop the rest.
    for rule in reversed(rules(lab)):
        if not rule_present(rule):
            run(["iptables", "-w", "-I", "FORWARD", "1"] + rule, what + ": FORWARD rule")


def down(lab):
    what = "network %s" % lab.bridge
    for rule in rules(lab):
        while rule_present(rule):
            run(["iptables", "-w", "-D", "FORWARD"] + rule, what + ": FORWARD rule")
    if bridge_exists(lab):
        run(["ip", "link", "delete", lab.bridge], what)


def describe(lab):
    if not bridge_exists(lab):
        return "bridge %s: absent" % lab.bridge
    rules_in_place = sum(rule_present(rule) for rule in rules(lab))
    return "bridge %s: %s/24, %d of %d FORWARD rules" % (
        lab.bridge, lab.gateway, rules_in_place, len(rules(lab)))
