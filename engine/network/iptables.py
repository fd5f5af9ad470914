"""The iptables rules of the bridge network, as data, and the one call that programs them.

Everything the driver adds lives in its own chains, which are rewritten whole from the
list of endpoints (so a restart, or a rule deleted by hand, is healed by the next write);
the built-in chains only hold the jumps into them, added once when missing.

nat:    PREROUTING, OUTPUT -m addrtype --dst-type LOCAL -j <chain>     DNAT per published port
        POSTROUTING -j <chain>-POSTROUTING                             MASQUERADE of the subnet going out,
                                                                       of hairpin and of localhost traffic
filter: FORWARD -j <chain>-FORWARD                                     the bridge's traffic
        <chain>-FORWARD -o <bridge> -j <chain>                         ACCEPT per published port
"""
import subprocess


def jumps(chain):
    """Rules in built-in chains: (table, built-in chain, rule args)."""
    return [
        ("nat", "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", chain]),
        ("nat", "OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", chain]),
        ("nat", "POSTROUTING", ["-j", chain + "-POSTROUTING"]),
        ("filter", "FORWARD", ["-j", chain + "-FORWARD"]),
    ]


def chain_rules(bridge, subnet, chain, endpoints):
    """iptables-restore input that rewrites every chain of ours.

    `endpoints` maps a container id to its endpoint dict (IPAddress, Ports).
    """
    nat = [
        ":%s - [0:0]" % chain,
        ":%s-POSTROUTING - [0:0]" % chain,
        "-A %s-POSTROUTING -s %s ! -o %s -j MASQUERADE" % (chain, subnet, bridge),
        # Published ports reached at 127.0.0.1 (route_localnet is on for the bridge).
        "-A %s-POSTROUTING -s 127.0.0.0/8 -o %s -m addrtype --src-type LOCAL -j MASQUERADE" % (chain, bridge),
    ]
    filter_ = [
        ":%s - [0:0]" % chain,
        ":%s-FORWARD - [0:0]" % chain,
        "-A %s-FORWARD -o %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" % (chain, bridge),
        "-A %s-FORWARD -o %s -j %s" % (chain, bridge, chain),
        "-A %s-FORWARD -i %s ! -o %s -j ACCEPT" % (chain, bridge, bridge),
        "-A %s-FORWARD -i %s -o %s -j ACCEPT" % (chain, bridge, bridge),
    ]
    for container_id in sorted(endpoints):
        endpoint = endpoints[container_id]
        address = endpoint["IPAddress"]
        for port in endpoint.get("Ports", []):
            proto, target = port["proto"], port["container_port"]
            destination = " -d %s/32" % port["host_ip"] if port.get("host_ip") not in (None, "", "0.0.0.0") else ""
            nat.append("-A %s%s -p %s -m %s --dport %d -j DNAT --to-destination %s:%d"
                       % (chain, destination, proto, proto, port["host_port"], address, target))
            # A container reaching its own published port through the host (hairpin).
            nat.append("-A %s-POSTROUTING -s %s/32 -d %s/32 -p %s -m %s --dport %d -j MASQUERADE"
                       % (chain, address, address, proto, proto, target))
            filter_.append("-A %s -d %s/32 ! -i %s -o %s -p %s -m %s --dport %d -j ACCEPT"
                           % (chain, address, bridge, bridge, proto, proto, target))
    return "*nat\n%s\nCOMMIT\n*filter\n%s\nCOMMIT\n" % ("\n".join(nat), "\n".join(filter_))


def restore(text):
    """Program the rules; `--noflush` keeps every chain that the text does not declare."""
    result = subprocess.run(["iptables-restore", "--noflush"], input=text, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    if result.returncode != 0:
        raise RuntimeError("iptables-restore failed: %s" % result.stderr.strip())


def ensure_jumps(chain):
    """Add the jumps into our chains where they are missing (first in FORWARD, as Docker)."""
    for table, builtin, rule in jumps(chain):
        if _run(["iptables", "-t", table, "-C", builtin] + rule).returncode == 0:
            continue
        position = ["-I", builtin, "1"] if builtin == "FORWARD" else ["-A", builtin]
        result = _run(["iptables", "-t", table] + position + rule)
        if result.returncode != 0:
            raise RuntimeError("iptables: cannot add %s jump to %s: %s"
                               % (builtin, chain, result.stderr.strip()))


def remove_all(chain):
    """Take out our jumps and chains (daemon shutdown with no live-restore, or tests)."""
    for table, builtin, rule in jumps(chain):
        while _run(["iptables", "-t", table, "-D", builtin] + rule).returncode == 0:
            pass
    for table, name in (("nat", chain), ("nat", chain + "-POSTROUTING"),
                        ("filter", chain + "-FORWARD"), ("filter", chain)):
        _run(["iptables", "-t", table, "-F", name])
        _run(["iptables", "-t", table, "-X", name])


def _run(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
