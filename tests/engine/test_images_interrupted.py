"""A pull interrupted by a daemon that dies leaves only whole things in the store; the next pull completes."""
import hashlib
import os
import signal
import subprocess
import sys
import time

ENGINE = """
import sys, types
from engine.api import images, system
from engine.api.server import Router, make_server
from engine.images.service import ImageService
service = ImageService(root=sys.argv[1], config={"registry-mirrors": [], "insecure-registries": []})
services = types.SimpleNamespace(images=service, info=lambda: {})
router = Router()
system.register(router, services)
images.register(router, services)
make_server(sys.argv[2], router).serve_forever()
"""


def test_a_pull_killed_midway_stores_nothing_partial(make_image_engine, registry, busybox_layer, image_archive,
                                                    tmp_path):
    busybox_layer(tmp_path / "lower.tar")
    busybox_layer(tmp_path / "upper.tar", files={"/data/random": os.urandom(48 * 1024 * 1024)})
    image_archive(tmp_path / "big.tar", [tmp_path / "lower.tar", tmp_path / "upper.tar"], "big:latest")
    pusher = make_image_engine()
    name = registry.host + "/big"
    assert pusher.yard("load", "-i", tmp_path / "big.tar").returncode == 0
    assert pusher.yard("tag", "big", name).returncode == 0
    assert pusher.yard("push", name).returncode == 0

    root, sock = tmp_path / "victim" / "image", tmp_path / "victim" / "yard.sock"
    root.parent.mkdir()
    daemon = subprocess.Popen([sys.executable, "-c", ENGINE, str(root), str(sock)])
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            assert daemon.poll() is None and time.monotonic() < deadline, "the engine did not start"
            time.sleep(0.05)
        pull = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "-H", "unix://%s" % sock, "pull", name],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        downloads, stored = root / "tmp", root / "blobs" / "sha256"
        while not (any(stored.iterdir()) and any(downloads.iterdir())) and pull.poll() is None:
            pass                            # kill it once the config is in, while a layer is half downloaded
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        pull.wait()
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()

    blobs = root / "blobs" / "sha256"
    for blob in blobs.iterdir():               # whatever is stored is whole and verified
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    assert list((root / "images").iterdir()) == []

    engine = make_image_engine(directory=tmp_path / "victim")   # the daemon starts again on the same root
    assert list((root / "tmp").iterdir()) == []
    pulled = engine.yard("pull", name)
    assert pulled.returncode == 0, pulled.stderr
    assert engine.service.resolve(name).id == pusher.service.resolve("big").id
