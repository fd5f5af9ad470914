"""The acceptance suite: run it against hosts that `provision apply` has prepared.

    pytest tests/acceptance --inventory hosts.ini [--engine yard|docker] -n auto

Hosts and their connection variables come from the project's own inventory code; each host is
reached with testinfra's paramiko backend over a connection that checks host keys as
`provision` does. Tests take `engine_host` (every host of the `engines` group), `host_pair`
(every ordered pair of engine hosts: traffic from the first to the second) or `registry_host`.
"""
import io
import itertools
import os
import re
import secrets
import subprocess
import tarfile
import tempfile

import pytest
import testinfra
from testinfra.backend.paramiko import ParamikoBackend

from provision.inventory import load, hosts_for
from provision.transport import Connection

from engines import ENGINES, TEST_IMAGE, EngineHost



def pytest_addoption(parser):
    group = parser.getgroup("dockyard acceptance")
    group.addoption("--inventory", help="Ansible INI inventory of hosts prepared by `provision apply`")
    group.addoption("--engine", default="yard", choices=sorted(ENGINES),
                    help="the engine the hosts run (default yard)")


def _inventory(config):
    path = config.getoption("--inventory")
    if not path:
        raise pytest.UsageError("the acceptance suite needs --inventory FILE (hosts prepared by `provision apply`)")
    return load(path)


def pytest_generate_tests(metafunc):
    """Parametrise by host names, so that test ids and xdist workers name the host."""
    names = set(metafunc.fixturenames)
    if not names & {"engine_host", "host_pair", "registry_host"}:
        return
    inventory = _inventory(metafunc.config)
    engines = inventory.select("engines")
    if "engine_host" in names:
        metafunc.parametrize("engine_host", engines, indirect=True)
    if "host_pair" in names:
        pairs = list(itertools.permutations(engines, 2)) or [(engines[0], engines[0])]
        metafunc.parametrize("host_pair", pairs, indirect=True, ids=["%s->%s" % p for p in pairs])
    if "registry_host" in names:
        metafunc.parametrize("registry_host", inventory.select("registry")[:1], indirect=True)


class _Backend(ParamikoBackend):
    """testinfra's paramiko backend over a provision Connection: same keys, known_hosts and jump hosts."""

    def __init__(self, connection, **kwargs):
        self._connection = connection
        ParamikoBackend.__init__(self, "paramiko://%s" % connection.host.address, **kwargs)

    @property
    def client(self):
        return self._connection.client


class _Hosts:
    """One verified connection per inventory host for the whole worker session."""

    def __init__(self, config):
        self.inventory = _inventory(config)
        self.engine = config.getoption("--engine")
        self.hosts = {host.name: host for host in hosts_for(self.inventory)}
        self._open = {}

    def get(self, name):
        if name not in self._open:
            host = self.hosts[name]
            connection = Connection(host)
            connection.connect()
            backend = _Backend(connection, sudo=host.become and host.user not in (None, "root"),
                               sudo_user=host.become_user if host.become else None)
            self._open[name] = (connection, EngineHost(name, host.address, testinfra.host.Host(backend),
                                                       self.engine, self.inventory.hostvars(name)))
        return self._open[name][1]

    def close(self):
        for connection, _ in self._open.values():
            connection.close()


@pytest.fixture(scope="session")
def lab_hosts(request):
    hosts = _Hosts(request.config)
    yield hosts
    hosts.close()


