"""The real docker CLI (Debian's docker.io) against yardd: the API is Docker's, down to the
hijacked attach/exec streams, the wait-then-start dance of `run` and ps/inspect's fields."""
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import termios
import time

import pytest

from yardd import fetch_published, yardd  # noqa: F401  (yardd: the fixture)

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
              pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (docker.io)")]


def test_docker_run_rm_passes_output_and_exit_code(yardd):
    result = yardd.docker("run", "--rm", "busybox", "echo", "hi")
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr
    result = yardd.docker("run", "--rm", "busybox", "sh", "-c", "echo oops >&2; exit 3")
    assert (result.returncode, result.stderr) == (3, "oops\n")
    assert yardd.docker("run", "--rm", "-i", "busybox", "cat", input="through stdin\n").stdout == "through stdin\n"
    assert yardd.docker("run", "--rm", "busybox", "nosuch").returncode == 127
    assert yardd.docker("ps", "-a", "-q").stdout == ""


def test_docker_run_detached_with_a_port_then_logs_exec_ps_stop_rm(yardd):
    server = "echo serving; while true; do echo hello-docker | nc -l -p 80; done"
    started = yardd.docker("run", "-d", "--name", "dweb", "-p", "80", "busybox", "sh", "-c", server)
    assert started.returncode == 0, started.stderr
    container_id = started.stdout.strip()
    port = int(yardd.docker("port", "dweb", "80").stdout.strip().splitlines()[0].rsplit(":", 1)[1])
    assert fetch_published(port) == b"hello-docker\n"
    assert yardd.docker("logs", "dweb").stdout == "serving\n"
    ps = yardd.docker("ps").stdout.splitlines()
    assert ps[0].split()[:2] == ["CONTAINER", "ID"]
    row = next(line for line in ps[1:] if line.startswith(container_id[:12]))
    assert "Up " in row and "dweb" in row and "->80/tcp" in row
    executed = yardd.docker("exec", "dweb", "sh", "-c", "echo from-exec; exit 6")
    assert (executed.returncode, executed.stdout) == (6, "from-exec\n")
    assert yardd.docker("exec", "-i", "dweb", "cat", input="exec stdin\n").stdout == "exec stdin\n"
    inspected = json.loads(yardd.docker("inspect", "dweb").stdout)[0]
    assert inspected["State"]["Running"] and inspected["Name"] == "/dweb"
    assert inspected["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert yardd.docker("stop", "-t", "1", "dweb").returncode == 0
    assert json.loads(yardd.docker("inspect", "dweb").stdout)[0]["State"]["Status"] == "exited"
    assert "Exited (" in yardd.docker("ps", "-a").stdout
    assert yardd.docker("rm", "dweb").returncode == 0
    assert yardd.docker("ps", "-a", "-q").stdout == ""
    assert yardd.veths() == [] and not any("DNAT" in rule for rule in yardd.rules())


def test_docker_run_it_gets_a_terminal_and_its_size(yardd):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    # At API 1.41 the CLI sends the size in a resize after the start (not in the create), so
    # the command may find no size yet (busybox's stty then prints only an error): it asks again.
    command = ('tty; read line; for i in $(seq 100); do size=$(stty size 2>/dev/null); '
               '[ -n "$size" ] && break; sleep 0.05; done; echo "$size"; exit 5')
    session = subprocess.Popen(["docker", "-H", yardd.host, "run", "-it", "--rm", "busybox", "sh", "-c",
                                command], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        seen = _read_until(master, b"/dev/pts/")
        os.write(master, b"typed\r")
        seen += _read_until(master, b"33 101")
        assert session.wait(timeout=30) == 5
    finally:
        if session.poll() is None:
            session.kill()
        os.close(master)
    assert b"/dev/pts/0" in seen and b"33 101" in seen


def _read_until(fd, wanted, timeout=30):
    data, deadline = b"", time.monotonic() + timeout
    while wanted not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(fd, 1000)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    return data


def test_docker_run_cgroupns_host_and_private(yardd):
    shared = yardd.docker("run", "--rm", "--cgroupns", "host", "busybox", "readlink", "/proc/self/ns/cgroup")
    assert (shared.returncode, shared.stdout.strip()) == (0, os.readlink("/proc/self/ns/cgroup")), shared.stderr
    private = yardd.docker("run", "--rm", "--cgroupns", "private", "busybox", "readlink", "/proc/self/ns/cgroup")
    assert private.returncode == 0 and private.stdout.strip() != os.readlink("/proc/self/ns/cgroup")


def test_docker_run_forwards_a_signal_that_the_container_traps(yardd):
    cli = subprocess.Popen(["docker", "-H", yardd.host, "run", "--rm", "busybox", "sh", "-c",
                            'trap "exit 42" TERM; echo ready; sleep 300 & wait'], stdout=subprocess.PIPE)
    try:
        assert _read_until(cli.stdout.fileno(), b"ready\n") == b"ready\n"
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=60) == 42          # its kill?signal=TERM reached the container
    finally:
        if cli.poll() is None:
            cli.kill()
