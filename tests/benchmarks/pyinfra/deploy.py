"""The host preparation of provision/steps.yml (without the registry), as a pyinfra deploy: the
reference bench_provision.py times provision against. Variables are provision's defaults under
the inventory's; files come from the repository's templates/. BENCH_BUNDLE names the engine
zipapp built by provision.bundle; BENCH_INSTALLED and BENCH_INSTALL_SCRIPT how provision installs it.

    BENCH_HOSTS_INI=lab/hosts.ini BENCH_BUNDLE=yard.pyz pyinfra -y inventory.py deploy.py
"""
import json
import os
from pathlib import Path

import jinja2
import jinja2.ext
import yaml
from pyinfra import host
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

REPOSITORY = Path(__file__).resolve().parents[3]
TEMPLATES = REPOSITORY / "templates"
MARKER = "Managed by Dockyard"


class DockyardFilters(jinja2.ext.Extension):
    """The two filters provision adds to Jinja (provision/variables.py); pyinfra's template
    environment takes extensions but no filters."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.filters.update(
            bool=lambda value: str(value).lower() in ("1", "true", "yes", "on"),
            to_nice_json=lambda value, indent=2: json.dumps(value, indent=indent, sort_keys=True),
        )


def template(src, dest, mode="0644"):
    # pyinfra pops the loader out of the dict it is given: a fresh one each time.
    jinja = {"loader": jinja2.FileSystemLoader(str(TEMPLATES)), "trim_blocks": True,
             "extensions": [DockyardFilters]}
    return files.template(name=dest, src=str(TEMPLATES / src), dest=dest, mode=mode,
                          jinja_env_kwargs=jinja, **variables)


def ping_yard():
    # Debian's python3 is on the host (the engine needs it): GET /_ping on the unix socket.
    probe = ("import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/yard.sock'); "
             "s.sendall(b'GET /_ping HTTP/1.0\\r\\n\\r\\n'); exit(b' 200 ' not in s.recv(64))")
    return ('for i in $(seq %d); do python3 -c "%s" 2>/dev/null && exit 0; sleep 1; done; exit 1'
            % (variables["engine_wait_seconds"], probe))


distribution = host.get_fact(LinuxDistribution)
variables = {
    **yaml.safe_load((REPOSITORY / "provision/defaults.yml").read_text()),
    **host.data.dict(),
    "facts": {"os_family": "debian", "distribution": distribution["name"].lower(),
              "distribution_codename": distribution["release_meta"]["VERSION_CODENAME"]},
}

for name in variables["replaced_repo_files"]["debian"]:
    path = "/etc/apt/" + name
    # As provision's move_aside: a file Dockyard wrote itself stays where it is.
    server.shell(name="Keep %s aside" % path, commands=[
        'if [ -f {p} ] && ! grep -qF "{m}" {p}; then mv {p} {p}.dockyard-bak; fi'
        .format(p=path, m=MARKER)])
template("apt/sources.list.j2", "/etc/apt/sources.list")

apt.packages(name="Packages the engine needs",
             packages=variables["engine_packages"]["debian"] + variables["extra_packages"],
             update=True, cache_time=3600, no_recommends=True)

template("modules-load.d/yard.conf.j2", "/etc/modules-load.d/yard.conf")
# Built-in modules count as loaded, as provision's kernel_module probes them.
server.shell(name="Kernel modules loaded now", commands=[
    "[ -d /proc/sys/net/bridge ] || modprobe br_netfilter",
    "grep -qw overlay /proc/filesystems || modprobe overlay"])
sysctls = template("sysctl.d/99-yard.conf.j2", "/etc/sysctl.d/99-yard.conf")
server.shell(name="Apply the sysctls", commands=["sysctl -q -p /etc/sysctl.d/99-yard.conf"],
             _if=sysctls.did_change)

bundle_dir = os.path.dirname(variables["yard_bundle_path"])
files.directory(name=bundle_dir, path=bundle_dir, mode="0755")
engine = [
    files.put(name="yard bundle", src=os.environ["BENCH_BUNDLE"],
              dest=variables["yard_bundle_path"], mode="0755"),
    template("yard/yardd.j2", variables["yard_bin_dir"] + "/yardd", mode="0755"),
]
# provision's engine_bundle installs the bundle compiled beside its link, with the same script
# (passed in by bench_provision.py), once per bundle. Not among `engine`: a shell operation
# always counts as changed, and the bundle's upload already restarts yard.
server.shell(name="yard bundle installed, compiled", commands=[
    "[ -d %s ] || (%s)" % (os.environ["BENCH_INSTALLED"], os.environ["BENCH_INSTALL_SCRIPT"])])
template("yard/yard.j2", variables["yard_bin_dir"] + "/yard", mode="0755")
files.directory(name="/etc/yard", path="/etc/yard", mode="0755")
engine.append(template("daemon.json.j2", "/etc/yard/daemon.json"))
unit = template("yard/yard.service.j2", "/etc/systemd/system/yard.service")
engine.append(unit)

systemd.daemon_reload(name="systemd knows the current yard unit", _if=unit.did_change)
systemd.service(name="yard enabled and running", service="yard", running=True, enabled=True)
systemd.service(name="restart yard", service="yard", restarted=True, _if=any_changed(*engine))
server.shell(name="yard API answers", commands=[ping_yard()])
