"""Archives written by others: Debian's dockerd (`docker save`) and OCI image layouts."""
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

import pytest

from yardd import yardd  # noqa: F401  (the fixture)

DOCKER = "/usr/bin/docker"      # Debian's docker.io client, the same version as its dockerd


class Dockerd:
    """Debian's dockerd with its own data root, exec root, socket and pid file; no networking."""

    def __init__(self):
        # Short paths: containerd's sockets live under the exec root and must fit in sun_path.
        self.directory = tempfile.mkdtemp(prefix="yimg-dockerd-")
        self.host = "unix://%s/docker.sock" % self.directory
        self.log = open(os.path.join(self.directory, "dockerd.log"), "wb")
        self.process = subprocess.Popen(
            ["dockerd", "--data-root", os.path.join(self.directory, "data"),
             "--exec-root", os.path.join(self.directory, "exec"), "-H", self.host,
             "--pidfile", os.path.join(self.directory, "docker.pid"),
             "--iptables=false", "--ip-masq=false", "--bridge=none"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while self.docker("version", check=False).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("dockerd did not start: see %s/dockerd.log" % self.directory)
            time.sleep(0.2)

    def docker(self, *args, check=True):
        return subprocess.run([DOCKER, "-H", self.host] + [str(arg) for arg in args], check=check,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)     # it stops the containerd it started, too
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        with open("/proc/mounts") as mounts:
            leftovers = [line.split()[1] for line in mounts if self.directory in line.split()[1]]
        for target in sorted(leftovers, reverse=True):
            subprocess.run(["umount", "-l", target])
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def dockerd():
    daemon = Dockerd()
    yield daemon
    daemon.stop()


def test_an_archive_written_by_docker_save_loads(dockerd, image_engine, busybox_layer, tmp_path):
    busybox_layer(tmp_path / "rootfs.tar", files={"/etc/motd": b"made by dockerd\n"})
    dockerd.docker("import", "-c", 'CMD ["sh"]', tmp_path / "rootfs.tar", "dockerd-box:1")
    docker_id = dockerd.docker("image", "inspect", "-f", "{{.Id}}", "dockerd-box:1").stdout.strip()
    dockerd.docker("save", "-o", tmp_path / "saved.tar", "dockerd-box:1")

    loaded = image_engine.yard("load", "-i", tmp_path / "saved.tar")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == "Loaded image: dockerd-box:1\n"
    image = image_engine.service.resolve("dockerd-box:1")
    assert image.id == docker_id
    assert image.config["Cmd"] == ["sh"]
    with open(os.path.join(image.layer_dirs()[0], "etc/motd")) as motd:
        assert motd.read() == "made by dockerd\n"


def _compress(raw, compression):
    if compression == "gzip":
        return gzip.compress(raw), "application/vnd.oci.image.layer.v1.tar+gzip"
    if compression == "zstd":
        zstd = subprocess.run(["zstd", "-q", "-c"], input=raw, stdout=subprocess.PIPE, check=True)
        return zstd.stdout, "application/vnd.oci.image.layer.v1.tar+zstd"
    return raw, "application/vnd.oci.image.layer.v1.tar"


def _oci_layout(busybox_layer, path, tag, with_docker_manifest, compression="gzip"):
    """An OCI image layout archive as buildah/skopeo write it, or docker 25 (with manifest.json)."""
    layer_tar = path.parent / "oci-layer.tar"
    busybox_layer(layer_tar, files={"/etc/motd": b"from an OCI layout\n"})
    raw = layer_tar.read_bytes()
    layer, layer_type = _compress(raw, compression)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
                         }).encode()
    blobs = {}

    def blob(data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": dict(blob(config), mediaType="application/vnd.oci.image.config.v1+json"),
                           "layers": [dict(blob(layer), mediaType=layer_type)],
                           }).encode()
    index = {"schemaVersion": 2, "manifests": [dict(blob(manifest), **{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "annotations": {"io.containerd.image.name": "docker.io/library/" + tag,
                        "org.opencontainers.image.ref.name": tag.split(":")[1]}})]}
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}', "index.json": json.dumps(index).encode()}
    if with_docker_manifest:
        config_digest = json.loads(manifest)["config"]["digest"]
        layer_digest = json.loads(manifest)["layers"][0]["digest"]
        files["manifest.json"] = json.dumps([{
            "Config": "blobs/sha256/" + config_digest[7:], "RepoTags": [tag],
            "Layers": ["blobs/sha256/" + layer_digest[7:]]}]).encode()
    for digest, data in blobs.items():
        files["blobs/sha256/" + digest[7:]] = data
    with tarfile.open(str(path), "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("with_docker_manifest, compression", [
    (False, "gzip"), (True, "gzip"), (False, "zstd"), (True, None)],
    ids=["oci-only-gzip", "with-manifest.json-gzip", "oci-only-zstd", "with-manifest.json-plain"])
