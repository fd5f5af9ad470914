"""The content store under <data-root>/image: blobs, unpacked layers, images and tags.

    blobs/sha256/<hex>        every blob (configs, layer tarballs), its digest verified before
                              it is renamed into place
    layers/<hex>/             a layer unpacked once per diff id (the directory appears by rename)
    layers/<hex>.json         {"diff_id", "size", "blob", "media_type", "sources"}
    images/<hex>              an image exists once this marker does (its config is blob <hex>)
    repositories.json         docker's shape: {"Repositories": {name: {"name:tag": id, "name@digest": id}}}
    tmp/                      downloads and unpacks in progress; emptied at start

Writers go through a temporary file or directory and a rename, so an interrupted pull or load
leaves only whole things behind, and the next one reuses them.
"""
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading

from engine.images import layers


class DigestMismatch(Exception):
    def __init__(self, expected, actual):
        Exception.__init__(self, "filesystem layer verification failed for digest %s" % expected)
        self.expected = expected
        self.actual = actual


def sha256_hex(digest):
    algorithm, _, hex_digest = digest.partition(":")
    if algorithm != "sha256" or len(hex_digest) != 64:
        raise ValueError("unsupported digest %r" % digest)
    return hex_digest


def write_json_atomic(path, value):
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(value, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.rename(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


class Store:
    def __init__(self, root):
        self.root = root
        self.lock = threading.RLock()          # held while metadata (tags, images) changes
        self._writers = 0                      # pulls and loads under way (see `writing`)
        for sub in ("blobs/sha256", "layers", "images", "tmp"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        self._tmp = os.path.join(root, "tmp")
        for leftover in os.listdir(self._tmp):   # what an interrupted pull or load left
            path = os.path.join(self._tmp, leftover)
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
        self._repositories = os.path.join(root, "repositories.json")

    # --- blobs -----------------------------------------------------------------------------
    def blob_path(self, digest):
        return os.path.join(self.root, "blobs", "sha256", sha256_hex(digest))

    def has_blob(self, digest):
        return os.path.exists(self.blob_path(digest))

    def write_blob(self, chunks, expected=None):
        """Store the bytes of `chunks`; verify them against `expected` first. Returns the digest."""
        fd, temp = tempfile.mkstemp(dir=self._tmp, prefix="blob-")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            actual = "sha256:" + digest.hexdigest()
            if expected and actual != expected:
                raise DigestMismatch(expected, actual)
            os.rename(temp, self.blob_path(actual))
            return actual
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise

    def read_blob(self, digest):
        with open(self.blob_path(digest), "rb") as blob:
            return blob.read()

    def temp_file(self, prefix="upload-"):
        """(fd, path) of a new file under tmp/ (removed at the next start if left behind)."""
        return tempfile.mkstemp(dir=self._tmp, prefix=prefix)

    # --- layers ----------------------------------------------------------------------------
    def layer_dir(self, diff_id):
        return os.path.join(self.root, "layers", sha256_hex(diff_id))

    def has_layer(self, diff_id):
        return os.path.isdir(self.layer_dir(diff_id))

    def layer_info(self, diff_id):
        with open(self.layer_dir(diff_id) + ".json") as info:
            return json.load(info)

    def set_layer_info(self, info):
        write_json_atomic(self.layer_dir(info["diff_id"]) + ".json", info)

    def unpack_layer(self, blob_digest, media_type, expected_diff_id=None, source=None):
        """Unpack blob `blob_digest` as a layer (once per diff id); return its diff id.

        `source` ("host/repo") records where the blob can be mounted from on a later push.
        """
        temp = tempfile.mkdtemp(dir=self._tmp, prefix="layer-")
        try:
            diff_id, size = layers.unpack(self.blob_path(blob_digest), temp)
            if expected_diff_id and diff_id != expected_diff_id:
                raise DigestMismatch(expected_diff_id, diff_id)
            with self.lock:
                if not self.has_layer(diff_id):
                    self.set_layer_info({"diff_id": diff_id, "size": size, "blob": blob_digest,
                                         "media_type": media_type, "sources": [source] if source else []})
                    os.rename(temp, self.layer_dir(diff_id))
                elif source:
                    self.add_layer_source(diff_id, source)
            return diff_id
        finally:
            if os.path.isdir(temp):
                shutil.rmtree(temp)

    def add_layer_source(self, diff_id, source):
        with self.lock:
            info = self.layer_info(diff_id)
            if source not in info["sources"]:
                info["sources"].append(source)
                self.set_layer_info(info)

    # --- images ----------------------------------------------------------------------------
    def image_ids(self):
        return ["sha256:" + name for name in os.listdir(os.path.join(self.root, "images"))
                if not name.startswith(".")]

    def has_image(self, image_id):
        return os.path.exists(self._image_marker(image_id))

    def add_image(self, image_id):
        """Commit an image whose config blob and layers are all stored."""
        with open(self._image_marker(image_id), "w"):
            pass

    def remove_image(self, image_id):
        os.unlink(self._image_marker(image_id))

    def image_config(self, image_id):
        return json.loads(self.read_blob(image_id).decode("utf-8"))

    def _image_marker(self, image_id):
        return os.path.join(self.root, "images", sha256_hex(image_id))

    # --- tags and digests ------------------------------------------------------------------
    def references(self):
        """{"busybox:latest": id, "busybox@sha256:...": id, ...}"""
        if not os.path.exists(self._repositories):
            return {}
        with open(self._repositories) as source:
            repositories = json.load(source)["Repositories"]
        return {ref: image_id for refs in repositories.values() for ref, image_id in refs.items()}

    def set_reference(self, reference, image_id):
        """Point `reference` (a parsed Reference with a tag or digest) at `image_id`."""
        with self.lock:
            refs = self.references()
            refs[reference.familiar] = image_id
            self._write_references(refs)

    def remove_reference(self, familiar):
        with self.lock:
            refs = self.references()
            del refs[familiar]
            self._write_references(refs)

    def _write_references(self, refs):
        repositories = {}
        for ref, image_id in refs.items():
            name = ref.split("@")[0] if "@" in ref else ref.rsplit(":", 1)[0]
            repositories.setdefault(name, {})[ref] = image_id
        write_json_atomic(self._repositories, {"Repositories": repositories})

    # --- garbage -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self):
        """Around a pull, load or import: their blobs belong to no image yet, keep them."""
        with self.lock:
            self._writers += 1
        try:
            yield
        finally:
            with self.lock:
                self._writers -= 1

    def collect_garbage(self):
        """Remove blobs and layers no image refers to (after rmi and prune). Returns bytes freed.

        Skipped while something is being written; the next collection catches up.
        """
        with self.lock:
            if self._writers:
                return 0
            keep_blobs, keep_layers = set(), set()
            for image_id in self.image_ids():
                keep_blobs.add(image_id)
                for diff_id in self.image_config(image_id)["rootfs"]["diff_ids"]:
                    keep_layers.add(diff_id)
                    if self.has_layer(diff_id):
                        keep_blobs.add(self.layer_info(diff_id)["blob"])
            freed = 0
            layers_root = os.path.join(self.root, "layers")
            for name in os.listdir(layers_root):
                hex_digest = name[:-len(".json")] if name.endswith(".json") else name
                if "sha256:" + hex_digest not in keep_layers:
                    path = os.path.join(layers_root, name)
                    if os.path.isdir(path):
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
            blobs_root = os.path.join(self.root, "blobs", "sha256")
            for name in os.listdir(blobs_root):
                if "sha256:" + name not in keep_blobs:
                    path = os.path.join(blobs_root, name)
                    freed += os.path.getsize(path)
                    os.unlink(path)
            return freed
