"""pyinfra inventory: the hosts of the lab's hosts.ini (BENCH_HOSTS_INI), read with provision's
own inventory parser so both tools see the same hosts, key, known_hosts and variables."""
import os

from provision.inventory import hosts_for, load

engines = [
    (host.address, {
        **host.vars,
        "ssh_user": host.user,
        "ssh_key": host.key_file,
        "ssh_known_hosts_file": host.ssh_options["userknownhostsfile"],
        "ssh_strict_host_key_checking": "yes",
    })
    for host in hosts_for(load(os.environ["BENCH_HOSTS_INI"]))
]
