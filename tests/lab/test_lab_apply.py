"""`provision apply lab/hosts.ini`, every step of provision/steps.yml, against the lab's three
hosts: a second run changes nothing, and a host that is down is reported unreachable while the
others finish. (tests/lab/test_host_preparation.py checks what the steps leave on the hosts.)
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from provision.lab import machine
from provision.lab.settings import REPOSITORY

pytestmark = [pytest.mark.root, pytest.mark.lab]

EXIT_UNREACHABLE_HOSTS = 4


@pytest.fixture(scope="module")
def code(tmp_path_factory):
    """A copy of the code `provision apply` runs and bundles: in a working tree others edit,
    the engine bundle would otherwise differ between two runs."""
    directory = tmp_path_factory.mktemp("code")
    for part in ("provision", "engine", "templates"):
        shutil.copytree(REPOSITORY / part, directory / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return directory


def apply(lab, code, report):
    return subprocess.run([sys.executable, "-m", "provision.cli", "apply", str(lab.hosts_file),
                           "--report", str(report)],
                          cwd=code, env=dict(os.environ, PYTHONPATH=str(code)),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1200)


def test_a_second_apply_changes_nothing(lab, code, tmp_path):
    first = apply(lab, code, tmp_path / "first.json")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    summary = json.loads((tmp_path / "first.json").read_text())["summary"]
    assert sorted(summary) == lab.names
    assert all(summary[name]["changed"] > 0 for name in lab.names), summary

    second = apply(lab, code, tmp_path / "second.json")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr
    summary = json.loads((tmp_path / "second.json").read_text())["summary"]
    steps = json.loads((tmp_path / "second.json").read_text())["hosts"]
    for name in lab.names:
        changed = [step["name"] for step in steps[name] if step["result"] == "changed"]
        assert summary[name]["changed"] == 0, (name, summary[name], changed)
        assert summary[name]["failed"] == summary[name]["unreachable"] == 0
        assert summary[name]["ok"] > 0


def test_a_host_that_is_down_is_unreachable_and_the_others_finish(lab, code, tmp_path):
    os.kill(machine.pid(lab.settings, 2), signal.SIGTERM)
    while machine.pid(lab.settings, 2) is not None:
        time.sleep(0.2)
    try:
        run = apply(lab, code, tmp_path / "report.json")
        assert run.returncode == EXIT_UNREACHABLE_HOSTS, run.stdout[-3000:] + run.stderr
        summary = json.loads((tmp_path / "report.json").read_text())["summary"]
        assert summary[lab.names[1]]["unreachable"] == 1
        for name in (lab.names[0], lab.names[2]):
            assert summary[name]["unreachable"] == summary[name]["failed"] == 0
            assert summary[name]["ok"] > 0
    finally:
        up = lab.run("up", "--hosts", str(lab.count))   # the other lab tests want all three
        assert up.returncode == 0, up.stderr
