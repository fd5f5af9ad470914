"""daemon_json: the engine's daemon.json, from inventory variables checked before it is written.

    - name: Engine configuration
      action: daemon_json
      args: {src: daemon.json.j2, dest: /etc/yard/daemon.json}

The variables behind Docker's daemon.json keys (registry_mirrors, insecure_registries, bip,
data_root, cgroup_parent, log_driver, log_opts, live_restore, iptables, ip_forward, debug,
daemon_extra) are checked on the controller, with Docker's meanings, before any step touches
the host: a bad value fails the run naming the variable, and the host keeps its old file.
Then the file is rendered; with yardd_validate, the engine bundle built from engine/ checks it
too, on the controller (`yardd --validate --config-file F`, as the host's yardd would read it;
what it accepted is remembered in ~/.cache/dockyard/yardd-accepted, by bundle and content).
Then it is written as the template action writes files.
"""
import hashlib
import ipaddress
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from provision import bundle
from provision.actions import ActionError, Arg, as_bool
from provision.actions import template
from provision.memo import cache_dir, once_per_arguments

ARGS = {
    "src": Arg("str", required=True),
    "dest": Arg("path", required=True),
    "yardd_validate": Arg("bool", default=False),
}

# dockerd's built-in log drivers.
LOG_DRIVERS = ("json-file", "local", "journald", "syslog", "none", "fluentd", "gelf", "awslogs",
               "splunk", "etwlogs", "gcplogs", "logentries")
# The keys the template writes itself: daemon_extra may not repeat them.
TEMPLATED_KEYS = {"registry-mirrors", "insecure-registries", "bip", "data-root", "cgroup-parent",
                  "log-driver", "log-opts", "live-restore", "iptables", "ip-forward", "debug"}
HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*")


class SettingError(ActionError):
    """A daemon.json variable with a value Docker would refuse; the message names the variable."""

    def __init__(self, variable, message):
        super().__init__("variable %s: %s" % (variable, message))


def prepare(args, ctx):
    check_settings(ctx.variables)
    args = template.prepare({**args, "mode": "0644", "owner": None, "group": None, "backup": False}, ctx)
    try:
        json.loads(args["content"])
    except ValueError as error:
        raise ActionError("%s does not render to JSON: %s" % (args["src"], error)) from None
    if args["yardd_validate"]:
        yardd_validate(args["content"], ctx.once(bundle.bundle_bytes))
    return args


