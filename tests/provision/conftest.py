"""A real sshd on loopback, with throwaway users, for tests that drive hosts over SSH.

The `sshd` fixture (session scope; root only) yields an `SshServer`:

    sshd.address, sshd.port     127.0.0.1 and the port sshd listens on
    sshd.known_hosts            a known_hosts file holding this sshd's host key ("[127.0.0.1]:port ...")
    sshd.host_key_line          that same known_hosts line
    sshd.key_user, sshd.key_file
                                a user that logs in with this ed25519 private key; sudo without a password
    sshd.pw_user, sshd.password a user that logs in with this password; sudo asks for the same password
    sshd.key_host(**overrides)  a provision.hosts.Host for key_user (known_hosts set via ssh_options)
    sshd.pw_host(**overrides)   a provision.hosts.Host for pw_user, become_password set

User names carry a random suffix (`dyt_key_1a2b3c`), so sessions running at the same time on this
machine (pytest-xdist workers, other test suites) never share users, ports or files. Teardown
stops sshd, ends what the users still run, and removes the users, their homes and sudoers entry.
"""
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, replace

import pytest

from provision.hosts import Host

SSHD = "/usr/sbin/sshd"


@dataclass
class SshServer:
    address: str
    port: int
    known_hosts: str
    host_key_line: str
    key_user: str
    key_file: str
    pw_user: str
    password: str

    def key_host(self, **overrides):
        host = Host(name="keyhost", address=self.address, port=self.port, user=self.key_user,
                    key_file=self.key_file,
                    ssh_options={"userknownhostsfile": self.known_hosts})
        return replace(host, **overrides)

    def pw_host(self, **overrides):
        host = Host(name="pwhost", address=self.address, port=self.port, user=self.pw_user,
                    password=self.password, become_password=self.password,
                    ssh_options={"userknownhostsfile": self.known_hosts})
        return replace(host, **overrides)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(*argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def _add_user(name, password=None):
    # The password field must not start with "!": sshd (UsePAM no) refuses locked accounts,
    # even for key logins. "*" means "no password works" without locking.
    _run("useradd", "--create-home", "--shell", "/bin/sh", "--password", "*", name)
    if password is not None:
        _run("chpasswd", input="%s:%s" % (name, password))


def _remove_user(name):
    # Sessions of a closed connection end on their own; whatever is left belongs to this test user.
    pids = subprocess.run(["pgrep", "-u", name], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    subprocess.run(["userdel", "--force", "--remove", name], capture_output=True)


def _authorize(user, public_key):
    home = os.path.expanduser("~" + user)
    ssh_dir = os.path.join(home, ".ssh")
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    with open(os.path.join(ssh_dir, "authorized_keys"), "w") as f:
        f.write(public_key)
    _run("chown", "-R", "%s:%s" % (user, user), ssh_dir)
    os.chmod(os.path.join(ssh_dir, "authorized_keys"), 0o600)


def _write_sudoers(path, key_user, pw_user):
    # timestamp_timeout=0: every sudo asks again, so a wrong-password test cannot ride on a
    # cached success; lecture=never keeps sudo's first-use notice out of stderr.
    text = (
        "Defaults:%(k)s,%(p)s timestamp_timeout=0, lecture=never\n"
        "%(k)s ALL=(ALL:ALL) NOPASSWD: ALL\n"
        "%(p)s ALL=(ALL:ALL) ALL\n" % {"k": key_user, "p": pw_user}
    )
    staged = path + ".new"          # sudo skips names with a dot: the half-written file is ignored
    with open(staged, "w") as f:
        f.write(text)
    os.chmod(staged, 0o440)
    _run("visudo", "-c", "-q", "-f", staged)
    os.rename(staged, path)


def _sshd_config(tmp, port, host_key, users):
    path = os.path.join(tmp, "sshd_config")
    with open(path, "w") as f:
        f.write("\n".join([
            "Port %d" % port,
            "ListenAddress 127.0.0.1",
            "HostKey %s" % host_key,
            "PidFile %s" % os.path.join(tmp, "sshd.pid"),
            "AllowUsers %s" % " ".join(users),   # nobody else, root included, logs in here
            "PubkeyAuthentication yes",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "UsePAM no",                          # no PAM session modules that a container may lack
            "AllowTcpForwarding yes",             # ProxyJump tests jump through this same sshd
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
            "",
        ]))
    return path


def _wait_for_banner(port, process, log):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("sshd exited with %s:\n%s" % (process.returncode, open(log).read()))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("sshd did not answer on port %d:\n%s" % (port, open(log).read()))


def _start_sshd(tmp, host_key, users):
    """sshd on a free port; a port grabbed by someone else in between is retried on another."""
    log = os.path.join(tmp, "sshd.log")
    for _ in range(5):
        port = free_port()
        config = _sshd_config(tmp, port, host_key, users)
        with open(log, "w") as out:
            process = subprocess.Popen([SSHD, "-D", "-e", "-f", config],
                                       stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_for_banner(port, process, log)
            return process, port
        except RuntimeError:
            process.kill()
            process.wait()
    raise RuntimeError("sshd would not start:\n%s" % open(log).read())


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root: starts sshd and creates users")
    tmp = str(tmp_path_factory.mktemp("sshd"))
    # sshd's privilege separation directory; shared by every sshd on the machine, so it stays.
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    host_key = os.path.join(tmp, "ssh_host_ed25519_key")
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key)
    key_file = os.path.join(tmp, "id_ed25519")
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dockyard-test", "-f", key_file)

    suffix = secrets.token_hex(3)
    key_user, pw_user = "dyt_key_" + suffix, "dyt_pw_" + suffix
    password = "pw-" + secrets.token_urlsafe(12)
    sudoers = "/etc/sudoers.d/dyt_" + suffix
    process = None
    try:
        _add_user(key_user)
        _add_user(pw_user, password)
        _authorize(key_user, open(key_file + ".pub").read())
        _write_sudoers(sudoers, key_user, pw_user)
        process, port = _start_sshd(tmp, host_key, [key_user, pw_user])

        host_key_line = "[127.0.0.1]:%d %s\n" % (port, " ".join(open(host_key + ".pub").read().split()[:2]))
        known_hosts = os.path.join(tmp, "known_hosts")
        with open(known_hosts, "w") as f:
            f.write(host_key_line)
        yield SshServer(address="127.0.0.1", port=port, known_hosts=known_hosts,
                        host_key_line=host_key_line, key_user=key_user, key_file=key_file,
                        pw_user=pw_user, password=password)
    finally:
        if process is not None:
            process.terminate()
            process.wait()
        for user in (key_user, pw_user):
            _remove_user(user)
        for path in (sudoers, sudoers + ".new"):
            if os.path.exists(path):
                os.remove(path)
