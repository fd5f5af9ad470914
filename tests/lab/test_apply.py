"""`provision apply lab/hosts.ini`, every step of provision/steps.yml, against the lab's three
hosts: a second run changes nothing, and a host that is down is reported unreachable while the
others finish. (tests/lab/test_host_preparation.py checks what the steps leave on the hosts.)
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from provision.lab import machine

pytestmark = [pytest.mark.root, pytest.mark.lab]

EXIT_UNREACHABLE_HOSTS = 4


def apply(lab, report):
    return subprocess.run([sys.executable, "-m", "provision.cli", "apply", str(lab.hosts_file),
                           "--report", str(report)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1200)


def test_a_second_apply_changes_nothing(lab, tmp_path):
    first = apply(lab, tmp_path / "first.json")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    summary = json.loads((tmp_path / "first.json").read_text())["summary"]
    assert sorted(summary) == lab.names
    assert all(summary[name]["changed"] > 0 for name in lab.names), summary

    second = apply(lab, tmp_path / "second.json")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr
    summary = json.loads((tmp_path / "second.json").read_text())["summary"]
    for name in lab.names:
        assert summary[name]["changed"] == 0, (name, summary[name])
        assert summary[name]["failed"] == summary[name]["unreachable"] == 0
        assert summary[name]["ok"] > 0


def test_a_host_that_is_down_is_unreachable_and_the_others_finish(lab, tmp_path):
    os.kill(machine.pid(lab.settings, 2), signal.SIGTERM)
    while machine.pid(lab.settings, 2) is not None:
        time.sleep(0.2)
    try:
        run = apply(lab, tmp_path / "report.json")
        assert run.returncode == EXIT_UNREACHABLE_HOSTS, run.stdout[-3000:] + run.stderr
        summary = json.loads((tmp_path / "report.json").read_text())["summary"]
        assert summary[lab.names[1]]["unreachable"] == 1
        for name in (lab.names[0], lab.names[2]):
            assert summary[name]["unreachable"] == summary[name]["failed"] == 0
            assert summary[name]["ok"] > 0
    finally:
        up = lab.run("up", "--hosts", str(lab.count))   # the other lab tests want all three
        assert up.returncode == 0, up.stderr
