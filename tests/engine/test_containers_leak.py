"""Run/rm cycles leave nothing behind: no process, veth, iptables rule, mount, cgroup or
state file. Each cycle publishes a port, so DNAT rules come and go too."""
import json
import os

import pytest

from engine.cli.client import Client
from yardd import wait_for, yardd  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

CYCLES = 200


def test_run_rm_cycles_leave_nothing_behind(yardd):
    client = Client(yardd.host)
    baseline_rules = yardd.rules()
    for cycle in range(CYCLES):
        # What `docker run --rm -p 80 busybox true` asks, minus the CLI's own start-up.
        body = {"Image": "busybox", "Cmd": ["true"], "ExposedPorts": {"80/tcp": {}},
                "HostConfig": {"AutoRemove": True, "PortBindings": {"80/tcp": [{"HostPort": ""}]}}}
        container_id = client.post("/containers/create", body=body)["Id"]
        waiter = client.open("POST", "/containers/%s/wait" % container_id, {"condition": "removed"})
        client.post("/containers/%s/start" % container_id)
        assert b'"StatusCode": 0' in waiter.read(), "cycle %d" % cycle
        waiter.close()
    # The last container's veth and files go just after its removal was answered
    # (ContainerService._remove_after_exit).
    assert wait_for(lambda: yardd.veths() == [] and yardd.container_dirs() == [], timeout=5)
    assert yardd.leftovers() == {"processes": [], "cgroups": [], "veths": [], "mounts": [], "containers": []}
    assert yardd.rules() == baseline_rules
    assert client.get("/containers/json", {"all": 1}) == []
    with open(os.path.join(yardd.data_root, "network", "bridge-%s.json" % yardd.bridge)) as source:
        network = json.load(source)
    assert network["endpoints"] == {} and not network["ipam"].get("leases")   # every address given back
