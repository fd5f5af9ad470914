"""SSH transport: one paramiko connection per host, for commands, sudo and file uploads.

A `Connection` logs in once (key, password or ssh-agent; through ProxyJump hosts if the
inventory names them), verifies the host key against known_hosts the way OpenSSH does, and is
then reused for every command and upload of the run.

Errors, by what the runner should do with the host:
    TransportError   the host is unreachable (refused, timed out, authentication failed)
    HostKeyError     a TransportError: the host key is unknown or changed
    RemoteError      something the transport runs for itself (checksum, install) failed
    BecomeError      a RemoteError: sudo refused (wrong or missing password, not allowed)
A command's own failure is not an error: `run` returns its exit code.

The become password is only ever written to sudo's stdin; it never appears in a command line,
an output, an exception or a log record.
"""
import getpass
import hashlib
import logging
import os
import posixpath
import secrets
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

import paramiko

log = logging.getLogger(__name__)

CHUNK = 32768
RETRY_DELAY = 1.0       # seconds before the first retry; doubled for each further one
SEND_POLL = 0.05        # how often to retry writing stdin while the channel window is full
KEEPALIVE = 15          # seconds between keepalives on an idle connection
DEAD_PEER_MS = 60000    # unacknowledged data for this long ends the connection
UNKNOWN = object()      # put(remote_sha256=UNKNOWN): ask the host for the checksum first


class TransportError(Exception):
    """The host cannot be reached or logged into; the message names the host."""


class HostKeyError(TransportError):
    """The host's key is unknown or differs from known_hosts; the message says how to fix it."""


class RemoteError(Exception):
    """A command the transport runs for itself failed on the host; the message names host and path."""


class BecomeError(RemoteError):
    """sudo refused to run the command: a wrong or missing password, or a user who may not sudo."""


class RunResult(NamedTuple):
    rc: int
    stdout: str
    stderr: str


@dataclass
class _Hop:
    """One SSH login on the way to the host: a jump host or the host itself."""
    address: str
    port: int
    user: str

    def known_hosts_name(self):
        # OpenSSH's form: the bare address on port 22, "[address]:port" otherwise.
        return self.address if self.port == 22 else "[%s]:%d" % (self.address, self.port)

    def __str__(self):
        return "%s@%s:%d" % (self.user, self.address, self.port)


class _Unreachable(Exception):
    """A connect attempt failed in a way that may pass: worth another try."""


