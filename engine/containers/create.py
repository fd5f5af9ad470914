"""`POST /containers/create`: a request body and an image become a container record.

The image's defaults are merged into Config the way docker does (Entrypoint, Cmd, Env,
WorkingDir, User, ExposedPorts, Labels), and HostConfig is checked field by field with
docker's messages, so a bad request fails here and not at start.
"""
import os

from engine import runtime
from engine.containers.errors import InvalidParameter, NotFound
from engine.containers.record import ZERO_TIME, now

RESTART_POLICIES = ("", "no", "always", "unless-stopped", "on-failure")
MIN_MEMORY = 6 * 1024 * 1024
DEFAULT_SHM_SIZE = 64 * 1024 * 1024


def new_record(container_id, name, body, image, daemon_config):
    config = merged_config(container_id, body, image)
    host_config = checked_host_config(body.get("HostConfig") or {}, daemon_config)
    if host_config["NetworkMode"] == "host":
        config["Hostname"] = body.get("Hostname") or os.uname().nodename
    command = (config["Entrypoint"] or []) + (config["Cmd"] or [])
    if not command:
        raise InvalidParameter("No command specified")
    return {
        "Id": container_id,
        "Created": now(),
        "Path": command[0],
        "Args": command[1:],
        "State": {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
                  "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
                  "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME},
        "Image": image.id,
        "Name": "/" + name,
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "HasBeenManuallyStopped": False,
        "Config": config,
        "HostConfig": host_config,
        "NetworkSettings": {},
    }


def merged_config(container_id, body, image):
    defaults = image.config
    entrypoint = body.get("Entrypoint")
    if entrypoint == [""]:                      # `--entrypoint ""`: no entrypoint at all
        entrypoint = []
    cmd = body.get("Cmd")
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint]
    if isinstance(cmd, str):
        cmd = [cmd]
    if not entrypoint:
        if not cmd:
            cmd = defaults.get("Cmd")
        if entrypoint is None:
            entrypoint = defaults.get("Entrypoint")
    exposed = dict(defaults.get("ExposedPorts") or {})
    exposed.update(body.get("ExposedPorts") or {})
    for key in exposed:
        split_port(key)
    labels = dict(defaults.get("Labels") or {})
    labels.update(body.get("Labels") or {})
    config = {
        "Hostname": body.get("Hostname") or container_id[:12],
        "Domainname": body.get("Domainname") or "",
        "User": body.get("User") or defaults.get("User") or "",
        "AttachStdin": bool(body.get("AttachStdin")),
        "AttachStdout": bool(body.get("AttachStdout")),
        "AttachStderr": bool(body.get("AttachStderr")),
        "Tty": bool(body.get("Tty")),
        "OpenStdin": bool(body.get("OpenStdin")),
        "StdinOnce": bool(body.get("StdinOnce")),
        "Env": merged_env(defaults.get("Env") or [], body.get("Env") or []),
        "Cmd": cmd or None,
        "Image": body.get("Image"),
        "Volumes": body.get("Volumes"),
        "WorkingDir": body.get("WorkingDir") or defaults.get("WorkingDir") or "",
        "Entrypoint": entrypoint or None,
        "OnBuild": None,
        "Labels": labels,
    }
    if exposed:
        config["ExposedPorts"] = exposed
    stop_signal = body.get("StopSignal") or defaults.get("StopSignal")
    if stop_signal:
        config["StopSignal"] = stop_signal
    if body.get("StopTimeout") is not None:
        config["StopTimeout"] = int(body["StopTimeout"])
    return config


def merged_env(image_env, user_env):
    """The image's variables, overridden (by name) and extended by the user's."""
    merged = {}
    for entry in list(image_env) + list(user_env):
        merged[entry.split("=", 1)[0]] = entry
    return list(merged.values())


def split_port(key):
    """"80/tcp" -> (80, "tcp"); docker's message for anything else."""
    port, _, proto = str(key).partition("/")
    proto = proto or "tcp"
    if not port.isdigit() or not 0 < int(port) < 65536 or proto not in ("tcp", "udp", "sctp"):
        raise InvalidParameter("invalid port specification: \"%s\"" % key)
    return int(port), proto


def checked_host_config(host, daemon_config):
    host = dict(host)
    host["NetworkMode"] = network_mode(host.get("NetworkMode"))
    host["RestartPolicy"] = restart_policy(host.get("RestartPolicy") or {})
    if host.get("AutoRemove") and host["RestartPolicy"]["Name"] not in ("", "no"):
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    host["AutoRemove"] = bool(host.get("AutoRemove"))
    for bind in host.get("Binds") or []:
        check_bind(bind)
    host["Binds"] = host.get("Binds") or None
    host["PortBindings"] = port_bindings(host.get("PortBindings") or {})
    host["PublishAllPorts"] = bool(host.get("PublishAllPorts"))
    check_resources(host)
    host["ShmSize"] = int(host.get("ShmSize") or DEFAULT_SHM_SIZE)
    host["LogConfig"] = {"Type": "json-file", "Config": (host.get("LogConfig") or {}).get("Config") or {}}
    for key in ("CapAdd", "CapDrop", "SecurityOpt", "Dns", "DnsSearch", "DnsOptions", "ExtraHosts"):
        host[key] = host.get(key) or None
    host["Privileged"] = bool(host.get("Privileged"))
    host["CgroupnsMode"] = cgroupns_mode(host.get("CgroupnsMode"), host["Privileged"],
                                         daemon_config["default-cgroupns-mode"])
    return host


