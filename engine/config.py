"""The daemon's configuration: daemon.json with Docker's keys, types and defaults.

`load(path, flags)` reads the file, checks every key and value, and lays the command-line
flags over it (a flag wins over the file). The result is a plain dict keyed by Docker's
names ("data-root", "live-restore", ...), complete with defaults, which every service reads.
Anything wrong raises ConfigError naming the file and the key, as dockerd refuses to start.
"""
import ipaddress
import json
import os
import re

DEFAULT_CONFIG_FILE = "/etc/yard/daemon.json"
DEFAULT_HOST = "unix:///run/yard.sock"


class ConfigError(Exception):
    pass


def _boolean(value):
    if not isinstance(value, bool):
        raise ValueError("expected a boolean (true or false)")
    return value


def _string(value):
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _strings(value):
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("expected a list of strings")
    return value


def _integer(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected an integer")
    return value


def _absolute_path(value):
    if not _string(value).startswith("/"):
        raise ValueError("must be an absolute path")
    return os.path.normpath(value)


def _bip(value):
    if not _string(value):
        return value
    try:
        interface = ipaddress.IPv4Interface(value)
    except ValueError:
        raise ValueError("expected an IPv4 address with a prefix length, like 172.17.0.1/16")
    if interface.ip == interface.network.network_address:
        raise ValueError("%s is a network address, not the bridge's own address" % value)
    return value


def _bridge(value):
    if not re.match(r"^[A-Za-z0-9_.-]{1,15}$", _string(value)):
        raise ValueError("a bridge name is 1 to 15 letters, digits, '_', '.' or '-'")
    return value


def _hosts(value):
    for host in _strings(value):
        if not host.startswith("unix:///"):
            raise ValueError("only unix:///path sockets are served, not %r" % host)
    return value


def _log_driver(value):
    if _string(value) != "json-file":
        raise ValueError("only the json-file log driver is supported, not %r" % value)
    return value


def _storage_driver(value):
    if _string(value) not in ("overlay2", "overlay"):
        raise ValueError("only the overlay2 storage driver is supported, not %r" % value)
    return value


def _log_level(value):
    if _string(value) not in ("debug", "info", "warn", "error", "fatal"):
        raise ValueError("expected one of debug, info, warn, error, fatal")
    return value


def _cgroup_parent(value):
    if ".." in _string(value).split("/"):
        raise ValueError("must not contain '..'")
    return value


def _cgroupns_mode(value):
    if _string(value) not in ("", "host", "private"):
        raise ValueError('must be "host" or "private"')
    return value


def _registries(value):
    for entry in _strings(value):
        if not entry or " " in entry:
            raise ValueError("invalid registry %r" % entry)
    return value


def _mirrors(value):
    for entry in _strings(value):
        if not re.match(r"^https?://[^/\s]+", entry):
            raise ValueError("invalid mirror %r: a mirror is an http:// or https:// URL" % entry)
    return value


def _dns(value):
    for entry in _strings(value):
        try:
            ipaddress.ip_address(entry)
        except ValueError:
            raise ValueError("%r is not an IP address" % entry)
    return value


LOG_OPTS = ("max-size", "max-file", "labels", "env", "tag", "compress")


def _log_opts(value):
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("expected an object of strings, like {\"max-size\": \"10m\"}")
    for key, option in value.items():
        if key not in LOG_OPTS:
            raise ValueError("unknown log opt '%s' for json-file log driver" % key)
        if key == "max-size":
            parse_size(option)
        elif key == "max-file":
            if not option.isdigit() or int(option) < 1:
                raise ValueError("max-file must be a whole number of at least 1, not %r" % option)
    return value


def _exec_opts(value):
    for entry in _strings(value):
        if not entry.startswith("native.cgroupdriver="):
            raise ValueError("unknown exec-opt %r" % entry)
    return value


def _positive(value):
    if _integer(value) < 0:
        raise ValueError("must not be negative")
    return value


# key -> (check, default). Docker's names; the engine honours each of them
# (log-level, exec-opts and storage-driver are accepted as provisioners write them).
OPTIONS = {
    "data-root": (_absolute_path, "/var/lib/yard"),
    "hosts": (_hosts, [DEFAULT_HOST]),
    "group": (_string, "yard"),
    "debug": (_boolean, False),
    "log-level": (_log_level, "info"),
    "bip": (_bip, ""),
    "bridge": (_bridge, "yard0"),
    "iptables": (_boolean, True),
    "ip-forward": (_boolean, True),
    "dns": (_dns, []),
    "dns-search": (_strings, []),
    "dns-opts": (_strings, []),
    "cgroup-parent": (_cgroup_parent, "yard"),
    # "": docker's default for this host, private on cgroup v2 and host on v1 (engine/containers/create.py)
    "default-cgroupns-mode": (_cgroupns_mode, ""),
    "exec-opts": (_exec_opts, []),
    "storage-driver": (_storage_driver, "overlay2"),
    "live-restore": (_boolean, False),
    "shutdown-timeout": (_positive, 15),
    "no-new-privileges": (_boolean, False),
    "log-driver": (_log_driver, "json-file"),
    "log-opts": (_log_opts, {}),
    "registry-mirrors": (_mirrors, []),
    "insecure-registries": (_registries, []),
}


def defaults():
    return {key: _copy(default) for key, (_, default) in OPTIONS.items()}


def _copy(value):
    return list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value


def read_file(path, required=False):
    """The file's settings, checked; {} when it does not exist and was not asked for by name."""
    try:
        with open(path) as source:
            text = source.read()
    except FileNotFoundError:
        if required:
            raise ConfigError("unable to configure the yard daemon with file %s: no such file" % path)
        return {}
    except OSError as error:
        raise ConfigError("unable to configure the yard daemon with file %s: %s" % (path, error.strerror))
    try:
        settings = json.loads(text) if text.strip() else {}
    except ValueError as error:
        raise ConfigError("unable to configure the yard daemon with file %s: %s" % (path, error))
    if not isinstance(settings, dict):
        raise ConfigError("unable to configure the yard daemon with file %s: the file must hold a JSON object"
                          % path)
    unknown = sorted(key for key in settings if key not in OPTIONS)
    if unknown:
        raise ConfigError("unable to configure the yard daemon with file %s: the following directives don't "
                          "match any configuration option: %s" % (path, ", ".join(unknown)))
    return {key: _checked(key, value, "file %s" % path) for key, value in settings.items()}


def _checked(key, value, origin):
    try:
        return OPTIONS[key][0](value)
    except ValueError as error:
        raise ConfigError("unable to configure the yard daemon with %s: invalid value for \"%s\": %s (got %s)"
                          % (origin, key, error, json.dumps(value)))


def load(path, flags, required=False):
    """Defaults, then the file at `path`, then `flags` ({key: value} of the flags given)."""
    config = defaults()
    config.update(read_file(path, required))
    for key, value in flags.items():
        config[key] = _checked(key, value, "flag --%s" % key)
    return config


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_size(text):
    """Docker's sizes: "100", "10k", "10m", "1g" (binary units, as RAMInBytes) -> bytes."""
    match = _SIZE.match(str(text).strip())
    if not match:
        raise ValueError("invalid size: '%s'" % text)
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def chain_for(bridge):
    """The iptables chain of a bridge: YARD for yard0, YARD-<bridge> for any other (tests, labs)."""
    return "YARD" if bridge == "yard0" else ("YARD-" + bridge)[:15]
