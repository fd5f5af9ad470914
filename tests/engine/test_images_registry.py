"""Pull and push against Debian's real CNCF registry on loopback."""
import base64
import hashlib
import http.client
import http.server
import json
import os
import secrets
import subprocess
import threading
import urllib.request

import pytest

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def registry_manifest(registry, repository, tag):
    request = urllib.request.Request("%s/v2/%s/manifests/%s" % (registry.url, repository, tag),
                                     headers={"Accept": MANIFEST_V2})
    with urllib.request.urlopen(request) as response:
        return response.headers["Docker-Content-Digest"], json.loads(response.read().decode())


def store_contents(engine):
    """What the engine's store holds, to show a failed pull stored nothing."""
    return {sub: sorted(os.listdir(os.path.join(engine.root, sub))) for sub in ("blobs/sha256", "layers", "images", "tmp")}


def loaded(engine, archive, *tags):
    result = engine.yard("load", "-i", archive)
    assert result.returncode == 0, result.stderr
    for tag in tags:
        assert engine.yard("tag", "busybox", tag).returncode == 0
    return engine.service.resolve("busybox")


def test_push_rmi_pull_gives_the_same_digest(image_engine, registry, busybox_archive):
    name = registry.host + "/tools/busybox:1"
    image = loaded(image_engine, busybox_archive, name)

    pushed = image_engine.yard("push", name)
    assert pushed.returncode == 0, pushed.stderr
    lines = pushed.stdout.splitlines()
    layer = image.diff_ids[0][7:19]
    assert lines[0] == "The push refers to repository [%s/tools/busybox]" % registry.host
    assert lines[1:] == ["%s: Preparing" % layer, "%s: Pushed" % layer, lines[-1]]
    digest, manifest = registry_manifest(registry, "tools/busybox", "1")
    assert lines[-1].startswith("1: digest: %s size: " % digest)
    assert manifest["config"]["digest"] == image.id

    assert image_engine.yard("rmi", name, "busybox").returncode == 0
    assert image_engine.yard("images", "-q").stdout == ""

    pulled = image_engine.yard("pull", name)
    assert pulled.returncode == 0, pulled.stderr
    blob = manifest["layers"][0]["digest"][7:19]
    assert pulled.stdout.splitlines() == [
        "1: Pulling from tools/busybox",
        "%s: Pulling fs layer" % blob,
        "%s: Verifying Checksum" % blob,
        "%s: Download complete" % blob,
        "%s: Pull complete" % blob,
        "Digest: " + digest,
        "Status: Downloaded newer image for %s" % name,
        name,
    ]
    again = image_engine.service.resolve(name)
    assert again.id == image.id
    assert again.repo_digests == ["%s/tools/busybox@%s" % (registry.host, digest)]
    assert image_engine.yard("pull", name).stdout.splitlines()[-2] == "Status: Image is up to date for " + name


def test_a_layer_already_present_is_not_fetched_again(make_image_engine, registry, busybox_archive, busybox_layer,
                                                      image_archive, tmp_path):
    # Same busybox lower layer as busybox_archive (the builder is deterministic), one layer on top.
    busybox_layer(tmp_path / "lower.tar")
    busybox_layer(tmp_path / "upper.tar", files={"/etc/motd": b"hello\n"})
    image_archive(tmp_path / "two.tar", [tmp_path / "lower.tar", tmp_path / "upper.tar"], "two:latest")
    pusher, puller = make_image_engine(), make_image_engine()
    assert pusher.yard("load", "-i", tmp_path / "two.tar").returncode == 0
    assert pusher.yard("tag", "two", registry.host + "/two").returncode == 0
    assert pusher.yard("push", registry.host + "/two").returncode == 0

    loaded(puller, busybox_archive)
    pulled = puller.yard("pull", registry.host + "/two")
    assert pulled.returncode == 0, pulled.stderr
    statuses = [line.split(": ", 1)[1] for line in pulled.stdout.splitlines() if ": " in line
                and len(line.split(": ")[0]) == 12]
    assert statuses.count("Already exists") == 1
    assert statuses.count("Pull complete") == 1
    assert puller.service.resolve(registry.host + "/two").id == pusher.service.resolve("two").id


