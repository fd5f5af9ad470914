"""`yard version` and `yard info`, laid out as docker prints them."""
import platform
import sys

from engine import __version__
from engine.cli.client import API_PREFIX, ClientError


def version(client, argv):
    sys.stdout.write("Client:\n Version:           %s\n API version:       %s\n Python version:    %s\n"
                     " OS/Arch:           linux/%s\n\n"
                     % (__version__, API_PREFIX[2:], platform.python_version(), platform.machine()))
    try:
        server = client.get("/version")
    except ClientError as error:
        sys.stderr.write("%s\n" % error.message)
        return 1
    sys.stdout.write("Server:\n Engine:\n  Version:          %s\n  API version:      %s (minimum version %s)\n"
                     "  Runtime:          %s\n  OS/Arch:          %s/%s\n  Kernel:           %s\n"
                     % (server["Version"], server["ApiVersion"], server.get("MinAPIVersion", ""),
                        server.get("GoVersion", ""), server["Os"], server["Arch"], server.get("KernelVersion", "")))
    return 0


def info(client, argv):
    try:
        info_ = client.get("/info")
    except ClientError as error:
        sys.stderr.write("%s\n" % error.message)
        return 1
    lines = [
        "Server:",
        " Containers: %d" % info_["Containers"],
        "  Running: %d" % info_["ContainersRunning"],
        "  Paused: %d" % info_["ContainersPaused"],
        "  Stopped: %d" % info_["ContainersStopped"],
        " Images: %d" % info_["Images"],
        " Server Version: %s" % info_["ServerVersion"],
        " Storage Driver: %s" % info_["Driver"],
        " Logging Driver: %s" % info_["LoggingDriver"],
        " Cgroup Driver: %s" % info_["CgroupDriver"],
        " Cgroup Version: %s" % info_["CgroupVersion"],
        " Cgroup Parent: %s" % info_.get("CgroupParent", ""),
        " Bridge: %s" % info_.get("Bridge", ""),
        " Live Restore Enabled: %s" % str(info_["LiveRestoreEnabled"]).lower(),
        " Kernel Version: %s" % info_["KernelVersion"],
        " Operating System: %s" % info_["OperatingSystem"],
        " OSType: %s" % info_["OSType"],
        " Architecture: %s" % info_["Architecture"],
        " CPUs: %d" % info_["NCPU"],
        " Total Memory: %.2fGiB" % (info_["MemTotal"] / 1024.0 ** 3),
        " Name: %s" % info_["Name"],
        " Docker Root Dir: %s" % info_["DockerRootDir"],
        " Debug Mode: %s" % str(info_["Debug"]).lower(),
    ]
    mirrors = info_["RegistryConfig"].get("Mirrors") or []
    if mirrors:
        lines.append(" Registry Mirrors:")
        lines += ["  %s" % mirror for mirror in mirrors]
    insecure = info_.get("InsecureRegistries") or []
    if insecure:
        lines.append(" Insecure Registries:")
        lines += ["  %s" % registry for registry in insecure]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
