"""The SSH transport against a real sshd on loopback (see conftest.py)."""
import glob
import hashlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from provision.transport import BecomeError, Connection, HostKeyError, RemoteError, TransportError


def closed_port():
    """A loopback port nobody listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def socket_owner(port):
    """The process name (from `ss`) of the local TCP socket bound to this source port."""
    out = subprocess.run(["ss", "-Htnp", "sport", "= :%d" % port],
                         capture_output=True, text=True, check=True).stdout
    return out


def client_port(conn):
    """The source port of the TCP connection sshd sees for this session."""
    return int(conn.run("echo $SSH_CONNECTION").stdout.split()[1])


@pytest.fixture
def user_dir(sshd):
    """A fresh directory in key_user's home, removed afterwards."""
    path = tempfile.mkdtemp(dir=os.path.expanduser("~" + sshd.key_user))
    subprocess.run(["chown", sshd.key_user, path], check=True)
    yield path
    subprocess.run(["rm", "-rf", path], check=True)


@pytest.fixture
def root_dir(tmp_path):
    """A directory only root may write into."""
    os.chmod(tmp_path, 0o755)
    return str(tmp_path)


def leftovers(sshd, directory):
    """Temporary files put() may have left: in the destination's directory, and staging
    directories of this session's users in /tmp (other test sessions may be uploading too)."""
    ours = {_uid(sshd.key_user), _uid(sshd.pw_user)}
    staging = [path for path in glob.glob("/tmp/.dockyard-*") if os.stat(path).st_uid in ours]
    return glob.glob(os.path.join(directory, ".*dockyard*")) + staging


def test_key_auth_runs_commands_on_one_reused_connection(sshd):
    with Connection(sshd.key_host()) as conn:
        result = conn.run("id -un; echo oops >&2; exit 3")
        assert (result.rc, result.stdout, result.stderr) == (3, sshd.key_user + "\n", "oops\n")
        assert conn.run("cat", stdin="fed on stdin").stdout == "fed on stdin"
        # Every command rides the same TCP connection, opened by this process.
        port = client_port(conn)
        assert client_port(conn) == port
        assert "pid=%d," % os.getpid() in socket_owner(port)


def test_large_stdin_stdout_and_stderr_do_not_stall(sshd):
    data = b"0123456789abcdef" * 4 * 65536      # 4 MiB: more than paramiko's 2 MiB window
    with Connection(sshd.key_host()) as conn:
        # Both outputs exceed the SSH window: reading one only would deadlock.
        result = conn.run("tee /dev/stderr", stdin=data)
    assert (result.rc, result.stdout, result.stderr) == (0, data.decode(), data.decode())
    with Connection(sshd.key_host()) as conn:
        # A command that never reads its stdin still ends normally.
        assert conn.run("exit 4", stdin=data).rc == 4


def test_password_auth(sshd):
    with Connection(sshd.pw_host()) as conn:
        assert conn.run("id -un").stdout.strip() == sshd.pw_user


def test_wrong_login_password_is_unreachable_naming_the_host(sshd):
    host = sshd.pw_host(name="badpw", password="not-the-password")
    with pytest.raises(TransportError) as error:
        Connection(host).connect()
    assert "host badpw" in str(error.value) and "authentication failed" in str(error.value)
    assert "not-the-password" not in str(error.value)


