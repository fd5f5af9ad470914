"""Networking as Docker's bridge driver does it: one bridge, a veth per container, IPAM,
and iptables rules that this package alone programs and can rebuild.

Interface used by the containers service (kept stable; extend, don't change):

    Bridge(state_dir, name="yard0", bip=None, iptables=True, ip_forward=True, chain="YARD")
      .setup()          at daemon start: create/address the bridge (bip, default
                        172.17.0.1/16, else another free /16), enable forwarding, create
                        the chains and jumps, and re-program the rules of every endpoint
                        recorded in state_dir (endpoints survive a daemon restart)
      .connect(container_id, netns_path, ports=[{"proto": "tcp", "host_ip": "",
               "host_port": 0 | N, "container_port": N}, ...], mac=None)
                -> {"IPAddress", "IPPrefixLen", "Gateway", "MacAddress", "Bridge",
                    "Ports": [same dicts with host_port resolved]}
                        veth pair into the bridge, eth0 + lo up inside, default route,
                        an address no other endpoint holds (also across restarts), DNAT
                        per published port, recorded in state_dir
      .disconnect(container_id)   remove the veth, its rules and its address lease
      .endpoints() -> {container_id: endpoint dict}
      .teardown()       remove every rule and chain (daemon shutdown with iptables)

iptables layout (nat): `YARD` chain jumped to from PREROUTING and OUTPUT with
`-m addrtype --dst-type LOCAL` (OUTPUT also `! -d 127.0.0.0/8`), DNAT per published
port, `POSTROUTING -s <subnet> ! -o <bridge> -j MASQUERADE`; filter: `YARD-FORWARD`
accepting traffic to/from the bridge and established return traffic.
"""

from engine.network.bridge import Bridge, PortAllocated  # noqa: E402,F401  (the package's interface)
