"""Image archives: `save` and `load` in docker's format, and `import` of a root filesystem.

`save` writes the layout docker 20.10 writes: manifest.json, <id>.json (the config) and
<diff id>/layer.tar per layer. `load` reads that, the OCI layout newer dockers write
(manifest.json pointing into blobs/sha256/), and OCI layouts with only index.json; layers
gzip, zstd or plain.
"""
import datetime
import io
import json
import os
import tarfile

from engine.images import layers, mediatypes
from engine.images.reference import InvalidReference, parse
from engine.images.pull import host_platform

_MEDIA_TYPES = {"gzip": mediatypes.DOCKER_LAYER_GZIP, "zstd": mediatypes.OCI_LAYER_ZSTD,
                None: mediatypes.DOCKER_LAYER}
_TAG_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


class ArchiveError(Exception):
    pass


# --- save ---------------------------------------------------------------------------------

def save(store, images, out):
    """Write a docker-compatible archive of `images` [(image id, [repo tags])] to the file `out`."""
    entries, written = [], set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for image_id, repo_tags in images:
            hex_id = image_id.split(":")[1]
            config = store.read_blob(image_id)
            _add_bytes(tar, hex_id + ".json", config)
            layer_names = []
            for diff_id in json.loads(config.decode("utf-8"))["rootfs"]["diff_ids"]:
                name = diff_id.split(":")[1] + "/layer.tar"
                if name not in written:
                    info = store.layer_info(diff_id)
                    member = tarfile.TarInfo(name)
                    member.size = info["size"]
                    member.mode = 0o644
                    with layers.open_uncompressed(store.blob_path(info["blob"])) as stream:
                        tar.addfile(member, stream)
                    written.add(name)
                layer_names.append(name)
            entries.append({"Config": hex_id + ".json", "RepoTags": repo_tags or None, "Layers": layer_names})
        _add_bytes(tar, "manifest.json", json.dumps(entries).encode("utf-8"))


def _add_bytes(tar, name, data):
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mode = 0o644
    tar.addfile(member, io.BytesIO(data))


# --- load ---------------------------------------------------------------------------------

def load(store, path, progress):
    """Load every image of the archive at `path`; returns [(image id, [tags])]."""
    try:
        tar = tarfile.open(path)
    except tarfile.TarError as error:
        raise ArchiveError("invalid archive: %s" % error)
    with tar:
        members = {os.path.normpath(member.name).lstrip("/"): member for member in tar.getmembers()}
        if "manifest.json" in members:
            images = [(entry["Config"], entry["Layers"], entry.get("RepoTags") or [])
                      for entry in _read_json(tar, members, "manifest.json")]
        elif "index.json" in members:
            images = _oci_images(tar, members)
        else:
            raise ArchiveError("invalid archive: neither manifest.json nor index.json found "
                               "(is this a `docker save` archive?)")
        loaded = []
        for config_path, layer_paths, tags in images:
            references = [_parse_tag(tag) for tag in tags]
            image_id = _load_image(store, tar, members, config_path, layer_paths, references)
            loaded.append((image_id, [reference.familiar for reference in references]))
            for reference in references:
                progress({"stream": "Loaded image: %s\n" % reference.familiar})
            if not references:
                progress({"stream": "Loaded image ID: %s\n" % image_id})
        return loaded


def _parse_tag(tag):
    try:
        return parse(tag)
    except InvalidReference as error:
        raise ArchiveError("invalid tag %r in the archive: %s" % (tag, error))


def _load_image(store, tar, members, config_path, layer_paths, references):
    image_id = store.write_blob([_read(tar, members, config_path)], _expected_digest(config_path))
    diff_ids = store.image_config(image_id)["rootfs"]["diff_ids"]
    if len(diff_ids) != len(layer_paths):
        raise ArchiveError("invalid archive: %s lists %d layers, its config %d"
                           % (config_path, len(layer_paths), len(diff_ids)))
    for layer_path, diff_id in zip(layer_paths, diff_ids):
        if store.has_layer(diff_id):
            continue
        blob = store.write_blob(_chunks(tar, members, layer_path), _expected_digest(layer_path))
        media_type = _MEDIA_TYPES[layers.compression(store.blob_path(blob))]
        store.unpack_layer(blob, media_type, diff_id)
    with store.lock:
        store.add_image(image_id)
        for reference in references:
            store.set_reference(reference, image_id)
    return image_id


def _oci_images(tar, members):
    """[(config path, layer paths, tags)] from an OCI layout's index.json."""
    images = []
    for descriptor in _read_json(tar, members, "index.json").get("manifests", []):
        annotations = descriptor.get("annotations") or {}
        tags = [annotations[key] for key in _TAG_ANNOTATIONS if key in annotations][:1]
        if tags and ":" not in tags[0] and "/" not in tags[0]:
            tags = []             # a bare ref.name ("latest") names no repository
        manifest = _read_json(tar, members, _blob_path(descriptor["digest"]))
        if descriptor.get("mediaType") in mediatypes.INDEXES or "manifests" in manifest:
            manifest = _read_json(tar, members, _blob_path(_platform_manifest(manifest)))
        images.append((_blob_path(manifest["config"]["digest"]),
                       [_blob_path(layer["digest"]) for layer in manifest["layers"]], tags))
    return images


def _platform_manifest(index):
    arch, _ = host_platform()
    for entry in index.get("manifests", []):
        platform = entry.get("platform", {})
        if platform.get("os") == "linux" and platform.get("architecture") == arch:
            return entry["digest"]
    raise ArchiveError("invalid archive: no image for linux/%s in its index" % arch)


def _blob_path(digest):
    algorithm, _, hex_digest = digest.partition(":")
    return "blobs/%s/%s" % (algorithm, hex_digest)


def _expected_digest(path):
    """Archive paths that name their content's digest: blobs/sha256/<hex>."""
    parts = path.split("/")
    if len(parts) == 3 and parts[0] == "blobs":
        return "%s:%s" % (parts[1], parts[2])
    return None


def _member(members, path):
    member = members.get(os.path.normpath(path).lstrip("/"))
    if member is None:
        raise ArchiveError("invalid archive: %s is missing" % path)
    while member.issym() or member.islnk():    # docker 25 links legacy layer paths to blobs/
        target = member.linkname if member.islnk() else os.path.join(os.path.dirname(member.name),
                                                                    member.linkname)
        member = _member(members, target)
    return member


def _chunks(tar, members, path):
    stream = tar.extractfile(_member(members, path))
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            return
        yield chunk


def _read(tar, members, path):
    return b"".join(_chunks(tar, members, path))


def _read_json(tar, members, path):
    try:
        return json.loads(_read(tar, members, path).decode("utf-8"))
    except ValueError as error:
        raise ArchiveError("invalid archive: %s: %s" % (path, error))


# --- import -------------------------------------------------------------------------------

def import_rootfs(store, path, reference=None, message="", changes=None):
    """An image of one layer from the root filesystem tarball at `path`; returns its id."""
    with open(path, "rb") as source:
        blob = store.write_blob(iter(lambda: source.read(1 << 20), b""))
    diff_id = store.unpack_layer(blob, _MEDIA_TYPES[layers.compression(store.blob_path(blob))])
    now = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    arch, variant = host_platform()
    config = {
        "architecture": arch, "os": "linux", "created": now,
        "config": dict(changes or {}),
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": now, "comment": message or "Imported from -"}],
    }
    if variant:
        config["variant"] = variant
    image_id = store.write_blob([json.dumps(config).encode("utf-8")])
    with store.lock:
        store.add_image(image_id)
        if reference:
            store.set_reference(reference, image_id)
    return image_id