class Connection:
    """One host's SSH connection: connect() once, then run/sha256/put as often as needed, close().

    known_hosts: the file to check host keys against (default: the host's UserKnownHostsFile
    option, else ~/.ssh/known_hosts). accept_new: record the keys of unknown hosts there, as
    StrictHostKeyChecking=accept-new does (also set by that option, or =no); a changed key is
    always refused. One thread at a time per connection.
    """

    def __init__(self, host, known_hosts=None, accept_new=False, connect_timeout=10, retries=2):
        self.host = host
        self.known_hosts = os.path.expanduser(
            known_hosts or host.ssh_options.get("userknownhostsfile") or "~/.ssh/known_hosts")
        strict = host.ssh_options.get("stricthostkeychecking", "").lower()
        self.accept_new = accept_new or strict in ("accept-new", "no", "off")
        self.connect_timeout = connect_timeout
        self.retries = retries
        self._clients = []      # jump hosts first, the host itself last
        self._sftp = None
        self._sftp_lock = threading.Lock()

    def __enter__(self):
        return self.connect()

    @property
    def client(self):
        """The logged-in paramiko SSHClient of the host itself (for testinfra's paramiko backend)."""
        if not self._clients:
            raise TransportError("host %s: not connected" % self.host.name)
        return self._clients[-1]

    def __exit__(self, *exc):
        self.close()

    # -- connecting ---------------------------------------------------------------------------

    def connect(self):
        """Log in, through any jump hosts; retry connect failures, never auth or host key ones."""
        hops = self._hops()
        key = self._private_key()
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                self._open(hops, key)
                return self
            except _Unreachable as error:
                self.close()
                if attempt == attempts:
                    raise TransportError("host %s: unreachable after %d attempts: %s"
                                         % (self.host.name, attempts, error)) from None
                log.info("host %s: %s; retrying", self.host.name, error)
                time.sleep(RETRY_DELAY * 2 ** (attempt - 1))
            except BaseException:
                self.close()
                raise

    def _hops(self):
        user = self.host.user or getpass.getuser()
        target = _Hop(self.host.address, self.host.port, user)
        spec = self.host.proxy_jump
        if not spec or spec.lower() == "none":
            return [target]
        return [self._parse_jump(part, user) for part in spec.split(",")] + [target]

    def _parse_jump(self, part, default_user):
        """One `[user@]host[:port]` of ProxyJump; IPv6 addresses in brackets."""
        user, _, hostport = part.strip().rpartition("@")
        if hostport.startswith("["):
            address, _, rest = hostport[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ""
        else:
            address, _, port = hostport.partition(":")
        if not address or (port and not port.isdigit()):
            raise TransportError("host %s: cannot read jump host %r in ProxyJump=%s"
                                 % (self.host.name, part, self.host.proxy_jump))
        # The jump host is logged into with the host's own credentials, user included.
        return _Hop(address, int(port or 22), user or default_user)

    def _private_key(self):
        if not self.host.key_file:
            return None
        path = os.path.expanduser(self.host.key_file)
        try:
            return paramiko.PKey.from_path(path)
        except paramiko.PasswordRequiredException:
            raise TransportError("host %s: private key %s (ansible_ssh_private_key_file) is encrypted;"
                                 " load it into ssh-agent instead" % (self.host.name, path)) from None
        except (OSError, paramiko.SSHException) as error:
            raise TransportError("host %s: cannot read private key %s (ansible_ssh_private_key_file): %s"
                                 % (self.host.name, path, error)) from None

    def _open(self, hops, key):
        sock = None
        for hop, next_hop in zip(hops, hops[1:] + [None]):
            what = str(hop) if next_hop is None else "jump host %s" % hop
            client = self._login(hop, what, key, sock)
            self._clients.append(client)
            if isinstance(client.get_transport().sock, socket.socket):
                # Without it every command waits out a delayed ACK: ~40 ms instead of ~4.
                client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                # A host that vanishes mid-run (powered off, its machine stopped) must fail in about
                # a minute, not after TCP's ~15 minutes of retransmissions; keepalives keep
                # data in flight so that the limit applies while a command runs quietly too.
                client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT,
                                                       DEAD_PEER_MS)
            client.get_transport().set_keepalive(KEEPALIVE)
            if next_hop is None:
                return
            try:
                sock = client.get_transport().open_channel(
                    "direct-tcpip", (next_hop.address, next_hop.port), ("127.0.0.1", 0),
                    timeout=self.connect_timeout)
            except (paramiko.SSHException, OSError, EOFError) as error:
                raise _Unreachable("jump host %s cannot reach %s:%d: %s"
                                   % (hop, next_hop.address, next_hop.port, error)) from None

    def _login(self, hop, what, key, sock):
        client = paramiko.SSHClient()
        _load_known_hosts(self.known_hosts, client.get_host_keys())
        client.set_missing_host_key_policy(_KnownHostsPolicy(self, hop, what))
        try:
            client.connect(hop.address, hop.port, username=hop.user, pkey=key,
                           password=self.host.password, allow_agent=True,
                           look_for_keys=key is None, sock=sock, timeout=self.connect_timeout,
                           banner_timeout=self.connect_timeout, auth_timeout=self.connect_timeout)
            return client
        except BaseException as error:
            client.close()
            raise self._login_error(what, hop, error) from None

    def _login_error(self, what, hop, error):
        """The exception to raise for a failed login: final, or _Unreachable to try again."""
        name = self.host.name
        if isinstance(error, HostKeyError):
            return error
        if isinstance(error, paramiko.BadHostKeyException):
            return HostKeyError(
                "host %s: the host key of %s has CHANGED: it offers %s %s, but %s holds %s %s."
                " If the host was reinstalled, remove the old key with"
                " `ssh-keygen -R '%s' -f %s` and connect again; otherwise someone may be"
                " intercepting the connection."
                % (name, what, error.key.get_name(), error.key.fingerprint, self.known_hosts,
                   error.expected_key.get_name(), error.expected_key.fingerprint,
                   hop.known_hosts_name(), self.known_hosts))
        # paramiko says "No authentication methods available" when it had nothing to try.
        if isinstance(error, paramiko.AuthenticationException) or \
                str(error) == "No authentication methods available":
            return TransportError(
                "host %s: authentication failed for %s (tried: %s): %s"
                % (name, what, self._methods_tried(), error))
        if isinstance(error, (paramiko.SSHException, OSError, EOFError)):
            return _Unreachable("cannot connect to %s: %s" % (what, str(error) or type(error).__name__))
        return error

    def _methods_tried(self):
        methods = ["private key %s" % self.host.key_file if self.host.key_file else "default keys"]
        if os.environ.get("SSH_AUTH_SOCK"):
            methods.append("ssh-agent")
        if self.host.password is not None:
            methods.append("password")
        return ", ".join(methods)

    def close(self):
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        while self._clients:
            self._clients.pop().close()

    # -- commands -----------------------------------------------------------------------------

    def run(self, command, become=None, stdin=None, timeout=None):
        """Run a shell command; with become, through sudo as host.become_user.

        stdin (str or bytes) is written to the command, then closed. timeout (seconds) bounds the
        whole command: past it the channel is closed and TimeoutError raised.
        """
        become = self.host.become if become is None else become
        if isinstance(stdin, str):
            stdin = stdin.encode()
        deadline = None if timeout is None else time.monotonic() + timeout
        log.debug("host %s: run%s: %s", self.host.name, " (become)" if become else "", command)
        channel = self._session()
        try:
            if become:
                out, err = self._exec_sudo(channel, command, deadline)
            else:
                channel.exec_command(command)
                out, err = bytearray(), bytearray()
            _pump(channel, out, err, deadline, stdin=stdin or b"")
            if not channel.status_event.wait(_remaining(deadline)):
                raise TimeoutError()
            rc = channel.recv_exit_status()
        except TimeoutError:
            raise TimeoutError("host %s: command did not finish within %s s: %s"
                               % (self.host.name, timeout, command)) from None
        except (paramiko.SSHException, EOFError, OSError) as error:
            raise TransportError("host %s: connection lost: %s" % (self.host.name, error)) from None
        finally:
            channel.close()
        return RunResult(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def _session(self):
        if not self._clients:
            raise TransportError("host %s: not connected" % self.host.name)
        try:
            return self._clients[-1].get_transport().open_session(timeout=self.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError, AttributeError) as error:
            # AttributeError: paramiko has already dropped the transport of a dead connection.
            raise TransportError("host %s: connection lost: %s" % (self.host.name, error)) from None

    def _exec_sudo(self, channel, command, deadline):
        """Start command under sudo and get past sudo's password prompt.

        sudo prints a random prompt on stderr when it wants the password, and the shell it
        starts prints a random marker on stdout once sudo let it through: waiting for one or the
        other tells whether to send the password, and a second prompt means it was wrong.
        Returns what the command wrote after the marker.
        """
        token = secrets.token_hex(8)
        prompt = "[dockyard sudo %s] " % token
        marker = "DOCKYARD-BECOME-%s" % token
        channel.exec_command(
            "sudo -H -S -p %s -u %s /bin/sh -c %s dockyard %s" % (
                shlex.quote(prompt), shlex.quote(self.host.become_user),
                # The command is a separate argument so that a syntax error in it is reported
                # by its own shell after the marker, not mistaken for sudo failing.
                shlex.quote('echo %s; exec /bin/sh -c "$1"' % marker), shlex.quote(command)))
        out, err = bytearray(), bytearray()
        prompt_b, marker_b = prompt.encode(), (marker + "\n").encode()

        def through():
            return marker_b in out

        _pump(channel, out, err, deadline, until=lambda: through() or prompt_b in err)
        if not through() and prompt_b in err:
            if self.host.become_password is None:
                raise BecomeError("host %s: sudo asks for a password, but none is set"
                                  " (ansible_become_password)" % self.host.name)
            channel.sendall(self.host.become_password.encode() + b"\n")
            _pump(channel, out, err, deadline, until=lambda: through() or err.count(prompt_b) > 1)
            if not through() and err.count(prompt_b) > 1:
                raise BecomeError("host %s: incorrect sudo password (ansible_become_password)"
                                  % self.host.name)
        err = bytearray(err.replace(prompt_b, b""))
        if not through():
            raise BecomeError("host %s: sudo to %s failed: %s" % (
                self.host.name, self.host.become_user,
                err.decode("utf-8", "replace").strip() or "no message"))
        return bytearray(out.split(marker_b, 1)[1]), err

    # -- files --------------------------------------------------------------------------------

    def sha256(self, path, become=None):
        """The hex SHA-256 of a file on the host, or None if there is none."""
        quoted = shlex.quote(path)
        result = self.run("if [ -e %s ]; then sha256sum < %s; else echo absent; fi" % (quoted, quoted),
                          become=become)
        words = result.stdout.split()
        if result.rc != 0 or not words:
            raise RemoteError("host %s: cannot checksum %s: %s"
                              % (self.host.name, path, result.stderr.strip() or "rc=%d" % result.rc))
        return None if words[0] == "absent" else words[0]

    def put(self, data, dest, mode=0o644, owner=None, group=None, become=None, remote_sha256=UNKNOWN):
        """Make the file dest hold data, with mode, owner and group; True if it changed.

        mode is a number (0o640) or what install -m reads ("0640", "u=rw,g=r"); None is 0644.

        Nothing is sent when dest's checksum already matches (remote_sha256: a checksum the
        caller already knows, None for "no such file"). Otherwise data goes by SFTP to a private
        staging directory, and one command (under sudo with become) installs it with its mode
        and owner next to dest and renames it over dest: dest is never seen half-written.
        With become, the staging directory is read by become_user: it must be root.
        """
        if not dest.startswith("/"):
            raise ValueError("host %s: put needs an absolute destination, not %r" % (self.host.name, dest))
        become = self.host.become if become is None else become
        mode = 0o644 if mode is None else mode
        if remote_sha256 is UNKNOWN:
            remote_sha256 = self.sha256(dest, become=become)
        if remote_sha256 == hashlib.sha256(data).hexdigest():
            return False
        staging = "/tmp/.dockyard-%s" % secrets.token_hex(8)
        directory, name = posixpath.split(dest)
        temp = posixpath.join(directory, ".%s.dockyard-%s" % (name, secrets.token_hex(4)))
        options = ["-m", mode if isinstance(mode, str) else "%04o" % mode]
        options += ["-o", owner] if owner else []
        options += ["-g", group] if group else []
        script = (
            'temp=%s staging=%s; trap \'rm -f "$temp"; rm -rf "$staging"\' EXIT; '
            'install %s "$staging/data" "$temp" && mv -f -T "$temp" %s'
            % (shlex.quote(temp), shlex.quote(staging), " ".join(map(shlex.quote, options)),
               shlex.quote(dest)))
        self._stage(data, staging, dest)
        try:
            result = self.run(script, become=become)
        except (RemoteError, TimeoutError):     # e.g. sudo refused: the staged copy must go
            self._discard(staging)
            raise
        if result.rc != 0:
            raise RemoteError("host %s: cannot write %s: %s"
                              % (self.host.name, dest, result.stderr.strip() or "rc=%d" % result.rc))
        return True

    def _stage(self, data, staging, dest):
        """Upload data to staging/data over SFTP, readable by the login user only."""
        sftp = self._sftp_client()
        try:
            sftp.mkdir(staging, 0o700)
            with sftp.open(staging + "/data", "wbx") as f:
                f.set_pipelined(True)
                f.write(data)
        except (OSError, paramiko.SSHException) as error:
            self._discard(staging)
            raise RemoteError("host %s: cannot upload %s: %s" % (self.host.name, dest, error)) from None

    def _discard(self, staging):
        self.run("rm -rf %s" % shlex.quote(staging), become=False)

    def _sftp_client(self):
        with self._sftp_lock:
            if self._sftp is None:
                if not self._clients:
                    raise TransportError("host %s: not connected" % self.host.name)
                self._sftp = self._clients[-1].open_sftp()
            return self._sftp


class _KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """What to do with a host whose key known_hosts does not hold: refuse, or record it."""

    def __init__(self, connection, hop, what):
        self.connection = connection
        self.hop = hop
        self.what = what

    def missing_host_key(self, client, hostname, key):
        conn = self.connection
        if not conn.accept_new:
            raise HostKeyError(
                "host %s: unknown host key for %s (%s %s): %s does not hold %s. Check the key"
                " and add it (ssh-keyscan -p %s %s >> %s), or run with --accept-new-host-keys."
                % (conn.host.name, self.what, key.get_name(), key.fingerprint, conn.known_hosts,
                   hostname, self.hop.port, self.hop.address, conn.known_hosts))
        _record_host_key(conn.known_hosts, hostname, key)
        log.warning("host %s: recorded the new host key of %s (%s %s) in %s",
                    conn.host.name, self.what, key.get_name(), key.fingerprint, conn.known_hosts)


def _load_known_hosts(path, keys):
    """Read known_hosts into paramiko's HostKeys, skipping what OpenSSH would skip too.

    paramiko's own loader stops at the first line it cannot read; OpenSSH ignores such lines.
    Marker lines (@cert-authority, @revoked) are skipped: host certificates are not supported.
    """
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith(("#", "@")):
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
        except (paramiko.hostkeys.InvalidHostKey, paramiko.SSHException, ValueError):
            entry = None
        if entry is None:
            log.warning("%s:%d: ignoring a known_hosts line that cannot be read", path, number)
            continue
        for name in entry.hostnames:     # names may be hashed (|1|...): lookups handle both
            keys.add(name, entry.key.get_name(), entry.key)


_known_hosts_lock = threading.Lock()    # runner threads of different hosts share one file


def _record_host_key(path, hostname, key):
    """Append one known_hosts line; never rewrite the file (it may hold others' entries)."""
    line = ("%s %s %s\n" % (hostname, key.get_name(), key.get_base64())).encode()
    with _known_hosts_lock:
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        with open(path, "ab+") as f:
            size = f.seek(0, os.SEEK_END)
            if size:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    line = b"\n" + line
            f.write(line)


def _remaining(deadline):
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _pump(channel, out, err, deadline, until=None, stdin=None):
    """Move bytes between a command and us until until() holds or the command closes its output.

    Its stdout and stderr are appended to out and err as they come (both at once: a full one
    would otherwise stall the other). stdin (bytes) is written to it, then its stdin is closed;
    None leaves stdin open. Raises TimeoutError past the deadline.
    """
    pending = stdin
    while until is None or not until():
        eof = channel.eof_received      # read before the buffers: data arrives before EOF does
        if channel.recv_ready():
            out += channel.recv(CHUNK)
        elif channel.recv_stderr_ready():
            err += channel.recv_stderr(CHUNK)
        elif eof:
            return
        elif pending is not None and channel.send_ready():
            try:
                pending = pending[channel.send(pending[:CHUNK]):] if pending else b""
                if not pending:
                    channel.shutdown_write()
                    pending = None
            except OSError:     # the command is gone without reading it all: its rc tells why
                pending = None
        else:
            wait = _remaining(deadline)
            if wait == 0:
                raise TimeoutError()
            if pending is not None:
                wait = SEND_POLL if wait is None else min(wait, SEND_POLL)
            select.select([channel], [], [], wait)
