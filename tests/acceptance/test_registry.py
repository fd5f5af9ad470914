"""Registries across hosts: push on one host, pull on another with the same digest; plain HTTP
only where insecure-registries allows it; docker.io names through the configured mirror; and a
registry with auth refusing an unauthenticated push."""
import secrets

import bcrypt
import pytest

from engines import TEST_IMAGE


def registry_address(registry_host, port=None):
    return "%s:%s" % (registry_host.address, port or registry_host.vars.get("registry_port", 5000))


def repo_digest(host, reference):
    digests = host.inspect(reference).get("RepoDigests") or []
    assert digests, "on %s, %s has no repository digest" % (host.name, reference)
    return digests[0].split("@", 1)[1]


def push_test_image(host, reference):
    host.cli_ok("tag", TEST_IMAGE, reference)
    host.cli_ok("push", reference)


def test_push_on_one_host_pull_on_another_same_digest(host_pair, registry_host):
    pusher, puller = host_pair
    reference = "%s/dockyard-test/across:%s" % (registry_address(registry_host), secrets.token_hex(4))
    push_test_image(pusher, reference)
    try:
        puller.cli_ok("pull", reference)
        assert repo_digest(puller, reference) == repo_digest(pusher, reference), \
            "%s pulled %s from %s with another digest than %s pushed" % (
                puller.name, reference, registry_host.name, pusher.name)
    finally:
        pusher.cli("rmi", reference)
        puller.cli("rmi", reference)


def test_plain_http_is_allowed_only_by_insecure_registries(engine_host, registry_host):
    listed = registry_address(registry_host)
    assert listed in engine_host.vars.get("insecure_registries", []), \
        "the inventory lists no insecure-registries entry %s for %s" % (listed, engine_host.name)
    tag = secrets.token_hex(4)
    push_test_image(engine_host, "%s/dockyard-test/insecure:%s" % (listed, tag))
    # The same registry under a name that insecure-registries does not list must be refused.
    alias = "dyk-unlisted-%s" % tag
    engine_host.check("cp /etc/hosts /etc/hosts.dyk-%s && echo '%s %s' >> /etc/hosts" % (tag, registry_host.address, alias))
    try:
        result = engine_host.cli("pull", "%s:%s/dockyard-test/insecure:%s" % (
            alias, registry_host.vars.get("registry_port", 5000), tag))
        message = (result.stderr + result.stdout).lower()
        assert result.rc != 0, "on %s, a pull over plain HTTP from an unlisted registry succeeded" % engine_host.name
        assert "https" in message, "on %s, the refused pull does not say why (HTTPS): %s" % (engine_host.name, message)
    finally:
        engine_host.sh("mv /etc/hosts.dyk-%s /etc/hosts" % tag)
        engine_host.cli("rmi", "%s/dockyard-test/insecure:%s" % (listed, tag))


def test_docker_io_name_is_served_through_the_registry_mirror(engine_host, registry_host):
    mirror = "http://%s" % registry_address(registry_host)
    assert mirror in engine_host.vars.get("registry_mirrors", []), \
        "the inventory lists no registry mirror %s for %s" % (mirror, engine_host.name)
    tag = secrets.token_hex(4)
    pushed = "%s/dockyardtest/mirrored:%s" % (registry_address(registry_host), tag)
    push_test_image(engine_host, pushed)
    engine_host.cli_ok("rmi", pushed)
    try:
        # docker.io/dockyardtest/mirrored exists nowhere but on the mirror (and hosts reach no internet).
        engine_host.cli_ok("pull", "dockyardtest/mirrored:%s" % tag)
        assert engine_host.cli("image", "inspect", "dockyardtest/mirrored:%s" % tag).rc == 0
    finally:
        engine_host.cli("rmi", "dockyardtest/mirrored:%s" % tag)


@pytest.fixture
def auth_registry(registry_host):
    """A second registry on the registry host, port registry_port + 1, with htpasswd auth.

    Its port is the one insecure-registries lists, so every host's test shares it: xdist workers
    take turns through a lock directory on the registry host (a stale lock, left by an interrupted run, expires after 3 min).
    """
    port = int(registry_host.vars.get("registry_port", 5000)) + 1
    user, password = "dyk-user", secrets.token_hex(8)
    workdir = "/tmp/dyk-auth-registry-%d" % port
    lock = workdir + ".lock"
    registry_host.check("for i in $(seq 600); do find %s -maxdepth 0 -mmin +3 -exec rmdir {} + 2>/dev/null; "
                        "mkdir %s 2>/dev/null && exit 0; sleep 0.5; done; exit 1" % (lock, lock))
    binary = registry_host.check("command -v docker-registry || command -v registry").strip()
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=8)).decode()
    config = ('{"version": 0.1, "storage": {"filesystem": {"rootdirectory": "%s/data"}}, '
              '"http": {"addr": ":%d"}, "auth": {"htpasswd": {"realm": "dyk", "path": "%s/htpasswd"}}}'
              % (workdir, port, workdir))
    # A registry left by an interrupted run would answer in place of ours, with other users.
    # ([s]erve: the pattern must not match this very shell's command line, or pkill ends it.)
    registry_host.sh("pkill -f '[s]erve %s/config.yml'; rm -rf %s" % (workdir, workdir))
    registry_host.check("mkdir -p %s/data && echo '%s:%s' > %s/htpasswd && echo '%s' > %s/config.yml" % (
        workdir, user, hashed, workdir, config, workdir))
    registry_host.check("nohup %s serve %s/config.yml > %s/log 2>&1 </dev/null & echo $! > %s/pid" % (
        binary, workdir, workdir, workdir))
    registry_host.check("for i in $(seq 50); do kill -0 $(cat %s/pid) || exit 1; python3 -c 'import socket; "
                        "socket.create_connection((\"127.0.0.1\",%d),1)' 2>/dev/null && exit 0; sleep 0.2; done; "
                        "exit 1" % (workdir, port))
    yield {"address": registry_address(registry_host, port), "user": user, "password": password}
    registry_host.sh("pkill -f '[s]erve %s/config.yml'; rm -rf %s; rmdir %s" % (workdir, workdir, lock))


def test_registry_with_auth_refuses_an_unauthenticated_push(engine_host, auth_registry):
    reference = "%s/dockyard-test/private:%s" % (auth_registry["address"], secrets.token_hex(4))
    engine_host.cli_ok("tag", TEST_IMAGE, reference)
    try:
        refused = engine_host.cli("push", reference)
        message = (refused.stderr + refused.stdout).lower()
        assert refused.rc != 0, "on %s, an unauthenticated push to %s succeeded" % (engine_host.name, reference)
        assert "auth" in message, "on %s, the refused push does not say it lacks authentication: %s" % (
            engine_host.name, message)
        engine_host.cli_ok("login", "-u", auth_registry["user"], "-p", auth_registry["password"],
                           auth_registry["address"])
        engine_host.cli_ok("push", reference)
    finally:
        engine_host.cli("logout", auth_registry["address"])
        engine_host.cli("rmi", reference)
