"""`provision apply` with provision/steps.yml on 3 Debian 12 lab hosts (the last one in
`registry`): both engines converge, a second run changes nothing, drift made by hand is
reported by --check and repaired by the next run, and a bad daemon.json variable stops the
run before the host is touched.

The hosts are a lab of this module's own (hosts labh-1..3, bridge dylabh0, 10.231.9.0/24), so
provisioning them never disturbs the hosts the other lab tests look at; it is brought down at
the end whatever happened, and at the start in case a killed run left it.

`provision apply` runs from a copy of the repository's code taken when the module starts, so
the engine bundle it builds stays the same from run to run even while engine/ is being edited.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab_under_test import LabUnderTest, brought_up
from provision.lab.settings import REPOSITORY, Lab

pytestmark = [pytest.mark.root, pytest.mark.lab]


class PreparedLab(LabUnderTest):
    """The lab, plus a copy of the code `provision apply` runs (and bundles)."""

    def snapshot(self, directory):
        for part in ("provision", "engine", "templates"):
            shutil.copytree(REPOSITORY / part, Path(directory) / part,
                            ignore=shutil.ignore_patterns("__pycache__"))
        self.code = Path(directory)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    prepared = PreparedLab(Lab(name="labh", subnet="10.231.9", out_dir=tmp_path_factory.mktemp("labh")))
    prepared.snapshot(tmp_path_factory.mktemp("code"))
    yield from brought_up(prepared)


PING = ("python3 -c 'import http.client, socket\n"
        "class C(http.client.HTTPConnection):\n"
        "    def connect(self):\n"
        "        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(\"%s\")\n"
        "c = C(\"localhost\"); c.request(\"GET\", \"/_ping\"); r = c.getresponse()\n"
        "print(r.status, r.read().decode())'")


def apply(lab, tmp_path, *options):
    """Run `provision apply` on the lab; (exit status, the JSON report, output)."""
    report = tmp_path / ("report-%d.json" % len(list(tmp_path.glob("report-*.json"))))
    done = subprocess.run([sys.executable, "-m", "provision.cli", "apply", str(lab.hosts_file),
                           "--report", str(report), *options], cwd=lab.code,
                          env=dict(os.environ, PYTHONPATH=str(lab.code)),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800)
    return done.returncode, json.loads(report.read_text()), done.stdout + done.stderr


def changed_steps(report, host):
    return [step["name"] for step in report["hosts"][host] if step["result"] == "changed"]


def failed_steps(report):
    return {host: [(s["name"], s["reason"]) for s in steps if s["result"] == "failed"]
            for host, steps in report["hosts"].items() if any(s["result"] == "failed" for s in steps)}


def converge(lab, tmp_path, *options):
    status, report, output = apply(lab, tmp_path, *options)
    assert status == 0 and not failed_steps(report), output
    status, again, output = apply(lab, tmp_path, *options)
    assert status == 0, output
    assert {host: changed_steps(again, host) for host in lab.names} == {host: [] for host in lab.names}
    return report


def test_check_on_fresh_hosts_says_what_would_change_and_changes_nothing(lab, tmp_path):
    status, report, output = apply(lab, tmp_path, "--check")
    assert status == 0 and not failed_steps(report), output
    for host in lab.names:
        assert {"Debian sources from the mirror", "Bridge netfilter and forwarding sysctls", "yard bundle",
                "yard enabled and running"} <= set(changed_steps(report, host))
    for index in range(1, lab.count + 1):
        assert lab.sh(index, "ls /etc/yard /etc/sysctl.d/99-yard.conf /usr/local/lib/yard")[0] != 0
        assert lab.sh(index, "test -f /etc/apt/sources.list.d/debian.sources")[0] == 0


@pytest.fixture(scope="module")
def yard_lab(lab, tmp_path_factory):
    converge(lab, tmp_path_factory.mktemp("yard"))
    return lab


def test_yard_hosts_converge_with_their_settings_live(yard_lab):
    lab = yard_lab
    for index, name in enumerate(lab.names, 1):
        assert lab.sh(index, PING % "/run/yard.sock") == (0, "200 OK\n")
        assert lab.sh(index, "systemctl is-enabled yard")[1] == "enabled\n"
        config = json.loads(lab.sh(index, "cat /etc/yard/daemon.json")[1])
        assert config["cgroup-parent"] == name
        assert lab.sh(index, "sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables "
                             "net.ipv4.conf.all.rp_filter net.ipv4.conf.default.rp_filter")[1] == "1\n1\n0\n0\n"
        assert lab.sh(index, "cat /etc/modules-load.d/yard.conf | grep -v '^#'")[1] == "br_netfilter\noverlay\n"
        # The distribution's sources are kept, and packages come from the lab's mirror.
        assert lab.sh(index, "test -f /etc/apt/sources.list.d/debian.sources.dockyard-bak")[0] == 0
        assert "%s/debian bookworm main" % lab.settings.mirror_url in lab.sh(index, "cat /etc/apt/sources.list")[1]


def test_the_registry_answers_other_hosts_on_port_5000(yard_lab):
    lab = yard_lab
    probe = ("python3 -c 'import urllib.request; "
             "print(urllib.request.urlopen(\"http://%s:5000/v2/\", timeout=10).status)'" % lab.addresses[-1])
    assert lab.sh(1, probe) == (0, "200\n")
    assert lab.sh(1, "systemctl is-active docker-registry")[1] != "active\n"


def test_drift_is_reported_by_check_and_repaired(yard_lab, tmp_path):
    lab = yard_lab
    name = lab.names[0]
    lab.sh(1, "rm /etc/sysctl.d/99-yard.conf && sysctl -qw net.ipv4.ip_forward=0 && "
              "sed -i 's/\"debug\": false/\"debug\": true/' /etc/yard/daemon.json && systemctl stop yard")

    status, report, output = apply(lab, tmp_path, "--check", "--diff", "--limit", name)
    assert status == 0, output
    assert {"Bridge netfilter and forwarding sysctls", "yard daemon.json",
            "yard enabled and running"} <= set(changed_steps(report, name))
    diff = next(step["diff"] for step in report["hosts"][name] if step["name"] == "yard daemon.json")
    assert '-  "debug": true,\n+  "debug": false,\n' in diff
    assert lab.sh(1, "test -e /etc/sysctl.d/99-yard.conf")[0] != 0   # --check changed nothing
    assert lab.sh(1, "systemctl is-active yard")[1] != "active\n"

    status, report, output = apply(lab, tmp_path, "--limit", name)
    assert status == 0 and not failed_steps(report), output
    assert lab.sh(1, "sysctl -n net.ipv4.ip_forward") == (0, "1\n")
    assert json.loads(lab.sh(1, "cat /etc/yard/daemon.json")[1])["debug"] is False
    assert lab.sh(1, PING % "/run/yard.sock") == (0, "200 OK\n")
    status, report, output = apply(lab, tmp_path, "--limit", name)
    assert changed_steps(report, name) == []


def test_a_bad_daemon_variable_fails_naming_it_and_keeps_the_old_file(yard_lab, tmp_path):
    lab = yard_lab
    before = lab.sh(1, "sha256sum /etc/yard/daemon.json /etc/sysctl.d/99-yard.conf")
    status, report, output = apply(lab, tmp_path, "--limit", lab.names[0], "-e", "bip=172.18.0.0/33",
                                   "-e", "sysctl_ip_forward=0")
    assert status != 0
    failures = failed_steps(report)[lab.names[0]]
    assert [step for step, _ in failures] == ["yard daemon.json"]
    assert "variable bip" in failures[0][1]
    assert lab.sh(1, "sha256sum /etc/yard/daemon.json /etc/sysctl.d/99-yard.conf") == before


def test_docker_hosts_converge_with_the_same_settings_and_registry_auth(yard_lab, tmp_path):
    lab = yard_lab
    converge(lab, tmp_path, "-e", json.dumps({"engine": "docker", "registry_auth_users": {"alice": "s3cret"}}))
    for index, name in enumerate(lab.names, 1):
        assert lab.sh(index, PING % "/run/docker.sock") == (0, "200 OK\n")
        config = json.loads(lab.sh(index, "cat /etc/docker/daemon.json")[1])
        assert config["cgroup-parent"] == name
    probe = ("python3 -c 'import base64, sys, urllib.error, urllib.request\n"
             "request = urllib.request.Request(\"http://%s:5000/v2/\")\n"
             "if sys.argv[1:]: request.add_header(\"Authorization\", \"Basic \" + base64.b64encode(sys.argv[1].encode()).decode())\n"
             "try: print(urllib.request.urlopen(request, timeout=10).status)\n"
             "except urllib.error.HTTPError as error: print(error.code)'" % lab.addresses[-1])
    assert lab.sh(1, probe) == (0, "401\n")
    assert lab.sh(1, probe + " alice:s3cret") == (0, "200\n")
    assert lab.sh(1, probe + " alice:wrong") == (0, "401\n")
