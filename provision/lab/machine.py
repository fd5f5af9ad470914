"""One lab host: its writable root, its identity, and the systemd-nspawn process that boots it.

A host's files live in <state>/hosts/<name>/: `upper` and `work` (its overlay over the shared
rootfs, mounted on `root`), `engine/` (plain directories bind-mounted for engine state, since an
engine whose data sits on overlayfs fails renames with EXDEV) and `nspawn.log`. This machine's
PID 1 is not systemd, so there is no machinectl: a host's process is found by its command line.
"""
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from provision.lab import cgroups, mirror, templates
from provision.lab.command import LabError, mounts_under, remove_tree, run

ENGINE_DIRS = ["/var/lib/yard", "/var/lib/docker", "/var/lib/docker-registry"]
BOOT_TIMEOUT = 90   # seconds for sshd to answer; a host boots in about 2 on an idle machine
STOP_TIMEOUT = 30
INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
# Every lab host runs its own systemd, each holding inotify instances; the kernel's default
# of 128 runs out at about 16 hosts ("Too many open files" at boot).
INOTIFY_WANTED = 8192


def directory(lab, index):
    return lab.state_dir / "hosts" / lab.host_name(index)


def host_key(lab, index):
    """The host's public key line, as generated before its first boot (None before that)."""
    path = directory(lab, index) / "upper/etc/ssh/ssh_host_ed25519_key.pub"
    return path.read_text().strip() if path.exists() else None


def present(lab):
    """Indexes of the hosts that have state or a running process, in order."""
    prefix = lab.name + "-"
    names = set()
    hosts = lab.state_dir / "hosts"
    if hosts.is_dir():
        names.update(path.name for path in hosts.iterdir())
    names.update(machine for machine, _ in nspawn_processes())
    return sorted(int(name[len(prefix):]) for name in names
                  if name.startswith(prefix) and name[len(prefix):].isdigit())


def nspawn_processes():
    """(machine name, pid) of every systemd-nspawn process on this machine."""
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as cmdline:
                argv = cmdline.read().decode(errors="replace").split("\0")
        except (OSError, ValueError):
            continue
        if os.path.basename(argv[0]) == "systemd-nspawn":
            for arg in argv:
                if arg.startswith("--machine="):
                    yield arg[len("--machine="):], int(entry)


def pid(lab, index):
    for machine, number in nspawn_processes():
        if machine == lab.host_name(index):
            return number
    return None


def prepare(lab, index, rootfs, authorized_key):
    """Mount the host's root and write what makes it this host, before it boots."""
    name, address = lab.host_name(index), lab.host_address(index)
    host = directory(lab, index)
    for part in ["upper", "work", "root"] + ["engine" + path for path in ENGINE_DIRS]:
        (host / part).mkdir(parents=True, exist_ok=True)
    root = host / "root"
    if str(root) not in mounts_under(root):
        run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s,workdir=%s"
             % (rootfs, host / "upper", host / "work"), root], "%s: mounting its root" % name)
    etc = root / "etc"
    (etc / "hostname").write_text(name + "\n")
    if not (etc / "machine-id").read_text().strip():
        (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")
    templates.write(etc / "hosts", "hosts", host=name, address=address)
    templates.write(etc / "systemd/network/80-container-host0.network", "host0.network",
                    host=name, address=address)
    templates.write(etc / "apt/sources.list.d/debian.sources", "debian.sources", host=name,
                    mirror=lab.mirror_url, archives=mirror.archives())
    if not (etc / "ssh/ssh_host_ed25519_key").exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@" + name,
             "-f", etc / "ssh/ssh_host_ed25519_key"], "%s: generating its host key" % name)
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    (root / "root/.ssh/authorized_keys").write_text(authorized_key + "\n")


def allow_many_hosts():
    """Raise fs.inotify.max_user_instances for the hosts' systemds. `down` leaves it raised:
    another lab, or anything else on this machine, may count on it by then."""
    if int(INOTIFY_INSTANCES.read_text()) < INOTIFY_WANTED:
        INOTIFY_INSTANCES.write_text(str(INOTIFY_WANTED))


def boot(lab, index):
    """Start systemd-nspawn for the host, detached, in cgroups of its own, its console going
    to nspawn.log."""
    name, host = lab.host_name(index), directory(lab, index)
    own_cgroups = cgroups.create("dockyard-" + name)
    (host / "cgroups").write_text("".join("%s\n" % path for path in own_cgroups))
    argv = ["systemd-nspawn", "--boot", "--machine=" + name, "--directory", str(host / "root"),
            "--network-bridge=" + lab.bridge, "--register=no", "--keep-unit", "--link-journal=no",
            "--resolv-conf=off", "--timezone=off", "--console=read-only",
            # Engines inside need every capability (mounts, iptables, cgroups of their own).
            "--capability=all", "--system-call-filter=@keyring"]
    for path in ENGINE_DIRS:
        argv.append("--bind=%s:%s" % (host / ("engine" + path), path))
    with open(host / "nspawn.log", "ab") as log:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, preexec_fn=lambda: cgroups.enter(own_cgroups))


def sshd_answers(address):
    try:
        with socket.create_connection((address, 22), timeout=2) as connection:
            return connection.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def wait_booted(lab, indexes):
    """Wait until every host's sshd answers; raise naming the first that does not."""
    waiting = list(indexes)
    deadline = time.monotonic() + BOOT_TIMEOUT
    while waiting:
        for index in list(waiting):
            name = lab.host_name(index)
            if sshd_answers(lab.host_address(index)):
                waiting.remove(index)
            elif pid(lab, index) is None:
                raise LabError("%s: systemd-nspawn exited while booting: %s"
                               % (name, log_tail(lab, index)))
            elif time.monotonic() > deadline:
                raise LabError("%s: sshd on %s did not answer within %d s: %s"
                               % (name, lab.host_address(index), BOOT_TIMEOUT, log_tail(lab, index)))
        time.sleep(0.5)


def log_tail(lab, index):
    log = directory(lab, index) / "nspawn.log"
    lines = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
    return "%s (see %s)" % (" / ".join(lines) or "no output", log)


def stop(lab, index):
    """Power the host off (nspawn turns SIGTERM into a clean shutdown), killing it if it hangs."""
    number = pid(lab, index)
    if number is None:
        return
    os.kill(number, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid(lab, index) == number and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid(lab, index) == number:
        os.kill(number, signal.SIGKILL)
        while pid(lab, index) == number:
            time.sleep(0.1)


def remove(lab, index):
    """Stop the host and delete everything it had: cgroups, mounts, writable layer, engine state."""
    stop(lab, index)
    recorded = directory(lab, index) / "cgroups"
    if recorded.exists():
        cgroups.remove([Path(line) for line in recorded.read_text().splitlines()],
                       lab.host_name(index))
    remove_tree(directory(lab, index), lab.host_name(index))


def describe(lab, index):
    state = "running" if pid(lab, index) else "stopped"
    if state == "running" and not sshd_answers(lab.host_address(index)):
        state = "running (sshd not answering)"
    return "%-10s %-15s %s" % (lab.host_name(index), lab.host_address(index), state)
