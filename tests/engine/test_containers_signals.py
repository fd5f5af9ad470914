"""Signals against a real yardd: the kill endpoint's signal names."""
import os

import pytest

from yardd import wait_for, yardd  # noqa: F401  (yardd: the fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

# Exits with a code of its own for each signal it traps, once it has said it is ready for them.
TRAPS = ('trap "exit 42" TERM; trap "exit 43" USR1; trap "exit 44" INT; trap "exit 45" 36; '
         'echo ready; sleep 300 & wait')


def _trapping_container(yardd, name):
    yardd.yard_ok("run", "-d", "--name", name, "busybox", "sh", "-c", TRAPS)
    assert wait_for(lambda: yardd.yard_ok("logs", name) == "ready\n")


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