@pytest.fixture(scope="session")
def busybox_rootfs():
    """A root filesystem tarball of this machine's busybox-static: the suite's test image."""
    directory = tempfile.mkdtemp(prefix="dockyard-acceptance-")
    path = os.path.join(directory, "busybox-rootfs.tar")
    busybox = "/bin/busybox"
    applets = subprocess.run([busybox, "--list"], stdout=subprocess.PIPE, universal_newlines=True,
                             check=True).stdout.split()
    with tarfile.open(path, "w") as archive:
        for folder in ("bin", "etc", "tmp", "root", "proc", "sys", "dev"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            archive.addfile(info)
        archive.add(busybox, "bin/busybox")
        for applet in applets:
            if applet != "busybox":
                info = tarfile.TarInfo("bin/" + applet)
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                archive.addfile(info)
        for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
                           ("etc/group", "root:x:0:\nnogroup:x:65534:\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    yield path
    subprocess.run(["rm", "-rf", directory])


def _with_test_image(engine_host, lab_hosts, busybox_rootfs):
    """Import the test image on a host once (import is idempotent: same rootfs, same tag)."""
    if engine_host.cli("image", "inspect", TEST_IMAGE).rc != 0:
        connection = lab_hosts._open[engine_host.name][0]
        remote = "/tmp/dockyard-busybox-%s.tar" % secrets.token_hex(4)
        with open(busybox_rootfs, "rb") as source:
            connection.put(source.read(), remote, mode=0o600)
        engine_host.cli_ok("import", remote, TEST_IMAGE)
        engine_host.sh("rm -f %s" % remote)
    return engine_host


@pytest.fixture
def engine_host(request, lab_hosts, busybox_rootfs):
    return _with_test_image(lab_hosts.get(request.param), lab_hosts, busybox_rootfs)


@pytest.fixture
def host_pair(request, lab_hosts, busybox_rootfs):
    return tuple(_with_test_image(lab_hosts.get(name), lab_hosts, busybox_rootfs) for name in request.param)


@pytest.fixture
def registry_host(request, lab_hosts):
    return lab_hosts.get(request.param)


@pytest.fixture
def containers(request):
    """Remove, at the end of a test, every container a test started through `track(host, name)`."""
    started = []

    def track(host, name):
        started.append((host, name))
        return name
    yield track
    for host, name in started:
        host.remove(name)


# --- results: a one-page summary beside the JUnit XML --------------------------------------

_OUTCOMES = {}     # (host, area) -> "pass" | "FAIL"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Label each report with the host under test (it travels from xdist workers to the controller)."""
    outcome = yield
    report = outcome.get_result()
    arguments = getattr(item, "funcargs", {})
    host = arguments.get("engine_host") or (arguments.get("host_pair") or [None])[0] or arguments.get("registry_host")
    if host is not None and not any(key == "dockyard_host" for key, _ in report.user_properties):
        report.user_properties.append(("dockyard_host", host.name))


def pytest_runtest_logreport(report):
    host = dict(report.user_properties).get("dockyard_host")
    area = re.search(r"test_(\w+)\.py::", report.nodeid)
    if not host or not area or (report.when != "call" and not report.failed):
        return
    key = (host, area.group(1))
    if report.failed:
        _OUTCOMES[key] = "FAIL"
    elif report.passed:
        _OUTCOMES.setdefault(key, "pass")


def pytest_sessionfinish(session):
    xml = getattr(session.config.option, "xmlpath", None)
    if not xml or not _OUTCOMES or hasattr(session.config, "workerinput"):
        return
    hosts = sorted({host for host, _ in _OUTCOMES})
    areas = sorted({area for _, area in _OUTCOMES})
    width = max(len(h) for h in hosts + ["host"])
    lines = ["Dockyard acceptance: engine %s, inventory %s" % (session.config.getoption("--engine"),
                                                                session.config.getoption("--inventory")),
             "",
             "%-*s  %s" % (width, "host", "  ".join("%-11s" % a for a in areas))]
    for host in hosts:
        lines.append("%-*s  %s" % (width, host, "  ".join("%-11s" % _OUTCOMES.get((host, a), "-") for a in areas)))
    failed = sum(1 for value in _OUTCOMES.values() if value == "FAIL")
    lines += ["", "%d host/area cells failed; details in %s" % (failed, os.path.basename(xml))]
    summary = os.path.splitext(xml)[0] + "-summary.txt"
    with open(summary + ".tmp", "w") as target:
        target.write("\n".join(lines) + "\n")
    os.replace(summary + ".tmp", summary)
