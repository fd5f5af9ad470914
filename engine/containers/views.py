"""Docker's JSON shapes of a container: `inspect` (GET /containers/{id}/json) and the
summary `ps` lists (GET /containers/json), with docker's human status ("Up 3 seconds")."""
import time

from engine.containers.create import bind_mounts, split_port
from engine.containers.record import parse_time
from engine.humanize import human_duration


def inspect(container):
    data = container.data
    return {
        "Id": data["Id"], "Created": data["Created"], "Path": data["Path"], "Args": data["Args"],
        "State": dict(data["State"]), "Image": data["Image"],
        "ResolvConfPath": container.path("resolv.conf"), "HostnamePath": container.path("hostname"),
        "HostsPath": container.path("hosts"), "LogPath": container.log_path,
        "Name": data["Name"], "RestartCount": data["RestartCount"], "Driver": data["Driver"],
        "Platform": data["Platform"], "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": None, "HostConfig": data["HostConfig"],
        "GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": container.path("rootfs/upper"),
                                                     "WorkDir": container.path("rootfs/work"),
                                                     "MergedDir": container.path("rootfs/merged")}},
        "Mounts": mounts(container), "Config": data["Config"],
        "NetworkSettings": network_settings(container),
    }


def mounts(container):
    return [{"Type": "bind", "Source": mount["source"], "Destination": mount["destination"],
             "Mode": "ro" if mount["readonly"] else "", "RW": not mount["readonly"], "Propagation": "rprivate"}
            for mount in bind_mounts(container.host_config.get("Binds"))]


def network_settings(container):
    endpoint = container.data.get("NetworkSettings") or {}
    mode = container.host_config["NetworkMode"]
    network = "bridge" if mode == "default" else mode
    attached = {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": network, "EndpointID": "",
                "Gateway": endpoint.get("Gateway", ""), "IPAddress": endpoint.get("IPAddress", ""),
                "IPPrefixLen": endpoint.get("IPPrefixLen", 0), "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "MacAddress": endpoint.get("MacAddress", ""), "DriverOpts": None}
    return {
        "Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0, "Ports": port_map(container, endpoint),
        "SandboxKey": "/proc/%d/ns/net" % container.state["Pid"] if container.running else "",
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "",
        "Gateway": attached["Gateway"], "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "IPAddress": attached["IPAddress"], "IPPrefixLen": attached["IPPrefixLen"], "IPv6Gateway": "",
        "MacAddress": attached["MacAddress"],
        "Networks": {} if network.startswith("container:") else {network: attached},
    }


def port_map(container, endpoint):
    """{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}; exposed but unpublished ports map to None."""
    if not container.running:
        return {}
    ports = {key: None for key in container.config.get("ExposedPorts") or {}}
    for port in endpoint.get("Ports", []):
        key = "%d/%s" % (port["container_port"], port["proto"])
        ports[key] = (ports.get(key) or []) + [{"HostIp": port["host_ip"] or "0.0.0.0",
                                               "HostPort": str(port["host_port"])}]
    return ports


def summary(container):
    data, config = container.data, container.config
    endpoint = data.get("NetworkSettings") or {}
    return {
        "Id": data["Id"], "Names": [data["Name"]], "Image": config["Image"], "ImageID": data["Image"],
        "Command": " ".join([data["Path"]] + data["Args"]), "Created": int(parse_time(data["Created"])),
        "Ports": ports_list(container, endpoint), "Labels": config.get("Labels") or {},
        "State": container.state["Status"], "Status": status(container.state),
        "HostConfig": {"NetworkMode": container.host_config["NetworkMode"]},
        "NetworkSettings": {"Networks": network_settings(container)["Networks"]},
        "Mounts": mounts(container),
    }


def ports_list(container, endpoint):
    published = [{"IP": port["host_ip"] or "0.0.0.0", "PrivatePort": port["container_port"],
                  "PublicPort": port["host_port"], "Type": port["proto"]}
                 for port in endpoint.get("Ports", [])] if container.running else []
    seen = {(port["PrivatePort"], port["Type"]) for port in published}
    for key in sorted(container.config.get("ExposedPorts") or {}):
        port, proto = split_port(key)
        if (port, proto) not in seen:
            published.append({"PrivatePort": port, "Type": proto})
    return published


def status(state, now=None):
    now = now or time.time()
    if state["Status"] == "running":
        return "Up " + human_duration(now - parse_time(state["StartedAt"]))
    if state["Status"] == "restarting":
        return "Restarting (%d) %s ago" % (state["ExitCode"], human_duration(now - parse_time(state["FinishedAt"])))
    if state["Status"] == "exited":
        return "Exited (%d) %s ago" % (state["ExitCode"], human_duration(now - parse_time(state["FinishedAt"])))
    return state["Status"].capitalize()


