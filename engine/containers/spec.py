"""The runtime spec of a container (see engine/runtime's docstring) from its record."""
from engine.config import parse_size
from engine.containers.create import bind_mounts
from engine.containers.errors import InvalidParameter

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD = 100000


def runtime_spec(container, image, daemon_config, network_namespace):
    config, host = container.config, container.host_config
    return {
        "id": container.id,
        "rootfs": {"lower": image.layer_dirs(), "upper": container.path("rootfs/upper"),
                   "work": container.path("rootfs/work"), "merged": container.path("rootfs/merged")},
        "args": [container.data["Path"]] + container.data["Args"],
        "env": environment(config),
        "cwd": config["WorkingDir"] or "/",
        "user": config["User"],
        "hostname": config["Hostname"],
        "tty": config["Tty"],
        "stdin": config["OpenStdin"],
        "mounts": bind_mounts(host.get("Binds")),
        "etc_files": {"/etc/hosts": container.path("hosts"), "/etc/resolv.conf": container.path("resolv.conf"),
                      "/etc/hostname": container.path("hostname")},
        "namespaces": {"network": network_namespace, "pid": None, "ipc": None,
                       "uts": "host" if host["NetworkMode"] == "host" else None,
                       "cgroup": "host" if host["CgroupnsMode"] == "host" else None},
        "cgroup": cgroup(host, daemon_config),
        "cap_add": host.get("CapAdd") or [],
        "cap_drop": host.get("CapDrop") or [],
        "privileged": host["Privileged"],
        "no_new_privileges": daemon_config["no-new-privileges"] or any(
            option in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true")
            for option in host.get("SecurityOpt") or []),
        "shm_size": host["ShmSize"],
        "log": log_settings(container, daemon_config),
    }


def environment(config):
    """The image's and user's variables, plus what docker adds: HOSTNAME, a PATH, TERM for a tty."""
    env = ["HOSTNAME=" + config["Hostname"]] + list(config["Env"])
    names = {entry.split("=", 1)[0] for entry in env}
    if "PATH" not in names:
        env.insert(0, DEFAULT_PATH)
    if config["Tty"] and "TERM" not in names:
        env.append("TERM=xterm")
    return env


def cgroup(host, daemon_config):
    quota, period = host["CpuQuota"], host["CpuPeriod"]
    if host["NanoCpus"]:
        quota, period = host["NanoCpus"] * CPU_PERIOD // 10 ** 9, CPU_PERIOD
    return {"parent": daemon_config["cgroup-parent"], "memory": host["Memory"],
            "memory_swap": host["MemorySwap"], "cpu_quota": quota, "cpu_period": period,
            "cpu_shares": host["CpuShares"], "pids_limit": host["PidsLimit"] or 0}


def log_settings(container, daemon_config):
    options = dict(daemon_config["log-opts"])
    options.update(container.host_config["LogConfig"]["Config"])
    try:
        max_size = parse_size(options["max-size"]) if options.get("max-size") else 0
        max_file = int(options.get("max-file") or 1)
    except ValueError as error:
        raise InvalidParameter("invalid log-opt: %s" % error)
    return {"path": container.log_path, "max_size": max_size, "max_file": max_file}
