"""Links: the bridge (made once at daemon start, with iproute2 in as few calls as it allows)
and a veth pair per container (rtnetlink: no process to start on a container's way up).
"""
import errno
import os
import subprocess

from engine.network.rtnetlink import Netlink, NetlinkError


class LinkError(RuntimeError):
    pass


def _ip_batch(commands):
    """Run iproute2 commands in one process."""
    result = subprocess.run(["ip", "-batch", "-"], input="\n".join(commands) + "\n", stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    if result.returncode != 0:
        raise LinkError("ip: %s" % (result.stderr.strip() or "failed: %s" % "; ".join(commands)))


def exists(name):
    return os.path.exists("/sys/class/net/%s" % name)


def bridge_addresses(name):
    """The IPv4 addresses (with prefix) on a link, e.g. ['172.17.0.1/16']."""
    result = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    return [line.split()[3] for line in result.stdout.splitlines() if len(line.split()) > 3]


def routed_networks():
    """IPv4 networks this host already routes (to pick a bridge subnet that is free)."""
    result = subprocess.run(["ip", "-o", "-4", "route", "show"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    return [line.split()[0] for line in result.stdout.splitlines()
            if line and line.split()[0] != "default"]


def ensure_bridge(name, gateway_cidr):
    """Create the bridge if needed, give it exactly this address, and bring it up."""
    commands = []
    if not exists(name):
        commands.append("link add name %s type bridge" % name)
    for address in bridge_addresses(name) if exists(name) else []:
        if address != gateway_cidr:
            commands.append("addr del %s dev %s" % (address, name))
    if gateway_cidr not in (bridge_addresses(name) if exists(name) else []):
        commands.append("addr add %s dev %s" % (gateway_cidr, name))
    commands.append("link set %s up" % name)
    _ip_batch(commands)
    # Published ports must answer at 127.0.0.1 too, without a userland proxy.
    write_sysctl("net/ipv4/conf/%s/route_localnet" % name, "1")


def remove_bridge(name):
    if exists(name):
        _ip_batch(["link del %s" % name])


def veth_name(container_id):
    return "veth" + container_id[:8]          # at most 15 characters, as the kernel wants


def connect_veth(bridge, container_id, netns_path, address_cidr, gateway, mac):
    """A veth pair: one end in the bridge, the other as eth0 in the container's netns."""
    host_end = veth_name(container_id)
    address, prefix_length = address_cidr.split("/")
    try:
        with Netlink() as host:
            _delete_link(host, host_end)      # left over from a container that died with the daemon
            host.add_veth(host_end, "eth0", netns_path, mac)
            index = host.link_index(host_end)
            host.set_master(index, host.link_index(bridge))
            host.set_hairpin(index)
            host.set_up(index)
        with Netlink(netns_path) as container:
            container.set_up(container.link_index("lo"))
            eth0 = container.link_index("eth0")
            container.add_address(eth0, address, int(prefix_length))
            container.set_up(eth0)
            container.add_default_route(gateway, eth0)
    except OSError as error:                  # NetlinkError, or the namespace has gone
        raise LinkError(str(error))
    return host_end


def remove_veth(container_id):
    """Delete the host end (and so its peer); gone already with its namespace is fine."""
    try:
        with Netlink() as host:
            _delete_link(host, veth_name(container_id))
    except NetlinkError as error:
        raise LinkError(str(error))


def _delete_link(netlink, name):
    try:
        netlink.delete_link(netlink.link_index(name))
    except NetlinkError as error:
        if error.errno != errno.ENODEV:
            raise


def write_sysctl(key, value):
    path = "/proc/sys/" + key
    try:
        with open(path) as current:
            if current.read().strip() == value:
                return
        with open(path, "w") as target:
            target.write(value)
    except OSError as error:
        if error.errno not in (errno.EROFS, errno.EACCES):
            raise
        raise LinkError("cannot set %s=%s: %s" % (key.replace("/", "."), value, error.strerror))
