"""The floor for a provisioning run: one paramiko connection and one batched command per host,
all hosts at once, as a whole process (bench_provision.py times it like the tools).

    python tests/benchmarks/floor.py lab/hosts.ini
"""
import sys
from concurrent.futures import ThreadPoolExecutor

import paramiko

from provision.inventory import hosts_for, load

# What a run needs to read from a host in its first round trip, in one command.
COMMAND = "cat /etc/os-release; uname -r; id -u; ls /etc/apt /etc/yard 2>/dev/null"


def touch(host):
    client = paramiko.SSHClient()
    client.load_host_keys(host.ssh_options["userknownhostsfile"])
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host.address, port=host.port, username=host.user, key_filename=host.key_file,
                   look_for_keys=False, allow_agent=False)
    try:
        _, stdout, _ = client.exec_command(COMMAND)
        stdout.read()
        return stdout.channel.recv_exit_status()
    finally:
        client.close()


def main(path):
    hosts = hosts_for(load(path))
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        statuses = list(pool.map(touch, hosts))
    return 0 if statuses and not any(statuses) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
