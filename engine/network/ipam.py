"""Address management for one bridge subnet.

Addresses are handed out in order after the last one given (as Docker's IPAM does), so a
freed address is not reused at once, and never while another endpoint holds it. The
caller persists `state()` and passes it back after a restart.
"""
import ipaddress


class AddressExhausted(Exception):
    pass


class Pool:
    def __init__(self, gateway_cidr, state=None):
        """`gateway_cidr` is the bridge's address with its prefix, e.g. 172.17.0.1/16."""
        self.interface = ipaddress.ip_interface(gateway_cidr)
        self.network = self.interface.network
        self.gateway = self.interface.ip
        state = state or {}
        self.leases = dict(state.get("leases", {}))          # address -> owner
        self.last = state.get("last")

    def state(self):
        return {"leases": dict(self.leases), "last": self.last}

    def allocate(self, owner):
        """The next free address after the last one given, wrapping once around the subnet."""
        for address, holder in self.leases.items():
            if holder == owner:
                return ipaddress.ip_address(address)
        first = int(self.network.network_address) + 1
        last = int(self.network.broadcast_address) - 1
        size = last - first + 1
        start = int(ipaddress.ip_address(self.last)) + 1 if self.last else first
        for step in range(size):
            candidate = first + (start - first + step) % size
            address = ipaddress.ip_address(candidate)
            if address == self.gateway or str(address) in self.leases:
                continue
            self.leases[str(address)] = owner
            self.last = str(address)
            return address
        raise AddressExhausted("no free address left in %s" % self.network)

    def release(self, owner):
        for address in [a for a, holder in self.leases.items() if holder == owner]:
            del self.leases[address]


def mac_for(address):
    """Docker's MAC for an address: 02:42 then the IPv4 bytes."""
    return "02:42:" + ":".join("%02x" % b for b in ipaddress.ip_address(address).packed)
