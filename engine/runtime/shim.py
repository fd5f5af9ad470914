"""The per-container shim: a process forked from the daemon and detached from it, that owns
one container process (a container's init, or an exec) for its whole life.

It holds the process's stdio (a pty master when there is a terminal, pipes otherwise),
copies its output to the json-file log and to attached clients, lets it exec on START,
and when it ends writes how (exit.json) and exits. The daemon talks to it through a unix
socket in the bundle directory, one JSON request line per connection:

    {"op": "start"} | {"op": "resize", "height", "width"} | {"op": "signal", "signum"}
        -> {"ok": true} or {"error": "..."}
    {"op": "wait"}  -> the exit status, once there is one
    {"op": "attach", "stdin", "stdout", "stderr"} -> {"ok": true}, then the raw stream:
        output in docker's 8-byte frames (raw bytes with a tty); what the client sends is
        the process's stdin, and closing its sending side closes that stdin (no tty).

Files in the bundle (or exec) directory: spec.json (exec.json), shim.pid (its pid and start
time), pid (the process, host pid), shim.sock, started, exit.json {"code", "oom_killed",
"finished_at"}, shim.log (the shim's own errors).
"""
import errno
import gc
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
import traceback

from . import channel, console, init, namespaces
from .bundle import read_json, read_line, remove, with_socket_address, write_json
from .cgroups import Cgroup
from .client import REQUEST_TIMEOUT, CreateError, start_time
from .logs import JsonLog, timestamp

# How long output may still arrive after the process ended (a background child in the host
# pid namespace can hold the pipe forever: stop waiting for it then).
DRAIN_SECONDS = 2.0
STREAM_IDS = {"stdout": 1, "stderr": 2}


def main(mode, directory, ready_fd, log_fd):
    """The shim, in a process just forked from the daemon by spawn(); never returns.

    `mode` is "container" or "exec"; the reply (the process's pid, or why it could not be
    created) goes to `ready_fd` as one JSON line; `log_fd` becomes stderr.
    """
    try:
        _leave_daemon(ready_fd, log_fd)
        with open(os.path.join(directory, "shim.pid"), "w") as handle:
            handle.write("%d %d" % (os.getpid(), start_time(os.getpid())))
        try:
            if mode == "container":
                server = _create_container(directory)
            else:
                from .exec import create_exec
                server = create_exec(directory)
            reply = {"pid": server.pid}
        except CreateError as error:
            server, reply = None, {"error": str(error), "code": error.exit_code}
        except Exception as error:
            server, reply = None, {"error": str(error) or repr(error), "code": 125}
        os.write(ready_fd, (json.dumps(reply) + "\n").encode())
        os.close(ready_fd)
        if server is not None:
            server.serve()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(0)


def _leave_daemon(ready_fd, log_fd):
    """Shed what the daemon's fork left: its session, signal handlers, files and sockets.

    It becomes the leader of a session with no terminal, and stays so: it opens no terminal
    (a container's pty is opened O_NOCTTY, by the container's process).

    The daemon forked this process from one of its threads, with other threads running: any
    lock they held stays held here. So nothing here takes one: stdio gets new file objects
    (the daemon's may be locked mid-write), and nothing is imported. The garbage collector
    never visits the daemon's objects (frozen, or off on Python 3.6): a socket of the daemon
    found unreachable would close its descriptor number, which by then names a file of ours.
    """
    freeze = getattr(gc, "freeze", None)         # Python 3.7+
    if freeze is not None:
        freeze()
    else:
        gc.disable()
    os.setsid()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    namespaces.set_process_name(b"yard-shim")     # so `pkill yardd` leaves containers alone
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(log_fd, 2)
    for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
        if fd > 2 and fd != ready_fd:
            try:
                os.close(fd)
            except OSError:              # listdir's own, closed already
                pass
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)


def _create_container(directory):
    spec = read_json(os.path.join(directory, "spec.json"))
    cgroup = Cgroup(spec["cgroup"]["parent"], spec["id"])
    try:
        cgroup.create(spec["cgroup"], spec.get("privileged", False))
        cgroup.watch_oom()
        start_pid_namespace = (spec.get("namespaces") or {}).get("pid") != "host"
        return fork_child(directory, spec.get("tty", False), spec.get("stdin", False),
                          start_pid_namespace,
                          lambda sock, stdio: init.run(spec, cgroup, sock, stdio),
                          log=JsonLog(spec["log"]["path"], spec["log"].get("max_size"),
                                      spec["log"].get("max_file")),
                          cgroup=cgroup)
    except Exception:
        cgroup.remove()
        raise


