"""The bridge network: one Linux bridge, an address and a veth per container, and the
iptables rules for published ports and outbound NAT. State (the subnet, every endpoint and
the address leases) is kept in one JSON file so that a restarted daemon finds it again.
"""
import ipaddress
import json
import os
import socket
import threading

from engine.network import iptables, links
from engine.network.ipam import Pool, mac_for

DEFAULT_CANDIDATES = (["172.%d.0.1/16" % n for n in range(17, 32)]
                      + ["192.168.%d.1/20" % n for n in range(0, 256, 16)])
EPHEMERAL_PORTS = range(32768, 61000)


class PortAllocated(Exception):
    pass


class Bridge:
    def __init__(self, state_dir, name="yard0", bip=None, iptables=True, ip_forward=True, chain="YARD"):
        self.state_dir = state_dir
        self.name = name
        self.bip = bip
        self.use_iptables = iptables
        self.ip_forward = ip_forward
        self.chain = chain
        self._lock = threading.Lock()
        self._state_path = os.path.join(state_dir, "bridge-%s.json" % name)
        self._endpoints = {}
        self.pool = None

    # --- daemon start and stop ---------------------------------------------------
    def setup(self):
        os.makedirs(self.state_dir, exist_ok=True)
        state = self._load()
        gateway = self._choose_gateway(state.get("gateway"))
        self.pool = Pool(gateway, state.get("ipam") if state.get("gateway") == gateway else None)
        self._endpoints = state.get("endpoints", {}) if state.get("gateway") == gateway else {}
        links.ensure_bridge(self.name, gateway)
        if self.ip_forward:
            links.write_sysctl("net/ipv4/ip_forward", "1")
        if self.use_iptables:
            iptables.restore(self._rules())
            iptables.ensure_jumps(self.chain)
        self._save()

    def teardown(self):
        """Remove every rule and chain of ours (the bridge itself stays, as docker0 does)."""
        if self.use_iptables:
            iptables.remove_all(self.chain)

    @property
    def gateway(self):
        return str(self.pool.gateway)

    @property
    def subnet(self):
        return str(self.pool.network)

    # --- endpoints -----------------------------------------------------------------
    def connect(self, container_id, netns_path, ports=(), mac=None):
        with self._lock:
            address = self.pool.allocate(container_id)
            try:
                resolved = [self._resolve_port(container_id, port) for port in ports]
            except PortAllocated:
                self.pool.release(container_id)
                raise
            endpoint = {
                "IPAddress": str(address),
                "IPPrefixLen": self.pool.network.prefixlen,
                "Gateway": self.gateway,
                "MacAddress": mac or mac_for(address),
                "Bridge": self.name,
                "Ports": resolved,
            }
            self._endpoints[container_id] = endpoint
            self._save()
        try:
            links.connect_veth(self.name, container_id, netns_path,
                               "%s/%d" % (address, self.pool.network.prefixlen), self.gateway,
                               endpoint["MacAddress"])
            if resolved and self.use_iptables:
                with self._lock:
                    iptables.restore(self._rules())
        except Exception:
            self.disconnect(container_id)
            raise
        return dict(endpoint)

    def disconnect(self, container_id, unlink=True):
        """Give back the endpoint: its address, its published ports and, unless `unlink` is
        False (the caller then calls unlink() later), its veth."""
        with self._lock:
            endpoint = self._endpoints.pop(container_id, None)
            self.pool.release(container_id)
            self._save()
            if endpoint and endpoint.get("Ports") and self.use_iptables:
                iptables.restore(self._rules())
        if unlink:
            self.unlink(container_id)

    def unlink(self, container_id):
        """Delete the container's veth. The kernel makes that wait for RCU grace periods
        (12 to 30 ms measured here), hence a separate step a caller may put off."""
        links.remove_veth(container_id)

    def endpoints(self):
        with self._lock:
            return {key: dict(value) for key, value in self._endpoints.items()}

    # --- internals -------------------------------------------------------------------
    def _rules(self):
        return iptables.chain_rules(self.name, self.subnet, self.chain, self._endpoints)

    def _choose_gateway(self, remembered):
        if self.bip:
            return str(ipaddress.ip_interface(self.bip))
        if remembered:
            return remembered
        if links.exists(self.name) and links.bridge_addresses(self.name):
            return links.bridge_addresses(self.name)[0]
        taken = [ipaddress.ip_network(net, strict=False) for net in links.routed_networks()]
        for candidate in DEFAULT_CANDIDATES:
            network = ipaddress.ip_interface(candidate).network
            if not any(network.overlaps(other) for other in taken):
                return candidate
        raise RuntimeError("no free subnet for bridge %s: set bip in daemon.json" % self.name)

    def _resolve_port(self, container_id, port):
        """A published port with its host port chosen (0 -> a free ephemeral port)."""
        port = dict(port)
        port.setdefault("host_ip", "")
        port["proto"] = port.get("proto", "tcp")
        used = {(p["proto"], p["host_port"]) for owner, e in self._endpoints.items()
                if owner != container_id for p in e.get("Ports", [])}
        if port.get("host_port"):
            if (port["proto"], port["host_port"]) in used:
                raise PortAllocated("Bind for %s:%d failed: port is already allocated"
                                    % (port["host_ip"] or "0.0.0.0", port["host_port"]))
            return port
        for candidate in EPHEMERAL_PORTS:
            if (port["proto"], candidate) not in used and _bindable(port["proto"], candidate):
                port["host_port"] = candidate
                return port
        raise PortAllocated("no free host port for %s/%s" % (port["container_port"], port["proto"]))

    def _load(self):
        try:
            with open(self._state_path) as source:
                return json.load(source)
        except FileNotFoundError:
            return {}

    def _save(self):
        state = {"gateway": str(self.pool.interface), "ipam": self.pool.state(), "endpoints": self._endpoints}
        temporary = self._state_path + ".tmp"
        with open(temporary, "w") as target:
            json.dump(state, target, indent=1, sort_keys=True)
        os.replace(temporary, self._state_path)


def _bindable(proto, port):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    probe = socket.socket(socket.AF_INET, kind)
    try:
        probe.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        probe.close()
