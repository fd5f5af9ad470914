"""Fixtures for the engine tests (root, this machine). Reuse them; each is self-contained.

Registries -- Debian's real CNCF registry (`docker-registry serve CONFIG`), on 127.0.0.1 at a free
port, storage in a temporary directory, stopped and removed at teardown:

    registry            a plain registry: `.host` ("127.0.0.1:PORT"), `.url`, `.storage`,
                        `.blob_path(digest)` (the file the registry serves a blob from)
    auth_registry       the same with htpasswd auth; `.users` is {"alice": "wonderland"}
    make_registry(users=None, address="127.0.0.1", auth=None)   a factory, for tests that need
                        more than one (a mirror, ...), another listening address, or their own
                        `auth` section of the registry's config (token auth, ...)

Images built from busybox-static (no network needed):

    busybox_layer(path, files=None, deletes=(), opaque=())      (a fixture giving this function:
                        test modules cannot import conftest, other directories have one too)
                        write a layer tarball: /bin/busybox, one symlink per applet, a small /etc,
                        plus `files` {"/etc/motd": b"...", ...}. `deletes` and `opaque` add OCI
                        whiteouts instead (`.wh.<name>`, `.wh..wh..opq`), for upper layers; with
                        those the layer holds only `files`, not busybox.
    image_archive(path, layers, repo_tag, config=None)          (a fixture giving this function)
                        write a `docker save` archive (legacy layout: manifest.json, <id>.json,
                        <dir>/layer.tar) from layer tarballs; `config` is the image's Config (Cmd, Env...)
    busybox_archive     fixture: path of an archive holding `busybox:latest` (one layer, Cmd ["sh"])
    layered_archive     fixture: `layered:latest`, two layers; the upper one deletes /etc/motd and
                        makes /opt/data opaque (lower has a, b; upper has c)
    overlay_mount(lower_dirs) -> path   a read-only overlayfs of two or more layer directories
                        (top-most first, as Image.layer_dirs() gives them), unmounted at teardown

An engine serving the image routes, until engine/daemon.py serves them all:

    make_image_engine(config=None, directory=None)   a factory (`directory`: start again on
                        the state an earlier engine left there): the Engine API (system + images routes) on a
                        temporary Unix socket, with an ImageService rooted in a temporary directory
                        and `config` as daemon.json's registry keys. The engine has `.host`
                        ("unix://..."), `.root`, `.service`, `.yard(*args, input=None)` (runs the
                        `yard` CLI as a process: a CompletedProcess with text stdout/stderr; `yard
                        login` credentials go to the engine's own YARD_CONFIG directory) and
                        `.api(method, path, body=None, headers=None)` -> (status, decoded JSON or bytes).
    image_engine        one such engine with the default config
"""
import hashlib
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import types
import urllib.error
import urllib.request

import pytest

BUSYBOX = "/bin/busybox"


# --- registries ---------------------------------------------------------------------------

