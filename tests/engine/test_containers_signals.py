"""Signals through the yard CLI against a real yardd: docker's --sig-proxy on `run`, `start -a`
and `attach` (what the CLI receives goes to the container, which decides, and the CLI exits
with its code), and the kill endpoint's signal names."""
import os
import select
import signal
import subprocess

import pytest

from yardd import REPO, YARD, wait_for, yardd  # noqa: F401  (yardd: the fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

# Exits with a code of its own for each signal it traps, once it has said it is ready for them.
TRAPS = ('trap "exit 42" TERM; trap "exit 43" USR1; trap "exit 44" INT; trap "exit 45" 36; '
         'echo ready; sleep 300 & wait')


def _attached_cli(yardd, *args):
    """The yard CLI as a process, once the container's first line (`ready`) has come through it."""
    cli = subprocess.Popen(YARD + ["-H", yardd.host] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, cwd=REPO)
    assert select.select([cli.stdout], [], [], 60)[0], "no output from yard %s" % " ".join(args)
    assert cli.stdout.readline() == b"ready\n"
    return cli


def _trapping_container(yardd, name):
    yardd.yard_ok("run", "-d", "--name", name, "busybox", "sh", "-c", TRAPS)
    assert wait_for(lambda: yardd.yard_ok("logs", name) == "ready\n")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 42), (signal.SIGUSR1, 43), (signal.SIGINT, 44)])
def test_run_forwards_what_it_receives_and_exits_with_the_containers_code(yardd, signum, code):
    cli = _attached_cli(yardd, "run", "--rm", "busybox", "sh", "-c", TRAPS)
    cli.send_signal(signum)
    assert cli.wait(timeout=60) == code, cli.stderr.read()
    assert yardd.yard_ok("ps", "-a", "-q") == ""


def test_without_sig_proxy_the_signal_stops_the_cli_and_the_container_runs_on(yardd):
    cli = _attached_cli(yardd, "run", "--sig-proxy=false", "--name", "on-its-own", "busybox", "sh", "-c", TRAPS)
    cli.send_signal(signal.SIGTERM)
    assert cli.wait(timeout=60) == -signal.SIGTERM                  # as docker's CLI: killed by it
    assert yardd.inspect("on-its-own")["State"]["Running"]
    yardd.yard_ok("kill", "-s", "USR1", "on-its-own")
    assert yardd.yard_ok("wait", "on-its-own") == "43\n"          # the SIGTERM never reached it


def test_start_attach_forwards_too(yardd):
    yardd.yard_ok("create", "--name", "started", "busybox", "sh", "-c", TRAPS)
    cli = _attached_cli(yardd, "start", "-a", "started")
    cli.send_signal(signal.SIGTERM)
    assert cli.wait(timeout=60) == 42, cli.stderr.read()


def test_attach_forwards_unless_told_not_to(yardd):
    ticking = 'trap "exit 42" TERM; while true; do echo ready; sleep 1; done'
    for name, proxy, code in (("proxied", [], 42), ("unproxied", ["--sig-proxy=false"], -signal.SIGTERM)):
        yardd.yard_ok("run", "-d", "--name", name, "busybox", "sh", "-c", ticking)
        cli = _attached_cli(yardd, "attach", *(proxy + [name]))
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=60) == code
    assert yardd.inspect("proxied")["State"]["ExitCode"] == 42
    assert yardd.inspect("unproxied")["State"]["Running"]


@pytest.mark.parametrize("name, code", [("TERM", 42), ("SIGUSR1", 43), ("10", 43), ("int", 44), ("RTMIN+2", 45)])
def test_kill_takes_signal_names_with_or_without_sig_numbers_and_real_time_ones(yardd, name, code):
    _trapping_container(yardd, "target")
    yardd.yard_ok("kill", "-s", name, "target")
    assert yardd.yard_ok("wait", "target") == "%d\n" % code


def test_kill_refuses_an_unknown_signal_and_leaves_the_container_be(yardd):
    _trapping_container(yardd, "target")
    for name in ("BOGUS", "SIG_IGN", "0"):
        refused = yardd.yard("kill", "-s", name, "target")
        assert refused.returncode == 1 and "Invalid signal: %s" % name in refused.stderr
    assert yardd.inspect("target")["State"]["Running"]
