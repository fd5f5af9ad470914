"""/etc/hostname, /etc/hosts and /etc/resolv.conf of a container, as docker writes them.

The files live in the container's directory and are bind-mounted by the runtime. They are
rewritten in place (same inode), so the bind mount sees /etc/hosts gain the container's
address once the network has given it one.
"""
import re

HOSTS = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
         "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")     # docker's, when the host only has a local resolver


def write_all(container, daemon_config, address=None):
    host_network = container.host_config["NetworkMode"] == "host"
    _write(container.path("hostname"), container.config["Hostname"] + "\n")
    _write(container.path("hosts"), _read("/etc/hosts") if host_network else hosts(container, address))
    _write(container.path("resolv.conf"), _read("/etc/resolv.conf") if host_network
           else resolv_conf(_read("/etc/resolv.conf"), container.host_config, daemon_config))


def hosts(container, address):
    text = HOSTS
    if address:
        text += "%s\t%s\n" % (address, container.config["Hostname"])
    return text


def resolv_conf(host_text, host_config, daemon_config):
    """The host's resolv.conf without loopback resolvers (unreachable from a container's network)."""
    nameservers = host_config.get("Dns") or daemon_config["dns"]
    search = host_config.get("DnsSearch") or daemon_config["dns-search"]
    options = host_config.get("DnsOptions") or daemon_config["dns-opts"]
    lines = []
    for line in host_text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "nameserver":
            if not nameservers and not re.match(r"^(127\.|::1$)", words[1] if len(words) > 1 else ""):
                lines.append(line)
        elif words[0] in ("search", "domain") and search:
            continue
        elif words[0] == "options" and options:
            continue
        else:
            lines.append(line)
    lines += ["nameserver " + server for server in nameservers]
    if not any(line.split()[0] == "nameserver" for line in lines):
        lines += ["nameserver " + server for server in FALLBACK_NAMESERVERS]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def _read(path):
    try:
        with open(path) as source:
            return source.read()
    except FileNotFoundError:
        return ""


def _write(path, text):
    with open(path, "w") as target:             # in place: a bind mount of this inode may exist
        target.write(text)