def free_port(address="127.0.0.1"):
    """A TCP port nobody listens on right now (the kernel picks it; the race is short)."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


class Registry:
    """A running `docker-registry` with its own config and storage."""

    def __init__(self, directory, users=None, address="127.0.0.1", auth=None):
        self.directory = directory
        self.auth = auth
        self.storage = directory / "storage"
        self.users = dict(users or {})
        self.port = free_port(address)
        self.host = "%s:%d" % (address, self.port)
        self.url = "http://" + self.host
        self.process = None

    def start(self):
        self.storage.mkdir(parents=True)
        config = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
            "http": {"addr": self.host},
        }
        if self.users:
            htpasswd = self.directory / "htpasswd"
            for index, (user, password) in enumerate(sorted(self.users.items())):
                flags = "-bBc" if index == 0 else "-bB"
                subprocess.run(["htpasswd", flags, str(htpasswd), user, password], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            config["auth"] = {"htpasswd": {"realm": "test-realm", "path": str(htpasswd)}}
        if self.auth:
            config["auth"] = self.auth
        config_path = self.directory / "config.yml"
        config_path.write_text(json.dumps(config))       # JSON is YAML
        self.log = open(str(self.directory / "registry.log"), "wb")
        self.process = subprocess.Popen(["docker-registry", "serve", str(config_path)],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("docker-registry exited: %s"
                                   % (self.directory / "registry.log").read_text())
            try:
                urllib.request.urlopen(self.url + "/v2/", timeout=2).close()
                return
            except urllib.error.HTTPError as error:
                if error.code == 401:       # up, and asking for credentials
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("docker-registry on %s did not answer" % self.host)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()

    def blob_path(self, digest):
        algorithm, hex_digest = digest.split(":")
        return (self.storage / "docker/registry/v2/blobs" / algorithm / hex_digest[:2]
                / hex_digest / "data")


@pytest.fixture
def make_registry(tmp_path):
    started = []

    def make(users=None, address="127.0.0.1", auth=None):
        registry = Registry(tmp_path / ("registry%d" % len(started)), users, address, auth)
        started.append(registry)
        return registry.start()

    yield make
    for registry in started:
        registry.stop()


@pytest.fixture
def registry(make_registry):
    return make_registry()


@pytest.fixture
def auth_registry(make_registry):
    return make_registry(users={"alice": "wonderland"})


# --- busybox images -----------------------------------------------------------------------

_ETC = {
    "/etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    "/etc/group": b"root:x:0:\nnobody:x:65534:\n",
}


def _add_dir(tar, name, added):
    parts = name.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        path = "/".join(parts[:depth])
        if path and path not in added:
            info = tarfile.TarInfo(path)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
            added.add(path)


def _add_file(tar, name, data, added, mode=0o644):
    _add_dir(tar, os.path.dirname(name), added)
    info = tarfile.TarInfo(name.lstrip("/"))
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def write_busybox_layer(path, files=None, deletes=(), opaque=()):
    """Write a layer tarball at `path`; return its diff id (sha256 of the tar)."""
    added = set()
    with tarfile.open(str(path), "w", format=tarfile.PAX_FORMAT) as tar:
        if not deletes and not opaque:
            for directory in ("bin", "sbin", "usr/bin", "usr/sbin", "tmp", "root", "proc", "sys", "dev"):
                _add_dir(tar, directory, added)
            with open(BUSYBOX, "rb") as source:
                _add_file(tar, "/bin/busybox", source.read(), added, mode=0o755)
            applets = subprocess.run([BUSYBOX, "--list-full"], check=True, stdout=subprocess.PIPE,
                                     universal_newlines=True).stdout.split()
            for applet in applets:
                if applet == "bin/busybox":
                    continue
                _add_dir(tar, os.path.dirname(applet), added)
                link = tarfile.TarInfo(applet)
                link.type = tarfile.SYMTYPE
                link.linkname = "/bin/busybox"
                tar.addfile(link)
            files = dict(_ETC, **(files or {}))
        for name in deletes:
            directory, base = os.path.split(name.strip("/"))
            _add_file(tar, os.path.join(directory, ".wh." + base), b"", added)
        for name in opaque:
            _add_file(tar, os.path.join(name.strip("/"), ".wh..wh..opq"), b"", added)
        for name, data in sorted((files or {}).items()):
            _add_file(tar, name, data, added)
    with open(str(path), "rb") as layer:
        return "sha256:" + hashlib.sha256(layer.read()).hexdigest()


def write_image_archive(path, layers, repo_tag, config=None):
    """Write a `docker save` archive (legacy layout) of an image made of `layers`; return its id."""
    diff_ids = []
    for layer in layers:
        with open(str(layer), "rb") as source:
            diff_ids.append("sha256:" + hashlib.sha256(source.read()).hexdigest())
    image_config = {
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": dict({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                        "Cmd": ["sh"]}, **(config or {})),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "busybox layer %d" % index}
                    for index in range(len(layers))],
    }
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    image_hex = hashlib.sha256(config_bytes).hexdigest()
    with tarfile.open(str(path), "w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add(image_hex + ".json", config_bytes)
        layer_names = []
        for layer, diff_id in zip(layers, diff_ids):
            name = diff_id.split(":")[1] + "/layer.tar"
            tar.add(str(layer), arcname=name)
            layer_names.append(name)
        add("manifest.json", json.dumps([{"Config": image_hex + ".json", "RepoTags": [repo_tag],
                                          "Layers": layer_names}]).encode())
    return "sha256:" + image_hex


@pytest.fixture(scope="session")
def busybox_layer():
    return write_busybox_layer


@pytest.fixture(scope="session")
def image_archive():
    return write_image_archive


@pytest.fixture(scope="session")
def busybox_archive(tmp_path_factory):
    directory = tmp_path_factory.mktemp("busybox")
    write_busybox_layer(directory / "layer.tar")
    write_image_archive(directory / "busybox.tar", [directory / "layer.tar"], "busybox:latest")
    return directory / "busybox.tar"


@pytest.fixture(scope="session")
def layered_archive(tmp_path_factory):
    directory = tmp_path_factory.mktemp("layered")
    write_busybox_layer(directory / "lower.tar", files={"/etc/motd": b"lower motd\n",
                                                        "/opt/data/a": b"a\n", "/opt/data/b": b"b\n"})
    write_busybox_layer(directory / "upper.tar", files={"/opt/data/c": b"c\n"},
                        deletes=["/etc/motd"], opaque=["/opt/data"])
    write_image_archive(directory / "layered.tar", [directory / "lower.tar", directory / "upper.tar"],
                  "layered:latest")
    return directory / "layered.tar"



@pytest.fixture
def overlay_mount(tmp_path):
    mounts = []

    def mount(lower_dirs):
        target = tmp_path / ("merged%d" % len(mounts))
        target.mkdir()
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + ":".join(lower_dirs),
                        str(target)], check=True)
        mounts.append(target)
        return target

    yield mount
    for target in mounts:
        subprocess.run(["umount", str(target)], check=True)

# --- an engine serving the image routes -----------------------------------------------------

class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        http.client.HTTPConnection.__init__(self, "localhost", timeout=120)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self._path)


class ImageEngine:
    def __init__(self, directory, config):
        from engine.api import images as image_routes, system
        from engine.api.server import Router, make_server
        from engine.images.service import ImageService

        self.directory = directory
        self.root = str(directory / "image")
        self.socket = str(directory / "yard.sock")
        self.host = "unix://" + self.socket
        self.config = {"registry-mirrors": [], "insecure-registries": []}
        self.config.update(config or {})
        self.service = ImageService(root=self.root, config=self.config)
        services = types.SimpleNamespace(images=self.service, info=lambda: {"Driver": "overlay"})
        router = Router()
        system.register(router, services)
        image_routes.register(router, services)
        self.server = make_server(self.socket, router)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def yard(self, *args, input=None):
        env = dict(os.environ, YARD_CONFIG=str(self.directory / "client-config"))
        env.pop("YARD_HOST", None)
        return subprocess.run([sys.executable, "-m", "engine.cli.main", "-H", self.host] + [str(a) for a in args],
                              input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=env, timeout=300)

    def api(self, method, path, body=None, headers=None):
        connection = _UnixHTTPConnection(self.socket)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            connection.request(method, "/v1.41" + path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.getheader("Content-Type", "").startswith("application/json"):
            text = data.decode()
            try:
                return response.status, json.loads(text)
            except ValueError:          # a progress stream: one JSON value per line
                return response.status, [json.loads(line) for line in text.splitlines() if line.strip()]
        return response.status, data

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def make_image_engine(tmp_path):
    started = []

    def make(config=None, directory=None):
        if directory is None:
            directory = tmp_path / ("engine%d" % len(started))
            directory.mkdir()
        engine = ImageEngine(directory, config)
        started.append(engine)
        return engine

    yield make
    for engine in started:
        engine.stop()


@pytest.fixture
def image_engine(make_image_engine):
    return make_image_engine()