@once_per_arguments
def yardd_validate(content, bundle_bytes):
    """Run the bundle's `yardd --validate` on the rendered file; ActionError with its message.

    Hosts given the same file share one run of yardd. A file yardd accepted is remembered with
    the bundle that accepted it, so that a run repeating it (every no-op run) starts no yardd:
    one per host costs a run with 20 hosts about a second."""
    record = accepted_record(bundle_bytes, content)
    if record.exists():
        return
    with tempfile.TemporaryDirectory(prefix="dockyard-daemon-json-") as directory:
        pyz, config = Path(directory) / "yard.pyz", Path(directory) / "daemon.json"
        pyz.write_bytes(bundle_bytes)
        config.write_text(content)
        result = subprocess.run([sys.executable, str(pyz), "yardd", "--validate", "--config-file", str(config)],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().replace(str(config), "daemon.json")
        raise ActionError("yardd refuses the rendered daemon.json: %s" % message)
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.touch()
    except OSError:   # not remembered: the next run asks yardd again
        pass


def accepted_record(bundle_bytes, content):
    """The file whose presence says that this bundle's yardd accepted this daemon.json."""
    key = hashlib.sha256(bundle_bytes + b"\0" + content.encode()).hexdigest()
    return cache_dir() / "yardd-accepted" / key


check = template.check
plan = template.plan


def check_settings(variables):
    """Raise SettingError for the first variable whose value Docker would refuse."""
    for url in string_list(variables, "registry_mirrors"):
        check_mirror(url)
    for registry in string_list(variables, "insecure_registries"):
        check_insecure_registry(registry)
    bip = string(variables, "bip")
    if bip:
        check_bip(bip)
    data_root = string(variables, "data_root")
    if data_root and not data_root.startswith("/"):
        raise SettingError("data_root", "%r is not an absolute path" % data_root)
    cgroup_parent = string(variables, "cgroup_parent")
    if cgroup_parent and (re.search(r"\s", cgroup_parent) or ".." in cgroup_parent.split("/")):
        raise SettingError("cgroup_parent", "%r is not a cgroup name such as lab-1 or /yard" % cgroup_parent)
    log_driver = string(variables, "log_driver")
    if log_driver and log_driver not in LOG_DRIVERS:
        raise SettingError("log_driver", "%r is not one of %s" % (log_driver, ", ".join(LOG_DRIVERS)))
    check_log_opts(variables.get("log_opts"))
    for name in ("live_restore", "iptables", "ip_forward", "debug"):
        try:
            as_bool(variables.get(name))
        except ValueError:
            raise SettingError(name, "%r is not a boolean (true or false)" % (variables.get(name),)) from None
    extra = variables.get("daemon_extra") or {}
    if not isinstance(extra, dict):
        raise SettingError("daemon_extra", "must be a mapping of daemon.json keys to values")
    repeated = sorted(TEMPLATED_KEYS & set(extra))
    if repeated:
        raise SettingError("daemon_extra", "%s has its own variable (%s)"
                           % (repeated[0], repeated[0].replace("-", "_")))


def string(variables, name):
    value = variables.get(name)
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise SettingError(name, "%r is not a string" % (value,))
    return value


def string_list(variables, name):
    value = variables.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingError(name, "%r is not a list of strings, such as [\"a\", \"b\"]" % (value,))
    return value


def check_mirror(url):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError("registry_mirrors", "%r is not an http(s) URL such as https://mirror.example.com" % url)
    if parts.query or parts.fragment or parts.username:
        raise SettingError("registry_mirrors", "%r: a mirror URL has no credentials, query or fragment" % url)


def check_insecure_registry(registry):
    if "://" in registry:
        raise SettingError("insecure_registries", "%r: give host[:port] or a CIDR, without a scheme" % registry)
    if "/" in registry:
        try:
            ipaddress.ip_network(registry, strict=False)
        except ValueError:
            raise SettingError("insecure_registries", "%r is not a CIDR such as 10.0.0.0/24" % registry) from None
        return
    host, _, port = registry.rpartition(":") if registry.count(":") == 1 else (registry, "", "")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise SettingError("insecure_registries", "%r: port %r is not a port number" % (registry, port))
    if not (HOSTNAME.fullmatch(host) or _is_ip(host.strip("[]"))):
        raise SettingError("insecure_registries", "%r is not host[:port], such as 10.0.0.5:5000" % registry)


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_bip(bip):
    try:
        interface = ipaddress.ip_interface(bip)
    except ValueError:
        raise SettingError("bip", "%r is not an address with a prefix, such as 172.18.0.1/16" % bip) from None
    if interface.version != 4 or "/" not in bip:
        raise SettingError("bip", "%r is not an IPv4 address with a prefix, such as 172.18.0.1/16" % bip)
    network = interface.network
    if network.prefixlen > 30 or interface.ip in (network.network_address, network.broadcast_address):
        raise SettingError("bip", "%r: the bridge needs a host address in a /30 or larger network" % bip)


def check_log_opts(opts):
    if opts in (None, ""):
        return
    if not isinstance(opts, dict):
        raise SettingError("log_opts", "%r is not a mapping such as {\"max-size\": \"10m\"}" % (opts,))
    for key, value in opts.items():
        if not isinstance(value, str):
            raise SettingError("log_opts", "%s: %r must be a string, such as \"%s\"" % (key, value, value))
    if "max-size" in opts and not re.fullmatch(r"\d+(\.\d+)?\s*[kKmMgG]?[bB]?", opts["max-size"]):
        raise SettingError("log_opts", "max-size: %r is not a size such as 10m" % opts["max-size"])
    if "max-file" in opts and not (opts["max-file"].isdigit() and int(opts["max-file"]) > 0):
        raise SettingError("log_opts", "max-file: %r is not a positive number" % opts["max-file"])
