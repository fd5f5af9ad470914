"""The runner's pieces that need no host: facts parsing, check batching, exit codes, the report."""
import json
import os
import subprocess
import threading

import pytest

from provision import facts
from provision.actions import Observed
from provision.report import HostResult, Report, StepResult, redact, write_json
from provision.checks import batch_script, split_checks
from provision.runner import exit_code

CENTOS7 = """kernel=3.10.0-1160.el7.x86_64
arch=x86_64
hostname=c7
pid1=systemd
systemd_booted=yes
tool=yum
python=/usr/bin/python3
python_version=3.6.8
@@os-release
NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
@@mounts
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
"""

ROCKY9 = """kernel=5.14.0-362.el9.x86_64
arch=aarch64
pid1=systemd
systemd_booted=yes
tool=dnf
tool=yum
python=/usr/bin/python3
python_version=3.9.18
@@os-release
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
@@mounts
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
"""

EL8_MINIMAL = """kernel=4.18.0
arch=x86_64
pid1=systemd
systemd_booted=yes
tool=dnf
tool=yum
python=/usr/libexec/platform-python
python_version=3.6.8
@@os-release
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="8"
@@mounts
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw 0 0
"""

UBUNTU_IN_A_CONTAINER = """kernel=5.15.0
arch=x86_64
pid1=bash
tool=apt-get
tool=dnf
@@os-release
ID=ubuntu
ID_LIKE=debian
VERSION_ID="22.04"
VERSION_CODENAME=jammy
@@mounts
cgroup /sys/fs/cgroup/memory cgroup rw 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0
"""


def test_facts_centos7():
    found = facts.parse(CENTOS7)
    assert found == {
        "os_family": "el", "os_version": 7, "distribution": "centos", "distribution_version": "7",
        "distribution_codename": "", "kernel": "3.10.0-1160.el7.x86_64", "arch": "x86_64",
        "hostname": "c7", "init": "systemd", "cgroup": "v1", "python": "/usr/bin/python3",
        "python_version": "3.6.8", "pkg_mgr": "yum"}


def test_facts_rocky9_el8_and_ubuntu():
    rocky = facts.parse(ROCKY9)
    assert (rocky["os_family"], rocky["os_version"], rocky["pkg_mgr"], rocky["cgroup"], rocky["arch"]) == (
        "el", 9, "dnf", "v2", "aarch64")
    el8 = facts.parse(EL8_MINIMAL)
    assert (el8["os_version"], el8["python"], el8["pkg_mgr"], el8["cgroup"]) == (
        8, "/usr/libexec/platform-python", "dnf", "v1")
    ubuntu = facts.parse(UBUNTU_IN_A_CONTAINER)
    assert (ubuntu["os_family"], ubuntu["distribution"], ubuntu["os_version"], ubuntu["distribution_codename"],
            ubuntu["init"], ubuntu["cgroup"], ubuntu["pkg_mgr"], ubuntu["python"]) == (
        "debian", "ubuntu", 22, "jammy", "bash", "hybrid", "apt", "")


def test_facts_script_on_this_machine():
    """The real script in this machine's sh: Debian 12 with hybrid cgroups (DESIGN.md)."""
    done = subprocess.run(["sh", "-c", facts.FACTS_SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0
    found = facts.parse(done.stdout)
    assert (found["os_family"], found["os_version"], found["distribution_codename"]) == ("debian", 12, "bookworm")
    assert found["kernel"] == os.uname().release and found["arch"] == os.uname().machine
    assert found["pkg_mgr"] == "apt"          # dnf is installed here too: the family's own wins
    assert found["cgroup"] == "hybrid"
    assert found["python_version"].startswith("3.")


def test_checks_batched_in_one_script_come_back_apart():
    snippets = {0: "echo hello", 3: "printf 'no newline'; echo oops >&2; exit 3", 5: "cat; exit 0",
                7: "echo '@@dockyard-fake 1'"}
    marker = "@@dockyard-0123"
    done = subprocess.run(["sh", "-c", batch_script(snippets, marker)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert split_checks(done.stdout, done.stderr, marker) == {
        0: Observed(0, "hello\n", ""),
        3: Observed(3, "no newline", "oops\n"),
        5: Observed(0, "", ""),
        7: Observed(0, "@@dockyard-fake 1\n", ""),
    }


def step(result, name="s", handler=False):
    return StepResult(name, "command", result, "why", "", 0.5, handler)


def test_counts_and_exit_codes():
    fine = HostResult("a", [step("ok"), step("changed"), step("skipped")])
    assert fine.counts() == {"ok": 2, "changed": 1, "failed": 0, "skipped": 1, "unreachable": 0}
    failed = HostResult("b", [step("changed"), step("failed")])
    down = HostResult("c", unreachable="connection refused")
    assert exit_code([fine]) == 0
    assert exit_code([fine, failed]) == 2
    assert exit_code([fine, down]) == 4
    assert exit_code([failed, down]) == 6


def test_redact():
    assert redact("sudo: pw-secret wrong", ("pw-secret", None)) == "sudo: ******** wrong"


def test_json_report_replaces_the_file_whole(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    write_json(path, [HostResult("a", [step("changed", handler=True)]), HostResult("c", unreachable="refused")],
               check=True)
    document = json.loads(path.read_text())
    assert document == {
        "check": True,
        "summary": {"a": {"ok": 1, "changed": 1, "failed": 0, "skipped": 0, "unreachable": 0},
                    "c": {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 1}},
        "hosts": {"a": [{"name": "s", "action": "command", "result": "changed", "reason": "why",
                         "diff": "", "duration": 0.5, "handler": True}], "c": []},
        "unreachable": {"c": "refused"},
    }
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]   # no staging file left


def test_plain_lines_and_recap(tmp_path):
    with open(tmp_path / "out", "w") as stream:
        report = Report(stream, check=True, diff=True)
        report.start(["web1"])
        report.step_done("web1", StepResult("conf", "template", "changed", "/etc/a is absent", "+x\n"))
        report.step_done("web1", StepResult("svc", "service", "failed", "masked"))
        report.host_done(HostResult("web1", [step("changed"), step("failed")]))
        report.stop()
        report.recap([HostResult("web1", [step("changed"), step("failed")])])
    assert (tmp_path / "out").read_text() == (
        "changed: [web1] conf: would: /etc/a is absent\n"
        "+x\n"
        "fatal: [web1]: FAILED! svc: masked\n"
        "\n"
        "PLAY RECAP " + "*" * 69 + "\n"
        "web1                       : ok=1    changed=1    unreachable=0    failed=1    skipped=0\n")


def test_live_progress_on_a_terminal():
    """On a real pseudo-terminal the report draws (and clears) its live table with escapes."""
    master, slave = os.openpty()
    received = bytearray()
    reader = threading.Thread(target=_drain, args=(master, received))
    reader.start()
    with os.fdopen(slave, "w") as stream:
        report = Report(stream)
        assert report.tty
        report.start(["web1", "web2"])
        report.step_started("web1", "Config file")
        report.step_done("web1", StepResult("Config file", "template", "changed", "content differs"))
        report.host_done(HostResult("web1", [step("changed")]))
        report.stop()
        report.recap([HostResult("web1", [step("changed")])])
    reader.join()
    text = received.decode(errors="replace")
    assert "\x1b[" in text
    assert "changed: [web1] Config file: content differs" in text
    assert "PLAY RECAP" in text


def _drain(fd, into):
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:      # the terminal's other end closed
            break
        if not chunk:
            break
        into += chunk
    os.close(fd)
