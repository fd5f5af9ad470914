"""A real yardd for tests: its own data root, socket, bridge, subnet, iptables chain and
cgroup parent, so that tests run beside each other (and beside other engineers' tests).

    daemon = Yardd(tmp_path); daemon.start(); daemon.yard("run", "--rm", "busybox", "true")
    daemon.stop()         # SIGTERM, as systemd does
    daemon.destroy()      # kills whatever is left (shims kept by live-restore), removes the
                          # bridge, chains and cgroups: the machine is as before
    daemon.leftovers()    # what the engine left behind (processes, veths, rules, mounts, cgroups)
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
YARD = [sys.executable, "-m", "engine.cli.main"]
CGROUP_ROOT = "/sys/fs/cgroup"


class Yardd:
    def __init__(self, directory, live_restore=False, extra_config=None):
        tag = secrets.token_hex(3)
        self.directory = str(directory)
        self.data_root = os.path.join(self.directory, "root")
        # Socket paths are limited to 108 bytes: keep it short, in its own directory.
        self.socket_dir = tempfile.mkdtemp(prefix="yd")
        self.socket = os.path.join(self.socket_dir, "yard.sock")
        self.host = "unix://" + self.socket
        self.bridge = "yt" + tag
        self.chain = ("YARD-" + self.bridge)[:15]
        self.cgroup_parent = "yardtest-" + tag
        self.bip = "10.%d.%d.1/24" % (220 + int(tag[:2], 16) % 30, int(tag[2:4], 16))
        self.config_file = os.path.join(self.directory, "daemon.json")
        self.config = {"live-restore": live_restore}
        self.config.update(extra_config or {})
        self.process = None
        self.log_path = os.path.join(self.directory, "yardd.log")

    # --- the daemon ----------------------------------------------------------------------
    def argv(self):
        return [sys.executable, "-m", "engine.daemon", "--config-file", self.config_file,
                "--data-root", self.data_root, "-H", self.host, "--bip", self.bip, "-b", self.bridge,
                "--cgroup-parent", self.cgroup_parent, "--group", "root"]

    def start(self):
        with open(self.config_file, "w") as target:
            json.dump(self.config, target)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                        stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("yardd exited %d:\n%s" % (self.process.returncode, self.log()))
            if self.ping():
                return self
            time.sleep(0.1)
        raise RuntimeError("yardd did not answer /_ping:\n%s" % self.log())

    def ping(self):
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(5)
                sock.connect(self.socket)
                sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: yard\r\n\r\n")
                return sock.recv(100).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise RuntimeError("yardd did not stop on SIGTERM:\n%s" % self.log())
        return self.process.returncode if self.process else None

    def log(self):
        with open(self.log_path, errors="replace") as source:
            return source.read()

    # --- clients --------------------------------------------------------------------------
    def yard(self, *args, input=None, timeout=120):
        """Run the yard CLI against this daemon: CompletedProcess with text stdout/stderr."""
        return subprocess.run(YARD + ["-H", self.host] + [str(a) for a in args], input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              cwd=REPO, timeout=timeout)

    def yard_ok(self, *args, **kwargs):
        result = self.yard(*args, **kwargs)
        assert result.returncode == 0, "yard %s exited %d: %s" % (" ".join(map(str, args)), result.returncode,
                                                                 result.stderr)
        return result.stdout

    def docker(self, *args, input=None, timeout=120):
        return subprocess.run(["docker", "-H", self.host] + [str(a) for a in args], input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=timeout)

    def inspect(self, name):
        return json.loads(self.yard_ok("inspect", name))[0]

    def load(self, archive):
        self.yard_ok("load", "-i", str(archive))

    # --- what is left behind --------------------------------------------------------------
    def engine_processes(self):
        """Live processes started for this daemon's containers: their shims, forks of the daemon,
        carry its command line, and so its --data-root."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == (self.process.pid if self.process else -1):
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as source:
                    if self.data_root.encode() in source.read():
                        found.append(int(entry))
            except OSError:
                pass
        return found

    def cgroups(self):
        found = []
        for controller in os.listdir(CGROUP_ROOT):
            path = os.path.join(CGROUP_ROOT, controller, self.cgroup_parent)
            if os.path.isdir(path):
                found += [os.path.join(path, child) for child in os.listdir(path)
                          if os.path.isdir(os.path.join(path, child))]
        return found

    def cgroup_processes(self):
        found = set()
        for path in self.cgroups():
            try:
                with open(os.path.join(path, "cgroup.procs")) as source:
                    found.update(int(line) for line in source if line.strip())
            except OSError:
                pass
        return sorted(found)

    def veths(self):
        """veths on our bridge."""
        path = "/sys/class/net/%s/brif" % self.bridge
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def rules(self):
        saved = subprocess.run(["iptables-save"], stdout=subprocess.PIPE, universal_newlines=True).stdout
        return [line for line in saved.splitlines() if self.chain in line or self.bridge in line]

    def mounts(self):
        with open("/proc/self/mountinfo") as source:
            return [line for line in source if self.data_root in line]

    def container_dirs(self):
        path = os.path.join(self.data_root, "containers")
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def leftovers(self):
        return {"processes": self.engine_processes(), "cgroups": self.cgroups(), "veths": self.veths(),
                "mounts": self.mounts(), "containers": self.container_dirs()}

    def destroy(self):
        """Undo everything, whatever state the test left (runs in fixtures' teardown)."""
        try:
            self.stop()
        finally:
            # Shims, and containers a live-restore daemon left running (they sit in our cgroups).
            for pid in self.engine_processes() + self.cgroup_processes():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            wait_for(lambda: not self.cgroup_processes(), timeout=30)
            for path in sorted(self.cgroups(), reverse=True):
                wait_for(lambda: _remove_cgroup(path), timeout=10)
            for controller in os.listdir(CGROUP_ROOT):
                _remove_cgroup(os.path.join(CGROUP_ROOT, controller, self.cgroup_parent))
            sys.path.insert(0, REPO)
            from engine.network import iptables
            iptables.remove_all(self.chain)
            for veth in self.veths():
                subprocess.run(["ip", "link", "del", veth], stderr=subprocess.DEVNULL)
            subprocess.run(["ip", "link", "del", self.bridge], stderr=subprocess.DEVNULL)
            shutil.rmtree(self.socket_dir, ignore_errors=True)


def _remove_cgroup(path):
    """Remove a cgroup and its children; True once it is gone (a dying process keeps it a moment)."""
    if not os.path.isdir(path):
        return True
    for child in sorted(os.listdir(path)):
        if os.path.isdir(os.path.join(path, child)):
            _remove_cgroup(os.path.join(path, child))
    try:
        os.rmdir(path)
    except OSError:
        return False
    return True


def fetch_published(port):
    """The first bytes a published port on this host answers with (b"" if none within 20 s)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                data = conn.recv(100)
                if data:
                    return data
        except OSError:
            pass
        time.sleep(0.2)
    return b""


def wait_for(predicate, timeout=30, interval=0.1):
    """Poll until `predicate()` is true; returns its last value (the test asserts on it)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


@pytest.fixture
def yardd(tmp_path, busybox_archive):
    """A started yardd with busybox:latest loaded; destroyed (and checked for leftovers by the
    tests that care) at the end."""
    daemon = Yardd(tmp_path)
    try:
        daemon.start()
        daemon.load(busybox_archive)
        yield daemon
    finally:
        daemon.destroy()
