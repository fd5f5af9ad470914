"""NAT across hosts: published ports answer at the engine host's address (DNAT), containers'
outbound connections arrive from it (MASQUERADE), containers on one bridge reach each other,
and the rules live exactly as long as the container."""
import secrets

from engines import TEST_IMAGE

# A one-shot TCP server on a lab host: prints the peer's address once a client has connected.
SERVE = ("python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); "
         "s.bind((\"0.0.0.0\",%d)); s.listen(1); s.settimeout(60); c,a=s.accept(); c.sendall(b\"pong\"); "
         "print(a[0])'")
# A TCP client on a lab host: prints what the server sent.
FETCH = ("python3 -c 'import socket; c=socket.create_connection((\"%s\",%d),timeout=10); "
         "print(c.recv(100).decode())'")
# A container that answers every TCP connection on port 8080 with "hello".
HTTPISH = ("sh", "-c", "while true; do echo hello | nc -l -p 8080; done")


def _port():
    return 20000 + secrets.randbelow(10000)


def test_published_port_answers_from_another_host(host_pair, containers):
    engine, client = host_pair
    port = _port()
    containers(engine, engine.start("-p", "%d:8080" % port, command=HTTPISH))
    reply = client.sh(FETCH % (engine.address, port))
    assert reply.stdout.strip() == "hello", "from %s to %s:%d (published 8080) got %r, expected hello: %s" % (
        client.name, engine.name, port, reply.stdout, reply.stderr.strip())


def test_outbound_connection_arrives_from_the_engine_hosts_address(host_pair, containers):
    engine, remote = host_pair
    port = _port()
    # Detached from the SSH session (no descriptor of it left open), or the call would wait for it.
    remote.check("nohup timeout 60 %s > /tmp/dyk-peer-%d 2>/dev/null </dev/null &" % (SERVE % port, port))
    try:
        seen = ""
        for _ in range(20):                                       # until the server listens
            result = engine.run(TEST_IMAGE, "sh", "-c", "nc %s %d </dev/null" % (remote.address, port))
            if "pong" in result.stdout:
                seen = remote.check("sleep 0.5; cat /tmp/dyk-peer-%d" % port).strip()
                break
            engine.sh("sleep 0.5")
        assert seen == engine.address, "a container on %s reached %s from %r, expected the host's %s" % (
            engine.name, remote.name, seen, engine.address)
    finally:
        remote.sh("rm -f /tmp/dyk-peer-%d" % port)


def test_two_containers_on_the_bridge_reach_each_other(engine_host, containers):
    server = containers(engine_host, engine_host.start(command=HTTPISH))
    address = engine_host.address_of(server)
    result = engine_host.run(TEST_IMAGE, "sh", "-c", "for i in 1 2 3 4 5; do nc %s 8080 </dev/null && break; "
                                                     "sleep 1; done" % address)
    assert "hello" in result.stdout, "on %s, a container could not reach %s at %s:8080: %r" % (
        engine_host.name, server, address, result.stdout + result.stderr)


def test_nat_rules_live_as_long_as_the_container(engine_host, containers):
    port = _port()
    name = containers(engine_host, engine_host.start("-p", "%d:8080" % port, command=HTTPISH))
    address = engine_host.address_of(name)
    rule = "--to-destination %s:8080" % address
    rules = [line for line in engine_host.nat_rules().splitlines() if rule in line and "--dport %d" % port in line]
    assert rules, "on %s, no DNAT rule for %s while it runs" % (engine_host.name, name)
    engine_host.remove(name)
    left = [line for line in engine_host.nat_rules().splitlines() if rule in line and "--dport %d" % port in line]
    assert not left, "on %s, DNAT rules outlive container %s: %s" % (engine_host.name, name, left)
