"""LabUnderTest: a lab of the tests' own, driven through `provision lab` and reached over SSH.

    lab.run("up", "--hosts", "3")   `provision lab ...` against this lab (a CompletedProcess)
    lab.names, lab.addresses        the hosts that `up` made, in order
    lab.hosts_file, lab.known_hosts, lab.key_file
    lab.ssh(index)                  a paramiko client logged in as root, host key verified
    lab.sh(index, command)          run a command there: (exit status, stdout + stderr)
    brought_up(lab)                 a fixture body: down (a killed run's leftovers), up, yield, down
"""
import os
import subprocess
import sys
from dataclasses import dataclass

import paramiko
import pytest

from provision.lab.settings import Lab


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


def brought_up(lab):
    """Yield `lab` up with its hosts, and bring it down afterwards whatever happened."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    lab.run("down")
    try:
        up = lab.run("up", "--hosts", str(lab.count))
        assert up.returncode == 0, up.stderr
        yield lab
    finally:
        down = lab.run("down")
        assert down.returncode == 0, down.stderr
