"""What `provision lab up` hands to `provision apply`: the lab key, lab/hosts.ini, lab/known_hosts.

hosts.ini puts every host in `engines` and the last one also in `registry`; each host's engine
gets its own cgroup parent (the lab's hosts share the machine's cgroup tree). The package mirror
goes in as <archive>_mirror (debian_mirror, debian_security_mirror), each a URL for a deb line.
"""
from dataclasses import dataclass

from provision.lab import machine, mirror, templates
from provision.lab.command import LabError, run


@dataclass
class Entry:
    name: str
    address: str
    key: str


def ensure_key(lab):
    """The lab's SSH key pair (mode 0600), generated once; returns the public key line."""
    lab.out_dir.mkdir(parents=True, exist_ok=True)
    if not lab.key_file.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dockyard-%s" % lab.name,
             "-f", lab.key_file], "lab key")
    lab.key_file.chmod(0o600)
    return lab.key_file.with_suffix(".pub").read_text().strip()


def write(lab, indexes):
    entries = []
    for index in indexes:
        key = machine.host_key(lab, index)
        if key is None:
            raise LabError("%s: has no host key to write into %s" % (lab.host_name(index),
                                                                   lab.known_hosts_file))
        # A public key file reads "type base64 comment"; known_hosts wants "type base64".
        entries.append(Entry(lab.host_name(index), lab.host_address(index),
                             " ".join(key.split()[:2])))
    mirrors = [(archive.name.replace("-", "_"), mirror.url(lab, archive))
               for archive in mirror.archives()]
    templates.write(lab.known_hosts_file, "known_hosts", hosts=entries)
    templates.write(lab.hosts_file, "hosts.ini", hosts=entries, key_file=lab.key_file,
                    known_hosts=lab.known_hosts_file, mirrors=mirrors)


def remove(lab):
    for path in [lab.hosts_file, lab.known_hosts_file, lab.key_file,
                 lab.key_file.with_suffix(".pub")]:
        path.unlink(missing_ok=True)
    if lab.out_dir.is_dir() and not any(lab.out_dir.iterdir()):
        lab.out_dir.rmdir()
