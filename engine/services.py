"""The daemon's services, built from its configuration: images, network, containers.

    services = Services(config)     config: engine.config.load()'s dict
    services.start()                bridge up and rules in place, containers restored
    services.info()                 GET /info
    services.shutdown()             containers stopped (unless live-restore), rules removed
"""
import os
import socket

from engine import __version__
from engine.config import chain_for
from engine.containers.record import now
from engine.containers.service import ContainerService
from engine.images.service import ImageService
from engine.network import Bridge


class Services:
    def __init__(self, config):
        root = config["data-root"]
        self.config = config
        self.network = Bridge(os.path.join(root, "network"), name=config["bridge"], bip=config["bip"] or None,
                              iptables=config["iptables"], ip_forward=config["ip-forward"],
                              chain=chain_for(config["bridge"]))
        self.images = ImageService(root=os.path.join(root, "image"), config=config)
        self.containers = ContainerService(os.path.join(root, "containers"), config, self.images, self.network)
        self.images.set_in_use(self.containers.image_in_use)

    def start(self):
        self.network.setup()
        self.containers.restore()

    def shutdown(self):
        self.containers.shutdown()
        if not self.config["live-restore"]:
            self.network.teardown()        # with live-restore, running containers keep their ports

    def info(self):
        counts = self.containers.counts()
        uname = os.uname()
        cgroup_version = "2" if not os.path.isdir("/sys/fs/cgroup/memory") else "1"
        return {
            "ID": "", "Name": socket.gethostname(), "ServerVersion": __version__,
            "Containers": counts["total"], "ContainersRunning": counts["running"],
            "ContainersPaused": counts["paused"], "ContainersStopped": counts["stopped"],
            "Images": len(self.images.list_images()),
            "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]],
            "DockerRootDir": self.config["data-root"],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file"]},
            "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True,
            "CPUShares": True, "PidsLimit": True, "OomKillDisable": False,
            "IPv4Forwarding": _read("/proc/sys/net/ipv4/ip_forward") == "1",
            "BridgeNfIptables": _read("/proc/sys/net/bridge/bridge-nf-call-iptables") == "1",
            "BridgeNfIp6tables": _read("/proc/sys/net/bridge/bridge-nf-call-ip6tables") == "1",
            "Debug": self.config["debug"], "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version, "KernelVersion": uname.release,
            "OperatingSystem": _os_name(), "OSType": "linux", "OSVersion": "",
            "Architecture": uname.machine, "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {},
                               "Mirrors": self.config["registry-mirrors"],
                               "AllowNondistributableArtifactsCIDRs": [],
                               "AllowNondistributableArtifactsHostnames": []},
            "InsecureRegistries": self.config["insecure-registries"],
            "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Labels": [], "ExperimentalBuild": False,
            "LiveRestoreEnabled": self.config["live-restore"], "Isolation": "", "InitBinary": "",
            "SecurityOptions": [],
            "CgroupParent": self.config["cgroup-parent"], "Bridge": self.config["bridge"],
            "Runtimes": {"yard": {"path": "yard-shim"}}, "DefaultRuntime": "yard",
            "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": False,
                      "Error": "", "RemoteManagers": None},
            "SystemTime": now(), "Warnings": [],
        }


def _read(path):
    try:
        with open(path) as source:
            return source.read().strip()
    except OSError:
        return ""


def _os_name():
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def _mem_total():
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0
