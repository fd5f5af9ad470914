"""The daemon's side of a shim: start one (launch, spawn) and talk to it (Shim).

A Shim is only a directory name: it can be made again at any time, e.g. after a daemon
restart, and finds the shim through the files and the socket in that directory.
"""
import collections
import json
import os
import signal
import socket

from .bundle import read_int, read_json, read_line, remove, with_socket_address, write_json
from .cgroups import Cgroup

ExitStatus = collections.namedtuple("ExitStatus", "code oom_killed finished_at")

REQUEST_TIMEOUT = 10.0


class CreateError(RuntimeError):
    """The container (or exec) could not be created; `exit_code` is docker's code for it."""

    def __init__(self, message, exit_code=125):
        RuntimeError.__init__(self, message)
        self.exit_code = exit_code


# Shims this daemon forked: its children until they end, collected by reap_shims().
_children = set()


def start_time(pid):
    """When process `pid` started (clock ticks after boot): with its pid, names it for good.
    None once it has ended (a zombie)."""
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rpartition(")")[2].split()
    return None if fields[0] == "Z" else int(fields[19])


def reap_shims():
    """Collect the shims of this daemon that have ended: the daemon calls it every second."""
    for pid in list(_children):
        try:
            ended = os.waitpid(pid, os.WNOHANG)[0]
        except ChildProcessError:             # collected by another thread meanwhile
            ended = pid
        if ended:
            _children.discard(pid)


