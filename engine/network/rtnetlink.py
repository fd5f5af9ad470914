"""rtnetlink, the kernel's own interface for links, addresses and routes: what `ip` does,
without starting a process for each container (two `ip` processes were a tenth of a
container's start).

    with Netlink() as netlink:                      # this thread's network namespace
        netlink.add_veth("veth1234", "eth0", "/proc/<pid>/ns/net", "02:42:...")
    with Netlink("/proc/<pid>/ns/net") as netlink:  # another namespace
        netlink.add_address(index, "172.17.0.2", 16)

Each request is acknowledged (NLM_F_ACK); an error becomes NetlinkError with the kernel's
errno and what was asked ("add veth veth1234: File exists").
"""
import os
import socket
import struct

from engine.runtime.namespaces import CLONE_NEWNET, setns

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_PROTINFO, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 12, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
IFLA_BRPORT_MODE = 4                     # hairpin
NLA_F_NESTED = 0x8000
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY, RTA_OIF = 5, 4
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_HEADER = struct.Struct("=IHHII")        # nlmsghdr: length, type, flags, sequence, port
_IFINFO = struct.Struct("=BxHiII")       # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBi")        # ifaddrmsg: family, prefix length, flags, scope, index
# rtmsg: family, destination and source prefix lengths, tos, table, protocol, scope, type, flags
_RTMSG = struct.Struct("=BBBBBBBBI")


class NetlinkError(OSError):
    pass


def attribute(kind, value):
    """One rtattr: bytes as they are, str NUL-terminated, int as u32; padded to 4 bytes."""
    if isinstance(value, str):
        value = value.encode() + b"\0"
    elif isinstance(value, int):
        value = struct.pack("=I", value)
    data = struct.pack("=HH", 4 + len(value), kind) + value
    return data + b"\0" * (-len(data) % 4)


def link_message(index=0, flags=0, change=0, attributes=()):
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change) + b"".join(attributes)


def mac_bytes(mac):
    return bytes(int(part, 16) for part in mac.split(":"))


class Netlink:
    """A NETLINK_ROUTE socket, in this thread's network namespace or in the one at `netns_path`."""

    def __init__(self, netns_path=None):
        self.netns_path = netns_path
        self.sock = None
        self._sequence = 0

    def __enter__(self):
        if self.netns_path is None:
            self.sock = _open()
        else:
            self.sock = _open_in(self.netns_path)
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def request(self, kind, payload, flags=0, what=""):
        """Send one request and wait for its acknowledgement; -> the payload of the answer
        that came before it (a GET's), or None."""
        self._sequence += 1
        message = _HEADER.pack(_HEADER.size + len(payload), kind, NLM_F_REQUEST | NLM_F_ACK | flags,
                               self._sequence, 0) + payload
        self.sock.send(message)
        answer = None
        while True:
            reply = self.sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(reply):
                length, reply_kind, _, sequence, _ = _HEADER.unpack_from(reply, offset)
                body = reply[offset + _HEADER.size:offset + length]
                offset += max((length + 3) & ~3, _HEADER.size)
                if sequence != self._sequence:
                    continue
                if reply_kind != NLMSG_ERROR:
                    answer = body
                    continue
                code = -struct.unpack_from("=i", body)[0]
                if code:
                    raise NetlinkError(code, "%s: %s" % (what, os.strerror(code)))
                return answer

    # --- links ---------------------------------------------------------------------------
    def add_veth(self, name, peer, peer_netns_path, peer_mac):
        """A veth pair: `name` here, `peer` (with this MAC) in the namespace at that path."""
        netns = os.open(peer_netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            peer_info = link_message(attributes=[attribute(IFLA_IFNAME, peer),
                                                 attribute(IFLA_NET_NS_FD, netns),
                                                 attribute(IFLA_ADDRESS, mac_bytes(peer_mac))])
            info = (attribute(IFLA_INFO_KIND, "veth")
                    + attribute(IFLA_INFO_DATA, attribute(VETH_INFO_PEER, peer_info)))
            self.request(RTM_NEWLINK, link_message(attributes=[attribute(IFLA_IFNAME, name),
                                                               attribute(IFLA_LINKINFO, info)]),
                         NLM_F_CREATE | NLM_F_EXCL, "add veth %s" % name)
        finally:
            os.close(netns)

    def link_index(self, name):
        """The index of link `name`; NetlinkError (ENODEV) when there is none."""
        answer = self.request(RTM_GETLINK, link_message(attributes=[attribute(IFLA_IFNAME, name)]),
                              what="link %s" % name)
        return _IFINFO.unpack_from(answer)[2]

    def set_master(self, index, master_index):
        self.request(RTM_NEWLINK, link_message(index, attributes=[attribute(IFLA_MASTER, master_index)]),
                     what="set master of link %d" % index)

    def set_hairpin(self, index):
        """Let the bridge send a port's frames back out of it (docker's hairpin mode)."""
        mode = attribute(IFLA_BRPORT_MODE, b"\x01")
        self.request(RTM_SETLINK, _IFINFO.pack(socket.AF_BRIDGE, 0, index, 0, 0)
                     + attribute(IFLA_PROTINFO | NLA_F_NESTED, mode), what="set hairpin on link %d" % index)

    def set_up(self, index):
        self.request(RTM_NEWLINK, link_message(index, IFF_UP, IFF_UP), what="set link %d up" % index)

    def delete_link(self, index):
        self.request(RTM_DELLINK, link_message(index), what="delete link %d" % index)

    # --- addresses and routes ----------------------------------------------------------------
    def add_address(self, index, address, prefix_length):
        packed = socket.inet_aton(address)
        self.request(RTM_NEWADDR, _IFADDR.pack(socket.AF_INET, prefix_length, 0, RT_SCOPE_UNIVERSE, index)
                     + attribute(IFA_LOCAL, packed) + attribute(IFA_ADDRESS, packed),
                     NLM_F_CREATE | NLM_F_EXCL, "add address %s/%d" % (address, prefix_length))

    def add_default_route(self, gateway, index):
        self.request(RTM_NEWROUTE, _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT,
                                               RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
                     + attribute(RTA_GATEWAY, socket.inet_aton(gateway)) + attribute(RTA_OIF, index),
                     NLM_F_CREATE | NLM_F_EXCL, "add default route via %s" % gateway)


def _open():
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    sock.bind((0, 0))
    return sock


def _open_in(netns_path):
    """A socket in another namespace. setns() moves only the calling thread, and a socket
    stays in the namespace it was opened in: the thread goes straight back to the daemon's
    (every thread of the daemon lives in the one namespace), nothing else runs inside."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(target, CLONE_NEWNET)
        finally:
            os.close(target)
        try:
            return _open()
        finally:
            setns(own, CLONE_NEWNET)
    finally:
        os.close(own)