def test_large_layers_go_up_in_chunks_and_mount_across_repositories(make_image_engine, registry, busybox_layer,
                                                                    image_archive, tmp_path):
    payload = os.urandom(3 * 1024 * 1024 + 17)          # incompressible: the gzipped blob stays > 1 MiB
    busybox_layer(tmp_path / "lower.tar")
    busybox_layer(tmp_path / "upper.tar", files={"/data/random": payload})
    image_archive(tmp_path / "big.tar", [tmp_path / "lower.tar", tmp_path / "upper.tar"], "big:latest")
    pusher, puller = make_image_engine(), make_image_engine()
    assert pusher.yard("load", "-i", tmp_path / "big.tar").returncode == 0
    for repository in ("first", "second"):
        assert pusher.yard("tag", "big", "%s/%s" % (registry.host, repository)).returncode == 0

    first = pusher.yard("push", registry.host + "/first")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(": Pushed") == 2
    second = pusher.yard("push", registry.host + "/second")
    assert second.returncode == 0, second.stderr
    assert second.stdout.count(": Mounted from first") == 2

    pulled = puller.yard("pull", registry.host + "/second")
    assert pulled.returncode == 0, pulled.stderr
    image = puller.service.resolve(registry.host + "/second")
    with open(os.path.join(image.layer_dirs()[0], "data/random"), "rb") as data:
        assert data.read() == payload