def cgroupns_mode(mode, privileged, daemon_default):
    """"host" or "private" as asked. When not asked, the daemon's default-cgroupns-mode, else
    docker's default for this host: private on cgroup v2, host on v1 and hybrid hosts (EL7,
    EL8), as docker ran containers there before it had cgroup namespaces; and host for a
    privileged container on those whatever the daemon says. (yard used to make every
    container private: programs that read /proc/self/cgroup now see what they see under
    docker.) The mode is recorded, as inspect shows it."""
    if mode not in (None, "", "host", "private"):
        raise InvalidParameter("invalid cgroup namespace mode: %s" % mode)
    if mode:
        return mode
    v2 = runtime.cgroup_v2()
    if privileged and not v2:
        return "host"
    return daemon_default or ("private" if v2 else "host")


def network_mode(mode):
    mode = mode or "default"
    if mode in ("default", "bridge", "host", "none") or (mode.startswith("container:") and len(mode) > 10):
        return mode
    raise NotFound("network %s not found" % mode)


def restart_policy(policy):
    name = policy.get("Name") or ""
    retries = int(policy.get("MaximumRetryCount") or 0)
    if name not in RESTART_POLICIES:
        raise InvalidParameter("invalid restart policy '%s'" % name)
    if retries < 0:
        raise InvalidParameter("maximum retry count cannot be negative")
    if retries and name != "on-failure":
        raise InvalidParameter("maximum retry count cannot be used with restart policy '%s'" % name)
    return {"Name": name, "MaximumRetryCount": retries}


def check_bind(bind):
    parts = bind.split(":")
    if len(parts) not in (2, 3) or not parts[1].startswith("/"):
        raise InvalidParameter("invalid volume specification: '%s'" % bind)
    if not parts[0].startswith("/"):
        raise InvalidParameter("invalid volume specification: '%s': named volumes are not supported, "
                               "give an absolute host path" % bind)
    if len(parts) == 3 and not set(parts[2].split(",")) <= {"ro", "rw", "z", "Z"}:
        raise InvalidParameter("invalid mode: %s" % parts[2])


def bind_mounts(binds):
    """Binds ("host:ctr[:ro]") as the runtime's mounts, and as inspect's Mounts."""
    mounts = []
    for bind in binds or []:
        parts = bind.split(":")
        readonly = len(parts) == 3 and "ro" in parts[2].split(",")
        mounts.append({"source": parts[0], "destination": parts[1], "readonly": readonly})
    return mounts


def port_bindings(bindings):
    checked = {}
    for key, entries in bindings.items():
        port, proto = split_port(key)
        checked["%d/%s" % (port, proto)] = entries = [dict(entry) for entry in entries or [{}]]
        for entry in entries:
            host_port = str(entry.get("HostPort") or "")
            if host_port and (not host_port.isdigit() or not 0 < int(host_port) < 65536):
                raise InvalidParameter("invalid port specification: \"%s\"" % host_port)
            entry["HostIp"] = entry.get("HostIp") or ""
            entry["HostPort"] = host_port
    return checked


def published_ports(config, host):
    """The ports to publish, as the network's connect() takes them."""
    ports = []
    bindings = host.get("PortBindings") or {}
    for key, entries in sorted(bindings.items()):
        port, proto = split_port(key)
        for entry in entries:
            ports.append({"proto": proto, "host_ip": entry["HostIp"], "host_port": int(entry["HostPort"] or 0),
                          "container_port": port})
    if host.get("PublishAllPorts"):
        for key in sorted(config.get("ExposedPorts") or {}):
            port, proto = split_port(key)
            if "%d/%s" % (port, proto) not in bindings:
                ports.append({"proto": proto, "host_ip": "", "host_port": 0, "container_port": port})
    return ports


def check_resources(host):
    memory = int(host.get("Memory") or 0)
    swap = int(host.get("MemorySwap") or 0)
    if 0 < memory < MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if swap > 0 and not memory:
        raise InvalidParameter("You should always set the Memory limit when using Memoryswap limit, see usage")
    if swap > 0 and swap < memory:
        raise InvalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    nano_cpus = int(host.get("NanoCpus") or 0)
    cpus = os.cpu_count() or 1
    if nano_cpus and (host.get("CpuQuota") or host.get("CpuPeriod")):
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano_cpus < 0 or nano_cpus > cpus * 10 ** 9:
        raise InvalidParameter("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available"
                               % (cpus, cpus))
    if int(host.get("CpuShares") or 0) < 0:
        raise InvalidParameter("invalid CPU shares: must not be negative")
    for key in ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "CpuQuota", "CpuPeriod"):
        host[key] = int(host.get(key) or 0)
    host["PidsLimit"] = int(host["PidsLimit"]) if (host.get("PidsLimit") or 0) > 0 else None