def test_an_oci_layout_archive_loads(image_engine, busybox_layer, tmp_path, with_docker_manifest, compression):
    _oci_layout(busybox_layer, tmp_path / "oci.tar", "ocibox:1", with_docker_manifest, compression)
    loaded = image_engine.yard("load", "-i", tmp_path / "oci.tar")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == "Loaded image: ocibox:1\n"
    image = image_engine.service.resolve("ocibox:1")
    with open(os.path.join(image.layer_dirs()[0], "etc/motd")) as motd:
        assert motd.read() == "from an OCI layout\n"


def test_an_archive_that_is_not_an_image_is_refused(image_engine, busybox_layer, tmp_path):
    busybox_layer(tmp_path / "rootfs.tar")
    loaded = image_engine.yard("load", "-i", tmp_path / "rootfs.tar")
    assert loaded.returncode == 1
    assert "neither manifest.json nor index.json found" in loaded.stderr


def test_images_with_whiteouts_go_both_ways_between_yard_and_dockerd(dockerd, make_image_engine, layered_archive,
                                                                     overlay_mount, tmp_path):
    first, second = make_image_engine(), make_image_engine()
    assert first.yard("load", "-i", layered_archive).returncode == 0
    saved = first.yard("save", "-o", tmp_path / "yard.tar", "layered")
    assert saved.returncode == 0, saved.stderr

    assert dockerd.docker("load", "-i", tmp_path / "yard.tar").stdout == "Loaded image: layered:latest\n"
    docker_id = dockerd.docker("image", "inspect", "-f", "{{.Id}}", "layered").stdout.strip()
    assert docker_id == first.service.resolve("layered").id

    # dockerd writes the layers out again from its own store, whiteouts included.
    dockerd.docker("save", "-o", tmp_path / "docker.tar", "layered")
    assert second.yard("load", "-i", tmp_path / "docker.tar").returncode == 0
    image = second.service.resolve("layered")
    assert image.id == docker_id
    merged = overlay_mount(image.layer_dirs())
    assert not (merged / "etc/motd").exists()
    assert sorted(os.listdir(str(merged / "opt/data"))) == ["c"]


def test_an_archive_written_by_docker_save_runs_on_yardd(dockerd, yardd, busybox_layer, tmp_path):
    busybox_layer(tmp_path / "rootfs.tar", files={"/etc/motd": b"saved by dockerd\n"})
    dockerd.docker("import", "-c", 'CMD ["cat", "/etc/motd"]', tmp_path / "rootfs.tar", "dockerd-run:1")
    dockerd.docker("save", "-o", tmp_path / "saved.tar", "dockerd-run:1")
    yardd.load(str(tmp_path / "saved.tar"))
    result = yardd.yard("run", "--rm", "dockerd-run:1")
    assert (result.returncode, result.stdout) == (0, "saved by dockerd\n"), result.stderr
