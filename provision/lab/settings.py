"""Where one lab lives: its name, addresses, and the paths of everything it makes.

One machine can hold more than one lab (the lab tests run their own beside a developer's),
so every name, address and path comes from a `Lab`. The defaults are the lab of the README;
DOCKYARD_LAB_NAME, DOCKYARD_LAB_SUBNET and DOCKYARD_LAB_DIR select another.
"""
import os
import re
from dataclasses import dataclass
from pathlib import Path

from provision.lab.command import LabError

REPOSITORY = Path(__file__).resolve().parents[2]
TEMPLATES = REPOSITORY / "templates" / "lab"

# Built once and shared by every lab: the root filesystem and the mirror's downloads.
CACHE = Path("/var/cache/dockyard/lab")
# Per-lab state: hosts' writable layers, engine directories, logs. `down` removes it.
STATE = Path("/var/lib/dockyard")

MIRROR_PORT = 3142
FIRST_HOST_OCTET = 11   # lab-1 is .11, lab-2 .12, ...
MAX_HOSTS = 200


@dataclass(frozen=True)
class Lab:
    name: str = "lab"               # hosts are <name>-1 .. <name>-N, the bridge dy<name>0
    subnet: str = "10.88.0"         # a /24; the bridge (and mirror) is .1
    out_dir: Path = REPOSITORY / "lab"   # hosts.ini, known_hosts and the lab key

    @classmethod
    def from_environment(cls):
        defaults = cls()
        lab = cls(name=os.environ.get("DOCKYARD_LAB_NAME", defaults.name),
                  subnet=os.environ.get("DOCKYARD_LAB_SUBNET", defaults.subnet),
                  out_dir=Path(os.environ.get("DOCKYARD_LAB_DIR", defaults.out_dir)).resolve())
        # Interface names hold 15 characters: "vb-<name>-<N>" (nspawn's veth) must fit.
        if not re.fullmatch(r"[a-z][a-z0-9]{0,6}", lab.name):
            raise LabError("DOCKYARD_LAB_NAME=%r: want 1 to 7 lower-case letters or digits, "
                           "starting with a letter" % lab.name)
        octets = lab.subnet.split(".")
        if len(octets) != 3 or not all(o.isdigit() and int(o) < 256 for o in octets):
            raise LabError("DOCKYARD_LAB_SUBNET=%r: want the first three octets of a /24, "
                           "as 10.88.0" % lab.subnet)
        return lab

    @property
    def bridge(self):
        return "dy%s0" % self.name

    @property
    def gateway(self):
        return "%s.1" % self.subnet

    @property
    def state_dir(self):
        return STATE / self.name

    @property
    def mirror_url(self):
        return "http://%s:%d" % (self.gateway, MIRROR_PORT)

    @property
    def key_file(self):
        return self.out_dir / "id_ed25519"

    @property
    def hosts_file(self):
        return self.out_dir / "hosts.ini"

    @property
    def known_hosts_file(self):
        return self.out_dir / "known_hosts"

    def host_name(self, index):
        return "%s-%d" % (self.name, index)

    def host_address(self, index):
        return "%s.%d" % (self.subnet, FIRST_HOST_OCTET + index - 1)