def test_ssh_agent_auth(sshd, tmp_path, monkeypatch):
    socket_path = str(tmp_path / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", socket_path],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        env = dict(os.environ, SSH_AUTH_SOCK=socket_path)
        for _ in range(100):    # the agent creates its socket shortly after starting
            if subprocess.run(["ssh-add", sshd.key_file], env=env,
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        host = sshd.key_host(key_file=None)
        monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
        with pytest.raises(TransportError, match="authentication failed"):
            Connection(host).connect()
        monkeypatch.setenv("SSH_AUTH_SOCK", socket_path)
        with Connection(host) as conn:
            assert conn.run("id -un").stdout.strip() == sshd.key_user
    finally:
        agent.terminate()
        agent.wait()


def test_sudo_without_password(sshd):
    with Connection(sshd.key_host(become=True)) as conn:
        result = conn.run("id -u; cat", stdin="in")
        assert (result.rc, result.stdout, result.stderr) == (0, "0\nin", "")
        assert conn.run("id -u", become=False).stdout == "%s\n" % _uid(sshd.key_user)


def test_sudo_with_password_never_shows_it(sshd):
    with Connection(sshd.pw_host(become=True)) as conn:
        result = conn.run("id -u; cat; echo done >&2", stdin="payload")
        # The password went to sudo only: the command's stdin holds just what we fed it.
        assert (result.rc, result.stdout, result.stderr) == (0, "0\npayload", "done\n")
        failing = conn.run("exit 7")
        assert failing.rc == 7
        assert sshd.password not in failing.stdout + failing.stderr
        broken = conn.run("if then")     # a shell syntax error is the command's, not sudo's
        assert broken.rc != 0 and "syntax error" in broken.stderr.lower()


def test_wrong_sudo_password_is_a_clear_error(sshd):
    host = sshd.pw_host(become=True, become_password="wrong-" + sshd.password)
    with Connection(host) as conn:
        with pytest.raises(BecomeError) as error:
            conn.run("id -u")
        assert "incorrect sudo password" in str(error.value) and "host pwhost" in str(error.value)
        assert sshd.password not in str(error.value)
        # An upload whose sudo is refused leaves nothing behind either.
        with pytest.raises(BecomeError):
            conn.put(b"x", "/etc/dyt-never-written", remote_sha256=None)
        assert leftovers(sshd, "/etc") == [] and not os.path.exists("/etc/dyt-never-written")
        # The connection survives a refused sudo.
        assert conn.run("id -un", become=False).stdout.strip() == sshd.pw_user


def test_sudo_password_missing(sshd):
    with Connection(sshd.pw_host(become=True, become_password=None)) as conn:
        with pytest.raises(BecomeError, match="ansible_become_password"):
            conn.run("id -u")


def test_unknown_host_key_is_refused(sshd, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    with pytest.raises(HostKeyError) as error:
        Connection(sshd.key_host(), known_hosts=str(known_hosts)).connect()
    message = str(error.value)
    assert "unknown host key" in message and "[127.0.0.1]:%d" % sshd.port in message
    assert "--accept-new-host-keys" in message
    assert known_hosts.read_text() == ""


def test_accept_new_records_the_key_and_then_verifies_it(sshd, tmp_path):
    known_hosts = str(tmp_path / "ssh" / "known_hosts")    # neither file nor directory exist yet
    with Connection(sshd.key_host(), known_hosts=known_hosts, accept_new=True) as conn:
        assert conn.run("true").rc == 0
    assert open(known_hosts).read() == sshd.host_key_line
    with Connection(sshd.key_host(), known_hosts=known_hosts) as conn:
        assert conn.run("true").rc == 0
    assert open(known_hosts).read() == sshd.host_key_line


def test_strict_host_key_checking_accept_new_from_the_inventory(sshd, tmp_path):
    known_hosts = str(tmp_path / "known_hosts")
    host = sshd.key_host(ssh_options={"userknownhostsfile": known_hosts,
                                      "stricthostkeychecking": "accept-new"})
    with Connection(host) as conn:
        assert conn.run("true").rc == 0
    assert open(known_hosts).read() == sshd.host_key_line


def test_known_hosts_read_as_openssh_does(sshd, tmp_path):
    """Hashed names (ssh-keyscan -H) match; lines that cannot be read are skipped, not fatal."""
    hashed = subprocess.run(["ssh-keyscan", "-H", "-t", "ed25519", "-p", str(sshd.port), "127.0.0.1"],
                            capture_output=True, text=True, check=True).stdout
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("# comment\n@cert-authority *.example ssh-ed25519 AAAA\nnot a key line\n"
                           + hashed)
    with Connection(sshd.key_host(), known_hosts=str(known_hosts)) as conn:
        assert conn.run("true").rc == 0


def test_changed_host_key_is_refused_even_with_accept_new(sshd, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")],
                   check=True)
    other = (tmp_path / "other.pub").read_text().split()
    known_hosts = tmp_path / "known_hosts"
    stale = "[127.0.0.1]:%d %s %s\n" % (sshd.port, other[0], other[1])
    known_hosts.write_text(stale)
    with pytest.raises(HostKeyError) as error:
        Connection(sshd.key_host(), known_hosts=str(known_hosts), accept_new=True).connect()
    message = str(error.value)
    assert "CHANGED" in message and "ssh-keygen -R '[127.0.0.1]:%d'" % sshd.port in message
    assert known_hosts.read_text() == stale


def test_put_writes_content_and_mode_and_skips_unchanged(sshd, user_dir):
    dest = os.path.join(user_dir, "conf")
    with Connection(sshd.key_host()) as conn:
        assert conn.sha256(dest) is None
        assert conn.put(b"one\n", dest, mode=0o600) is True
        first = os.stat(dest)
        assert open(dest, "rb").read() == b"one\n" and first.st_mode & 0o7777 == 0o600
        assert conn.sha256(dest) == hashlib.sha256(b"one\n").hexdigest()
        assert conn.put(b"one\n", dest, mode=0o600) is False
        assert os.stat(dest).st_ino == first.st_ino
        assert conn.put(b"two\n", dest, mode=0o640) is True
        second = os.stat(dest)
        assert open(dest, "rb").read() == b"two\n" and second.st_mode & 0o7777 == 0o640
        # Replaced by a rename, never rewritten in place.
        assert second.st_ino != first.st_ino
    assert leftovers(sshd, user_dir) == []


def test_put_with_a_known_checksum_makes_no_round_trip(sshd, user_dir):
    dest = os.path.join(user_dir, "absent")
    with Connection(sshd.key_host()) as conn:
        # The caller says the host already has this content: nothing is checked or sent.
        assert conn.put(b"x", dest, remote_sha256=hashlib.sha256(b"x").hexdigest()) is False
    assert not os.path.exists(dest)


@pytest.mark.parametrize("kind, mode", [("key_host", 0o640), ("pw_host", "0640")])
def test_put_with_become_sets_owner_group_and_mode(sshd, root_dir, kind, mode):
    dest = os.path.join(root_dir, "secret.conf")
    with Connection(getattr(sshd, kind)(become=True)) as conn:
        assert conn.put(b"secret\n", dest, mode=mode, owner="root", group=sshd.pw_user) is True
        assert conn.put(b"secret\n", dest, mode=mode, owner="root", group=sshd.pw_user) is False
    st = os.stat(dest)
    assert open(dest, "rb").read() == b"secret\n"
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 0, _gid(sshd.pw_user))
    assert leftovers(sshd, root_dir) == []


def test_failed_put_leaves_dest_untouched(sshd, root_dir):
    dest = os.path.join(root_dir, "keep")
    with open(dest, "w") as f:
        f.write("old\n")
    with Connection(sshd.key_host(become=True)) as conn:
        with pytest.raises(RemoteError) as error:
            conn.put(b"new\n", dest, owner="no-such-user-dyt")
    assert dest in str(error.value) and "no-such-user-dyt" in str(error.value)
    assert open(dest).read() == "old\n"
    assert leftovers(sshd, root_dir) == []


def test_put_without_rights_fails_clearly(sshd, root_dir):
    with Connection(sshd.key_host()) as conn:
        with pytest.raises(RemoteError, match="cannot write %s" % os.path.join(root_dir, "f")):
            conn.put(b"x", os.path.join(root_dir, "f"))
    assert os.listdir(root_dir) == [] and leftovers(sshd, root_dir) == []


def test_command_timeout(sshd):
    with Connection(sshd.key_host()) as conn:
        with pytest.raises(TimeoutError, match="host keyhost"):
            conn.run("sleep 30", timeout=0.5)
        assert conn.run("echo still here").stdout == "still here\n"


def test_connection_lost_mid_run_is_a_transport_error(sshd):
    with Connection(sshd.key_host(name="lost")) as conn:
        port = client_port(conn)
        # sshd's processes for this one login: they hold the server end of our TCP connection.
        server_end = subprocess.run(["ss", "-Htnp", "dport", "= :%d" % port],
                                    capture_output=True, text=True, check=True).stdout
        pids = {int(pid) for pid in re.findall(r"pid=(\d+),", server_end)}
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(TransportError, match="host lost: connection lost"):
            conn.run("true")


def test_closed_port_is_unreachable_after_bounded_retries(sshd):
    host = sshd.key_host(name="gone", port=closed_port())
    with pytest.raises(TransportError) as error:
        Connection(host, retries=1).connect()
    assert "host gone" in str(error.value) and "after 2 attempts" in str(error.value)


class NotSsh:
    """A TCP server that is no SSH server: it drops every connection, or holds it silently."""

    def __init__(self, hold):
        self.hold = hold
        self.accepted = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)
            if not self.hold:
                conn.close()

    def stop(self):
        self.listener.shutdown(socket.SHUT_RDWR)     # wakes the blocked accept()
        self.listener.close()
        self.thread.join()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def not_ssh(request):
    server = NotSsh(hold=request.param)
    yield server
    server.stop()


@pytest.mark.parametrize("not_ssh", [False], indirect=True)
def test_connect_attempts_are_bounded(sshd, not_ssh):
    """A server that drops every connection is tried 1 + retries times, then given up."""
    host = sshd.key_host(name="flaky", port=not_ssh.port)
    with pytest.raises(TransportError, match="host flaky: unreachable after 3 attempts"):
        Connection(host, retries=2).connect()
    assert len(not_ssh.accepted) == 3


@pytest.mark.parametrize("not_ssh", [True], indirect=True)
def test_connect_timeout(sshd, not_ssh):
    """A server that never says a word is given up on after the connect timeout, each attempt."""
    host = sshd.key_host(name="mute", port=not_ssh.port)
    with pytest.raises(TransportError, match="host mute: unreachable after 2 attempts"):
        Connection(host, connect_timeout=1, retries=1).connect()
    assert len(not_ssh.accepted) == 2


def test_proxy_jump_through_the_same_sshd(sshd):
    host = sshd.key_host(proxy_jump="%s@127.0.0.1:%d" % (sshd.key_user, sshd.port))
    with Connection(host) as conn:
        assert conn.run("id -un").stdout.strip() == sshd.key_user
        # The host's TCP connection was opened by the jump host's sshd, not by this process.
        owner = socket_owner(client_port(conn))
        assert '"sshd"' in owner and "pid=%d," % os.getpid() not in owner


def test_proxy_jump_host_down(sshd):
    host = sshd.key_host(name="behind", proxy_jump="127.0.0.1:%d" % closed_port())
    with pytest.raises(TransportError, match="host behind: unreachable .*jump host"):
        Connection(host, retries=0).connect()


def _uid(user):
    return int(subprocess.run(["id", "-u", user], capture_output=True, text=True).stdout)


def _gid(group):
    return int(subprocess.run(["getent", "group", group], capture_output=True,
                              text=True).stdout.split(":")[2])


def test_a_host_that_vanishes_mid_command_fails_instead_of_hanging(sshd, monkeypatch):
    """Packets to the host are dropped while a command runs: the run must end as unreachable."""
    from provision import transport
    monkeypatch.setattr(transport, "KEEPALIVE", 1)
    monkeypatch.setattr(transport, "DEAD_PEER_MS", 3000)
    rule = ["INPUT", "-p", "tcp", "-s", "127.0.0.1", "--dport", str(sshd.port), "-j", "DROP"]
    with Connection(sshd.key_host()) as connection:
        assert connection.run("true").rc == 0
        subprocess.run(["iptables", "-I"] + rule, check=True)
        try:
            # Without the dead-peer limit TCP would retransmit for ~15 minutes, and the command's
            # own timeout (TimeoutError) would end the wait first.
            with pytest.raises(TransportError, match="connection lost"):
                connection.run("sleep 600", timeout=90)
        finally:
            subprocess.run(["iptables", "-D"] + rule, check=True)