def fork_child(directory, tty, keep_stdin, new_pid_namespace, child, log=None, cgroup=None):
    """Fork the process `child(sock, stdio)` builds, wait until it is ready; -> Server.

    With a `cgroup` (a container's init), the shim moves the child into it while the child
    builds its namespaces and mounts, then tells it JOINED: the grace period the move may
    wait for (Cgroup.join) is not the child's to wait. The Server reports its OOM kills."""
    shim_end, child_end = channel.pair()
    parent_fds, child_stdio = [], None
    if not tty:
        stdin_read, stdin_write = os.pipe() if keep_stdin else (os.open(os.devnull, os.O_RDONLY), None)
        stdout_read, stdout_write = os.pipe()
        stderr_read, stderr_write = os.pipe()
        child_stdio = (stdin_read, stdout_write, stderr_write)
        parent_fds = [stdin_write, stdout_read, stderr_read]
    # Processes orphaned inside the container are ours to reap (host pid namespace).
    namespaces.prctl(namespaces.PR_SET_CHILD_SUBREAPER, 1)
    if new_pid_namespace:
        namespaces.unshare(namespaces.CLONE_NEWPID)        # the next child is its PID 1
    pid = os.fork()
    if pid == 0:
        try:
            shim_end.close()
            child(child_end, child_stdio)
        except BaseException:              # an engine bug: show it in the container's stderr
            traceback.print_exc()
        finally:
            os._exit(125)                  # never run the shim's own code in the child
    child_end.close()
    for fd in child_stdio or ():
        os.close(fd)
    failure = None
    if cgroup is not None:
        try:
            cgroup.join(pid)
            shim_end.send(channel.JOINED)
        except OSError as error:
            failure = {"error": "cannot put the container's process in its cgroup: %s" % error,
                       "code": 125}
            os.kill(pid, signal.SIGKILL)         # it waits for JOINED, unless it failed first
    message, master = channel.receive(shim_end)
    if message is None or "error" in message:
        message = message or failure             # a reason of its own comes first
        os.waitpid(pid, 0)
        for fd in parent_fds:
            if fd is not None:
                os.close(fd)
        if message is None:
            raise CreateError("the container process died while it was being created")
        raise CreateError(message["error"], message["code"])
    with open(os.path.join(directory, "pid"), "w") as handle:
        handle.write(str(pid))
    if tty:
        return Server(directory, pid, shim_end, stdin=os.dup(master) if keep_stdin else None,
                      outputs={master: "stdout"}, master=master, log=log, cgroup=cgroup)
    return Server(directory, pid, shim_end, stdin=parent_fds[0],
                  outputs={parent_fds[1]: "stdout", parent_fds[2]: "stderr"}, log=log,
                  cgroup=cgroup)


# --- the shim's event loop -------------------------------------------------------------------

class _Attached:
    def __init__(self, sock, streams, stdin):
        self.sock, self.streams, self.stdin = sock, streams, stdin


