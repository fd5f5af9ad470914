"""Host preparation: what `provision apply` promised is live on every engine host."""
import json

import pytest

SYSCTLS = [
    ("net.bridge.bridge-nf-call-iptables", "sysctl_bridge_nf_call_iptables"),
    ("net.bridge.bridge-nf-call-ip6tables", "sysctl_bridge_nf_call_ip6tables"),
    ("net.ipv4.ip_forward", "sysctl_ip_forward"),
    ("net.ipv4.conf.default.rp_filter", "sysctl_rp_filter_default"),
    ("net.ipv4.conf.all.rp_filter", "sysctl_rp_filter_all"),
]
DEFAULT_SYSCTL = {"sysctl_bridge_nf_call_iptables": 1, "sysctl_bridge_nf_call_ip6tables": 1,
                  "sysctl_ip_forward": 1, "sysctl_rp_filter_default": 0, "sysctl_rp_filter_all": 0}


def test_br_netfilter_is_loaded_or_built_in(engine_host):
    # The module's sysctls exist exactly when br_netfilter is in the kernel, loaded or built in.
    assert engine_host.host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").exists, \
        "on %s, br_netfilter is neither loaded nor built in" % engine_host.name
    persisted = engine_host.host.file("/etc/modules-load.d/yard.conf")
    assert persisted.exists and "br_netfilter" in persisted.content_string.split(), \
        "on %s, br_netfilter is not persisted in /etc/modules-load.d/yard.conf" % engine_host.name


@pytest.mark.parametrize("key,variable", SYSCTLS, ids=[key for key, _ in SYSCTLS])
def test_sysctl_value_is_live(engine_host, key, variable):
    expected = int(engine_host.vars.get(variable, DEFAULT_SYSCTL[variable]))
    seen = engine_host.host.sysctl(key)
    assert seen == expected, "on %s, %s is %r, expected %r" % (engine_host.name, key, seen, expected)


def test_package_mirror_is_configured(engine_host):
    mirror = engine_host.vars.get("debian_mirror") or engine_host.vars.get("mirror")
    assert mirror, "on %s, the inventory names no mirror to check" % engine_host.name
    os_family = engine_host.host.system_info.distribution
    if os_family in ("debian", "ubuntu"):
        sources = engine_host.sh("cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list "
                                 "/etc/apt/sources.list.d/*.sources 2>/dev/null").stdout
    else:
        sources = engine_host.sh("cat /etc/yum.repos.d/*.repo").stdout
    if mirror.startswith("http"):
        assert mirror.rstrip("/") in sources, "on %s, the package sources do not use %s" % (engine_host.name, mirror)
    else:
        assert mirror == "official" or mirror in sources, \
            "on %s, the package sources do not use the %s mirror" % (engine_host.name, mirror)


def test_daemon_json_holds_the_inventory_settings(engine_host):
    path = engine_host.spec["daemon_json"]
    text = engine_host.check("cat %s" % path)
    config = json.loads(text)
    for key, variable in (("registry-mirrors", "registry_mirrors"), ("insecure-registries", "insecure_registries"),
                          ("cgroup-parent", "cgroup_parent"), ("bip", "bip")):
        wanted = engine_host.vars.get(variable)
        if wanted:
            assert config.get(key) == wanted, "on %s, %s has %s=%r, the inventory says %r" % (
                engine_host.name, path, key, config.get(key), wanted)


def test_engine_service_is_enabled_and_running(engine_host):
    service = engine_host.host.service(engine_host.spec["service"])
    assert service.is_enabled, "on %s, %s is not enabled" % (engine_host.name, engine_host.spec["service"])
    assert service.is_running, "on %s, %s is not running" % (engine_host.name, engine_host.spec["service"])
    assert engine_host.cli("version").rc == 0, "on %s, the engine's API does not answer" % engine_host.name


def test_api_socket_owner_and_mode(engine_host):
    socket = engine_host.host.file(engine_host.spec["socket"])
    assert socket.is_socket, "on %s, %s is not a socket" % (engine_host.name, engine_host.spec["socket"])
    assert socket.user == "root", "on %s, %s belongs to %s" % (engine_host.name, socket.path, socket.user)
    assert socket.mode == 0o660, "on %s, %s has mode %o, expected 660" % (engine_host.name, socket.path, socket.mode)