def test_a_blob_corrupted_in_the_registry_is_rejected_and_nothing_is_stored(make_image_engine, registry,
                                                                           busybox_archive):
    pusher, puller = make_image_engine(), make_image_engine()
    name = registry.host + "/corrupt"
    loaded(pusher, busybox_archive, name)
    assert pusher.yard("push", name).returncode == 0
    _, manifest = registry_manifest(registry, "corrupt", "latest")
    layer_digest = manifest["layers"][0]["digest"]
    blob = registry.blob_path(layer_digest)
    original = blob.read_bytes()
    corrupted = bytearray(original)
    corrupted[len(corrupted) // 2] ^= 0xFF                # same size: only the digest can tell
    blob.write_bytes(bytes(corrupted))

    before = store_contents(puller)
    pulled = puller.yard("pull", name)
    assert pulled.returncode == 1
    assert "filesystem layer verification failed for digest %s" % layer_digest in pulled.stderr
    after = store_contents(puller)
    assert layer_digest[7:] not in after["blobs/sha256"]
    assert after["layers"] == before["layers"] == [] and after["images"] == [] and after["tmp"] == []
    assert puller.yard("images", "-q").stdout == ""

    blob.write_bytes(original)                            # the next pull completes
    assert puller.yard("pull", name).returncode == 0
    assert puller.service.resolve(name).id == pusher.service.resolve(name).id


def test_push_needs_login_on_a_registry_with_auth(image_engine, auth_registry, busybox_archive):
    name = auth_registry.host + "/private/busybox"
    loaded(image_engine, busybox_archive, name)

    refused = image_engine.yard("push", name)
    assert refused.returncode == 1
    assert "unauthorized: authentication required" in refused.stderr

    wrong = image_engine.yard("login", "-u", "alice", "--password-stdin", auth_registry.host, input="nope\n")
    assert wrong.returncode == 1
    assert "login attempt to http://%s/v2/ failed with status: 401 Unauthorized" % auth_registry.host in wrong.stderr

    login = image_engine.yard("login", "-u", "alice", "--password-stdin", auth_registry.host, input="wonderland\n")
    assert login.returncode == 0, login.stderr
    assert login.stdout == "Login Succeeded\n"
    with open(str(image_engine.directory / "client-config/config.json")) as config:
        auths = json.load(config)["auths"]
    assert auths[auth_registry.host]["auth"] == base64.b64encode(b"alice:wonderland").decode()

    pushed = image_engine.yard("push", name)
    assert pushed.returncode == 0, pushed.stderr
    assert image_engine.yard("rmi", name, "busybox").returncode == 0
    pulled = image_engine.yard("pull", name)
    assert pulled.returncode == 0, pulled.stderr

    assert image_engine.yard("logout", auth_registry.host).stdout == \
        "Removing login credentials for %s\n" % auth_registry.host
    denied = image_engine.yard("pull", name)
    assert denied.returncode == 1
    assert "pull access denied for %s" % name in denied.stderr


def test_a_registry_mirror_serves_docker_hub_names(make_image_engine, make_registry, busybox_archive):
    mirror = make_registry()
    seeder = make_image_engine()
    loaded(seeder, busybox_archive, mirror.host + "/library/busybox:latest")
    assert seeder.yard("push", mirror.host + "/library/busybox:latest").returncode == 0

    engine = make_image_engine({"registry-mirrors": [mirror.url]})
    pulled = engine.yard("pull", "busybox")          # docker.io itself is unreachable from here
    assert pulled.returncode == 0, pulled.stderr
    lines = pulled.stdout.splitlines()
    assert lines[:2] == ["Using default tag: latest", "latest: Pulling from library/busybox"]
    assert lines[-2:] == ["Status: Downloaded newer image for busybox:latest", "docker.io/library/busybox:latest"]
    assert engine.service.resolve("busybox").id == seeder.service.resolve("busybox").id


@pytest.fixture
def outside_address():
    """An address that is not loopback, on a veth pair of our own (removed at teardown)."""
    name = "yimg%s" % secrets.token_hex(3)
    address = "198.18.%d.%d" % (secrets.randbelow(256), 1 + secrets.randbelow(254))
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", address + "/32", "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield address
    finally:
        subprocess.run(["ip", "link", "del", name], check=True)


def test_plain_http_only_for_insecure_registries(make_image_engine, make_registry, busybox_archive,
                                                 outside_address):
    registry = make_registry(address=outside_address)
    name = registry.host + "/plain"
    insecure = make_image_engine({"insecure-registries": [outside_address.rsplit(".", 1)[0] + ".0/24"]})
    loaded(insecure, busybox_archive, name)
    pushed = insecure.yard("push", name)
    assert pushed.returncode == 0, pushed.stderr

    secure = make_image_engine()
    refused = secure.yard("pull", name)
    assert refused.returncode == 1
    assert 'Get "https://%s/v2/": http: server gave HTTP response to HTTPS client' % registry.host in refused.stderr
    assert secure.yard("images", "-q").stdout == ""

    by_host_port = make_image_engine({"insecure-registries": [registry.host]})
    pulled = by_host_port.yard("pull", name)
    assert pulled.returncode == 0, pulled.stderr


def test_the_docker_cli_drives_push_and_pull(image_engine, registry, busybox_archive):
    def docker(*args):
        return subprocess.run(["/usr/bin/docker", "-H", image_engine.host] + [str(arg) for arg in args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)

    name = registry.host + "/cli/busybox:1"
    assert docker("load", "-i", busybox_archive).stdout == "Loaded image: busybox:latest\n"
    assert docker("tag", "busybox", name).returncode == 0
    pushed = docker("push", name)
    assert pushed.returncode == 0, pushed.stderr
    digest, _ = registry_manifest(registry, "cli/busybox", "1")
    assert pushed.stdout.splitlines()[-1].startswith("1: digest: %s size: " % digest)
    assert docker("rmi", name, "busybox").returncode == 0
    pulled = docker("pull", name)
    assert pulled.returncode == 0, pulled.stderr
    assert "Digest: %s\n" % digest in pulled.stdout


class RedirectingFront:
    """What a registry with an object-store backend does: blob downloads answer 307 to the storage.

    Manifests and /v2/ are passed through to the real registry; blob GETs are redirected to it.
    """

    def __init__(self, registry):
        front = self
        self.redirected = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if "/blobs/sha256:" in self.path:
                    front.redirected.append(self.path)
                    self.send_response(307)
                    self.send_header("Location", registry.url + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                connection = http.client.HTTPConnection(registry.host)
                connection.request("GET", self.path, headers={"Accept": self.headers.get("Accept", "*/*")})
                answer = connection.getresponse()
                body = answer.read()
                connection.close()
                self.send_response(answer.status)
                for header in ("Content-Type", "Docker-Content-Digest", "WWW-Authenticate"):
                    if answer.getheader(header):
                        self.send_header(header, answer.getheader(header))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.host = "127.0.0.1:%d" % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def redirecting_front(registry):
    front = RedirectingFront(registry)
    yield front
    front.stop()


def test_blob_downloads_follow_redirects(make_image_engine, registry, redirecting_front, busybox_archive):
    pusher, puller = make_image_engine(), make_image_engine()
    loaded(pusher, busybox_archive, registry.host + "/redirected")
    assert pusher.yard("push", registry.host + "/redirected").returncode == 0

    pulled = puller.yard("pull", redirecting_front.host + "/redirected")
    assert pulled.returncode == 0, pulled.stderr
    assert len(redirecting_front.redirected) == 2          # the config and the layer
    assert puller.service.resolve(redirecting_front.host + "/redirected").id == pusher.service.resolve("busybox").id


def put_manifest(registry, repository, reference, manifest, media_type):
    body = json.dumps(manifest).encode()
    request = urllib.request.Request("%s/v2/%s/manifests/%s" % (registry.url, repository, reference), data=body,
                                     method="PUT", headers={"Content-Type": media_type})
    urllib.request.urlopen(request).close()
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(body).hexdigest(), "size": len(body)}


@pytest.mark.parametrize("oci", [False, True], ids=["docker-manifest-list", "oci-index"])
def test_a_multi_platform_image_pulls_this_hosts_platform(make_image_engine, registry, busybox_layer, image_archive,
                                                         tmp_path, oci):
    from engine.images.pull import host_platform
    arch, _ = host_platform()
    other = "s390x" if arch != "s390x" else "amd64"
    pusher = make_image_engine()
    manifests = []
    for platform in (other, arch):
        busybox_layer(tmp_path / "layer.tar", files={"/etc/platform": platform.encode()})
        image_archive(tmp_path / "image.tar", [tmp_path / "layer.tar"], "multi:" + platform,
                      config={"Labels": {"platform": platform}})
        assert pusher.yard("load", "-i", tmp_path / "image.tar").returncode == 0
        assert pusher.yard("tag", "multi:" + platform, "%s/multi:%s" % (registry.host, platform)).returncode == 0
        assert pusher.yard("push", "%s/multi:%s" % (registry.host, platform)).returncode == 0
        _, manifest = registry_manifest(registry, "multi", platform)
        if oci:                           # the same image, described with OCI media types
            manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
            manifest["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json"
            for layer in manifest["layers"]:
                layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
            descriptor = put_manifest(registry, "multi", "oci-" + platform, manifest, manifest["mediaType"])
        else:
            descriptor = put_manifest(registry, "multi", "v2-" + platform, manifest, MANIFEST_V2)
        manifests.append(dict(descriptor, platform={"os": "linux", "architecture": platform}))
    index_type = ("application/vnd.oci.image.index.v1+json" if oci
                  else "application/vnd.docker.distribution.manifest.list.v2+json")
    put_manifest(registry, "multi", "all", {"schemaVersion": 2, "mediaType": index_type, "manifests": manifests},
                 index_type)

    puller = make_image_engine()
    pulled = puller.yard("pull", registry.host + "/multi:all")
    assert pulled.returncode == 0, pulled.stderr
    image = puller.service.resolve(registry.host + "/multi:all")
    assert image.config["Labels"] == {"platform": arch}
    with open(os.path.join(image.layer_dirs()[0], "etc/platform")) as platform_file:
        assert platform_file.read() == arch


def test_pull_by_digest(make_image_engine, registry, busybox_archive):
    pusher, puller = make_image_engine(), make_image_engine()
    loaded(pusher, busybox_archive, registry.host + "/pinned:1")
    assert pusher.yard("push", registry.host + "/pinned:1").returncode == 0
    digest, _ = registry_manifest(registry, "pinned", "1")

    name = "%s/pinned@%s" % (registry.host, digest)
    pulled = puller.yard("pull", name)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.splitlines()[-2:] == ["Status: Downloaded newer image for " + name, name]
    image = puller.service.resolve(name)
    assert image.repo_tags == [] and image.repo_digests == [name]
    assert puller.yard("pull", name).stdout.splitlines()[-2] == "Status: Image is up to date for " + name

    wrong = "%s/pinned@sha256:%s" % (registry.host, "0" * 64)
    missing = puller.yard("pull", wrong)
    assert missing.returncode == 1
    assert "manifest for %s not found: manifest unknown" % wrong in missing.stderr
