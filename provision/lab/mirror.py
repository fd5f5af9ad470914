"""The lab's Debian package mirror: apt-cacher-ng on the bridge address, forwarding to this
machine's apt sources, so that package steps on lab hosts are real installs.

The machine's Debian archives are served as http://<bridge>:3142/debian (bookworm and
bookworm-updates) and http://<bridge>:3142/debian-security, each forwarding to the machine's own.
Downloads are cached outside the lab's state, so a lab brought down and up again is quick.
"""
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

from provision.lab import aptsources, templates
from provision.lab.command import LabError
from provision.lab.rootfs import SUITE
from provision.lab.settings import CACHE, MIRROR_PORT

PROGRAM = "/usr/sbin/apt-cacher-ng"


def directory(lab):
    return lab.state_dir / "mirror"


def archives():
    """The archives the mirror serves, named by their path on it: debian, debian-security.

    Any Debian mirror serves every suite of its archive, so suites found under two URIs of the
    same archive are served from the first.
    """
    served = {}
    for source in aptsources.debian_archives(SUITE):
        name = "debian-security" if SUITE + "-security" in source.suites else "debian"
        first = served.setdefault(name, aptsources.Source(source.uri, (), source.components))
        suites = first.suites + tuple(s for s in source.suites if s not in first.suites)
        served[name] = aptsources.Source(first.uri, suites, first.components)
    return [Archive(name, source) for name, source in served.items()]


@dataclass(frozen=True)
class Archive:
    name: str                   # its path on the mirror
    source: aptsources.Source   # where the mirror forwards to

    @property
    def suites(self):
        return self.source.suites

    @property
    def components(self):
        return self.source.components

    @property
    def uri(self):
        return self.source.uri


def url(lab, archive):
    """The mirror's address for one archive, as it goes in a deb line on a lab host."""
    return "%s/%s" % (lab.mirror_url, archive.name)


def pids(lab):
    """The lab's mirror processes, found by their command line (a pid file could be stale,
    or lost to a run that was killed)."""
    wanted = [PROGRAM.encode(), b"-c", str(directory(lab) / "config").encode()]
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as cmdline:
                if cmdline.read().split(b"\0")[:3] == wanted:
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def answering(lab):
    try:
        with socket.create_connection((lab.gateway, MIRROR_PORT), timeout=1):
            return True
    except OSError:
        return False


def up(lab):
    if pids(lab):
        return
    if not os.path.exists(PROGRAM):
        raise LabError("mirror: %s is missing (apt-get install apt-cacher-ng)" % PROGRAM)
    state = directory(lab)
    (state / "config").mkdir(parents=True, exist_ok=True)
    cache = CACHE / ("mirror-%s" % lab.name)
    cache.mkdir(parents=True, exist_ok=True)
    forget_release_indexes(cache)
    templates.write(state / "config" / "acng.conf", "acng.conf", lab=lab.name,
                    address=lab.gateway, port=MIRROR_PORT, cache_dir=cache, log_dir=state,
                    socket=state / "socket", pid_file=state / "acng.pid", archives=archives())
    with open(state / "mirror.log", "ab") as log:
        process = subprocess.Popen([PROGRAM, "-c", str(state / "config")],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   start_new_session=True)
    deadline = time.monotonic() + 15
    while not answering(lab):
        if process.poll() is not None or time.monotonic() > deadline:
            down(lab)
            raise LabError("mirror: apt-cacher-ng did not start on %s:%d; see %s"
                           % (lab.gateway, MIRROR_PORT, state / "mirror.log"))
        time.sleep(0.2)


def forget_release_indexes(cache):
    """A running mirror keeps release indexes as first fetched (see acng.conf), so a mirror
    starts without them and fetches them afresh. Copies an older refresh moved aside
    (InRelease.<time>) go too; the by-hash files the indexes name stay cached."""
    for index in cache.glob("*/dists/*/*Release*"):
        index.unlink()


def down(lab):
    for number in pids(lab):
        os.kill(number, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while pids(lab) and time.monotonic() < deadline:
        time.sleep(0.1)
    for number in pids(lab):
        os.kill(number, signal.SIGKILL)


def describe(lab):
    state = "running" if pids(lab) else "stopped"
    return "mirror %s: %s (%s)" % (lab.mirror_url, state,
                                   ", ".join("/" + archive.name for archive in archives()))
