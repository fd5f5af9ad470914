"""System routes: /_ping, /version, /info."""
import os
import platform

from engine.api.server import API_VERSION, MIN_API_VERSION
from engine import __version__


def register(router, services):
    def ping(request):
        request.respond_raw(200, b"OK", headers={"Cache-Control": "no-cache", "Pragma": "no-cache"})

    def version(request):
        uname = os.uname()
        return {
            "Version": __version__,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "Os": "linux",
            "Arch": _go_arch(uname.machine),
            "KernelVersion": uname.release,
            "GoVersion": "python" + platform.python_version(),
            "GitCommit": "",
            # Newer docker CLIs print the server's section from these details.
            "Components": [{"Name": "Engine", "Version": __version__,
                            "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                        "Os": "linux", "Arch": _go_arch(uname.machine),
                                        "KernelVersion": uname.release, "Experimental": "false",
                                        "GitCommit": "", "GoVersion": "python" + platform.python_version(),
                                        "BuildTime": ""}}],
        }

    def info(request):
        return services.info()

    router.add("GET", "/_ping", ping)
    router.add("GET", "/version", version)
    router.add("GET", "/info", info)


def _go_arch(machine):
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(machine, machine)
