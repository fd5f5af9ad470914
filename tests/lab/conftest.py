"""A lab of its own for the lab tests: 3 nspawn hosts, brought up once per session.

It runs beside any lab a developer has up: its own name (hosts labt-1..3, bridge dylabt0),
subnet, state directory and inventory directory (a temporary one). It is brought down at the
end of the session whatever happened, and also at the start, in case a killed run left one.

The `lab` fixture yields a `LabUnderTest`:

    lab.run("up", "--hosts", "3")   `provision lab ...` against this lab (a CompletedProcess)
    lab.names, lab.addresses        the hosts that `up` made, in order
    lab.hosts_file, lab.known_hosts, lab.key_file
    lab.ssh(index)                  a paramiko client logged in as root, host key verified
    lab.sh(index, command)          run a command there: (exit status, stdout + stderr)
"""
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from provision.lab.settings import Lab

NAME = "labt"
SUBNET = "10.231.7"


@dataclass
class LabUnderTest:
    settings: Lab
    count: int = 3

    @property
    def env(self):
        return dict(os.environ, DOCKYARD_LAB_NAME=self.settings.name,
                    DOCKYARD_LAB_SUBNET=self.settings.subnet,
                    DOCKYARD_LAB_DIR=str(self.settings.out_dir))

    def run(self, *verbs):
        return subprocess.run([sys.executable, "-m", "provision.cli", "lab", *verbs],
                              env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=900)

    @property
    def names(self):
        return [self.settings.host_name(i) for i in range(1, self.count + 1)]

    @property
    def addresses(self):
        return [self.settings.host_address(i) for i in range(1, self.count + 1)]

    @property
    def hosts_file(self):
        return self.settings.hosts_file

    @property
    def known_hosts(self):
        return self.settings.known_hosts_file

    @property
    def key_file(self):
        return self.settings.key_file

    def ssh(self, index):
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(self.settings.host_address(index), username="root",
                       key_filename=str(self.key_file), look_for_keys=False,
                       allow_agent=False, timeout=10)
        return client

    def sh(self, index, command, timeout=300):
        with self.ssh(index) as client:
            _, stdout, _ = client.exec_command(command + " 2>&1", timeout=timeout)
            output = stdout.read().decode()
            return stdout.channel.recv_exit_status(), output


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    test_lab = LabUnderTest(Lab(name=NAME, subnet=SUBNET, out_dir=tmp_path_factory.mktemp("lab")))
    test_lab.run("down")
    try:
        up = test_lab.run("up", "--hosts", str(test_lab.count))
        assert up.returncode == 0, up.stderr
        yield test_lab
    finally:
        down = test_lab.run("down")
        assert down.returncode == 0, down.stderr


@pytest.fixture
def spare_lab(tmp_path):
    """A second lab of one host (labd-1, bridge dylabd0), not yet up; brought down afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    spare = LabUnderTest(Lab(name="labd", subnet="10.231.8", out_dir=tmp_path / "lab"), count=1)
    spare.run("down")
    yield spare
    spare.run("down")