class Server:
    """Serves one process: its output, its socket, its end (single-threaded, selectors)."""

    def __init__(self, directory, pid, start_sock, stdin, outputs, master=None, log=None,
                 cgroup=None):
        self.directory, self.pid, self.start_sock = directory, pid, start_sock
        self.stdin, self.outputs, self.master = stdin, dict(outputs), master
        self.log, self.cgroup = log, cgroup
        self.stdin_pending, self.stdin_ends = b"", False
        self.attached, self.waiters = [], []
        self.status, self.ended_at = None, None
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        remove(os.path.join(directory, "shim.sock"))
        with_socket_address(directory, self.listener.bind)
        self.listener.listen(64)
        self.selector.register(self.listener, selectors.EVENT_READ, self._accept)
        for fd in self.outputs:
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ, self._output)
        if self.stdin is not None:
            os.set_blocking(self.stdin, False)
        # SIGCHLD wakes the loop through a socket, so no signal is lost between two selects.
        self.wakeup, wakeup_write = socket.socketpair()
        self.wakeup.setblocking(False)
        wakeup_write.setblocking(False)
        self._wakeup_write = wakeup_write
        signal.set_wakeup_fd(wakeup_write.fileno())
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        self.selector.register(self.wakeup, selectors.EVENT_READ, self._reap)

    def serve(self):
        self._reap(None)
        while self.status is None or (self.outputs and self._drain_left() > 0):
            timeout = None if self.status is None else self._drain_left()
            for key, _ in self.selector.select(timeout):
                key.data(key.fileobj)
        self._finish()

    def _drain_left(self):
        return self.ended_at + DRAIN_SECONDS - time.monotonic()

    # requests

    def _accept(self, listener):
        sock, _ = listener.accept()
        sock.settimeout(REQUEST_TIMEOUT)
        try:
            request = json.loads(read_line(sock).decode() or "{}")
            keep = getattr(self, "_op_%s" % request.get("op"), self._op_none)(sock, request)
        except (OSError, ValueError):
            keep = False
        if not keep:
            sock.close()

    def _reply(self, sock, message):
        sock.sendall((json.dumps(message) + "\n").encode())

    def _op_none(self, sock, request):
        self._reply(sock, {"error": "unknown request %r" % request.get("op")})

    def _op_start(self, sock, request):
        started = os.path.join(self.directory, "started")
        if not os.path.exists(started):
            open(started, "w").close()
            self.start_sock.send(channel.START)
            # The child's end is close-on-exec: its EOF says the command now runs, so that
            # start() returns with the user's process (and not our fork of Python) in place.
            self.start_sock.settimeout(REQUEST_TIMEOUT)
            try:
                self.start_sock.recv(1)
            except socket.timeout:
                pass
        self._reply(sock, {"ok": True})

    def _op_resize(self, sock, request):
        if self.master is not None:
            console.resize(self.master, int(request["height"]), int(request["width"]))
        self._reply(sock, {"ok": True})

    def _op_signal(self, sock, request):
        if self.status is not None:
            self._reply(sock, {"error": "container %s is not running" % self.pid})
            return False
        os.kill(self.pid, int(request["signum"]))
        self._reply(sock, {"ok": True})

    def _op_wait(self, sock, request):
        sock.settimeout(None)
        self.waiters.append(sock)
        return True

    def _op_attach(self, sock, request):
        streams = {name for name in ("stdout", "stderr") if request.get(name)}
        wants_stdin = bool(request.get("stdin")) and self.stdin is not None
        self._reply(sock, {"ok": True})
        client = _Attached(sock, streams, wants_stdin)
        self.attached.append(client)
        if wants_stdin:
            self.selector.register(sock, selectors.EVENT_READ, lambda s: self._input(client))
        return True

    # streams

    def _output(self, fd):
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as error:
            if error.errno != errno.EIO:         # EIO: the pty's last slave closed
                raise
            data = b""
        if not data:
            self.selector.unregister(fd)
            del self.outputs[fd]
            return
        stream = self.outputs[fd]
        if self.log is not None:
            self.log.write(stream, data)
        for client in list(self.attached):
            if stream in client.streams:
                self._send(client, stream, data)

    def _send(self, client, stream, data):
        if self.master is None:
            data = struct.pack(">BxxxI", STREAM_IDS[stream], len(data)) + data
        try:
            client.sock.sendall(data)
        except OSError:                              # gone or too slow: drop it
            self._detach(client)

    def _detach(self, client):
        if client.stdin:
            self.selector.unregister(client.sock)
        self.attached.remove(client)
        client.sock.close()

    def _input(self, client):
        try:
            data = client.sock.recv(65536)
        except OSError:
            data = b""
        if data:
            self.stdin_pending += data
        else:
            # The client closed its sending side (it keeps receiving output). Without a tty
            # that is the end of the process's stdin, as with `docker run -i`.
            self.selector.unregister(client.sock)
            client.stdin = False
            self.stdin_ends = self.master is None
        self._flush_stdin(None)

    def _flush_stdin(self, _):
        """Write what clients sent without ever blocking the loop on a process not reading."""
        if self.stdin is None:
            self.stdin_pending = b""
            return
        try:
            written = os.write(self.stdin, self.stdin_pending) if self.stdin_pending else 0
        except BlockingIOError:
            written = 0
        except OSError:                              # nobody reads stdin any more
            written = len(self.stdin_pending)
        self.stdin_pending = self.stdin_pending[written:]
        registered = self.stdin in self.selector.get_map()
        if self.stdin_pending and not registered:
            self.selector.register(self.stdin, selectors.EVENT_WRITE, self._flush_stdin)
        elif not self.stdin_pending and registered:
            self.selector.unregister(self.stdin)
        if not self.stdin_pending and self.stdin_ends:
            os.close(self.stdin)
            self.stdin = None

    # the end

    def _reap(self, _):
        try:
            while self.wakeup.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid:
                self.status, self.ended_at = status, time.monotonic()

    def _finish(self):
        if self.log is not None:
            self.log.close()
        if os.WIFSIGNALED(self.status):
            code = 128 + os.WTERMSIG(self.status)
        else:
            code = os.WEXITSTATUS(self.status)
        oom_killed = self.cgroup is not None and self.cgroup.oom_killed()
        result = {"code": code, "oom_killed": oom_killed, "finished_at": timestamp()}
        write_json(os.path.join(self.directory, "exit.json"), result)
        remove(os.path.join(self.directory, "shim.sock"))
        for sock in self.waiters:
            try:
                self._reply(sock, result)
            except OSError:
                pass
            sock.close()
        for client in list(self.attached):
            self._detach(client)