def spawn(mode, directory):
    """Start a shim for `directory` and wait until its process is created (or failed).

    The shim is a fork of the daemon (shim.main): it runs the code the daemon has in memory,
    with no interpreter to start and nothing to import (a fresh `python -c` shim took more
    than half of a container's start), and it is always the daemon's own version of that
    code, whatever an upgrade does to the files meanwhile. It starts a session of its own,
    so a daemon restart does not touch it (it is then nobody's child). It does not fork
    again to stop being the daemon's child (a fork of the daemon costs a few ms): the
    daemon collects it once it ends (reap_shims). Its own errors go to shim.log.
    """
    from .shim import main                  # here: the shim imports this module
    ready_read, ready_write = os.pipe()
    log = os.open(os.path.join(directory, "shim.log"),
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        shim = os.fork()
        if shim == 0:                       # never returns to the daemon's code
            main(mode, directory, ready_write, log)
    finally:
        os.close(ready_write)               # the shim holds the only other end: EOF if it dies
        os.close(log)
    _children.add(shim)
    with os.fdopen(ready_read, "rb") as ready:
        reply = ready.readline()
    if not reply:
        raise CreateError("the container shim failed to start (see %s)"
                          % os.path.join(directory, "shim.log"))
    message = json.loads(reply.decode())
    if "error" in message:
        raise CreateError(message["error"], message["code"])


def launch(bundle_dir, spec):
    """Create the container described by `spec` (see the package docstring); returns its Shim."""
    os.makedirs(bundle_dir, exist_ok=True)
    for stale in ("exit.json", "started"):              # a previous run's end is not this one's
        remove(os.path.join(bundle_dir, stale))
    write_json(os.path.join(bundle_dir, "spec.json"), spec)
    spawn("container", bundle_dir)
    return Shim(bundle_dir)


class Shim:
    """A handle on a running (or finished) shim, from its directory; survives daemon restarts."""

    def __init__(self, directory):
        self.directory = directory
        try:
            self.pid = read_int(os.path.join(directory, "pid"))
        except FileNotFoundError:
            if not os.path.exists(os.path.join(directory, "exit.json")):
                raise
            self.pid = None                                  # cleaned up: only exit.json is left

    def _path(self, name):
        return os.path.join(self.directory, name)

    def _connect(self, timeout=REQUEST_TIMEOUT):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            with_socket_address(self.directory, sock.connect)
        except OSError:
            sock.close()
            raise
        return sock

    def _request(self, message, timeout=REQUEST_TIMEOUT):
        """Send one request; -> (socket, reply dict or None when the shim hung up)."""
        sock = self._connect(timeout)
        sock.sendall((json.dumps(message) + "\n").encode())
        line = read_line(sock)
        return sock, (json.loads(line.decode()) if line else None)

    def _call(self, message):
        """One request to a live shim; -> its open socket. RuntimeError when it cannot answer."""
        try:
            sock, reply = self._request(message)
        except (FileNotFoundError, ConnectionRefusedError):
            raise RuntimeError("container %s is not running" % os.path.basename(self.directory))
        if reply is None or "error" in reply:
            sock.close()
            raise RuntimeError(reply["error"] if reply else "the shim hung up")
        return sock

    def start(self):
        self._call({"op": "start"}).close()

    def resize(self, height, width):
        self._call({"op": "resize", "height": height, "width": width}).close()

    def signal(self, signum):
        self._call({"op": "signal", "signum": int(signum)}).close()

    def attach(self, stdin=False, stdout=True, stderr=True):
        """A blocking socket: output as docker frames it; what you send is the stdin."""
        sock = self._call({"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr})
        sock.settimeout(None)
        return sock

    def wait(self, timeout=None):
        """The ExitStatus once the process has ended; None if `timeout` seconds pass first."""
        try:
            sock, reply = self._request({"op": "wait"}, timeout)
        except (FileNotFoundError, ConnectionRefusedError):
            return self.exit_status()
        except socket.timeout:
            return None
        sock.close()
        return ExitStatus(**reply) if reply else self.exit_status()

    def status(self):
        if os.path.exists(self._path("exit.json")) or not self._shim_alive():
            return "exited"
        return "running" if os.path.exists(self._path("started")) else "created"

    def exit_status(self):
        """How it ended; a shim that vanished without saying (host reboot) counts as 255."""
        try:
            return ExitStatus(**read_json(self._path("exit.json")))
        except FileNotFoundError:
            if self._shim_alive():
                return None
            return ExitStatus(255, False, "")

    def _shim_alive(self):
        """Is shim.pid still our shim (and not a recycled pid, or one after a reboot)?"""
        try:
            with open(self._path("shim.pid")) as handle:
                fields = [int(field) for field in handle.read().split()]
            if len(fields) == 1:
                return self._started_python_shim_alive(fields[0])
            return fields[1] == start_time(fields[0])
        except (FileNotFoundError, ProcessLookupError, ValueError):
            return False

    def _started_python_shim_alive(self, shim_pid):
        """A shim of an engine before forked shims (still running across an upgrade, with
        live-restore) wrote its pid alone, and was a `python -c ...` with the directory among
        its arguments."""
        with open("/proc/%d/cmdline" % shim_pid, "rb") as handle:
            return os.fsencode(self.directory) in handle.read().split(b"\0")

    def _stop(self):
        """Kill the process if it still runs, and wait for the shim to record its end."""
        if self._shim_alive():
            try:
                self.signal(signal.SIGKILL)
            except RuntimeError:
                pass                              # it ended meanwhile
            self.wait(REQUEST_TIMEOUT)

    def cleanup(self):
        """Kill what is left, remove the cgroup and the shim's files (exit.json stays)."""
        self._stop()
        try:
            spec = read_json(self._path("spec.json"))       # removed last: gone means done
        except FileNotFoundError:
            return
        Cgroup(spec["cgroup"]["parent"], spec["id"]).remove()
        exec_root = self._path("exec")
        if os.path.isdir(exec_root):
            from .exec import ExecShim
            for name in os.listdir(exec_root):
                ExecShim(os.path.join(exec_root, name)).cleanup()
            os.rmdir(exec_root)
        for name in ("shim.sock", "shim.pid", "pid", "started", "shim.log", "spec.json"):
            remove(self._path(name))
