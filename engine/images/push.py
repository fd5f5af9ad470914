"""`docker push`: each layer is checked (HEAD), mounted from another repository of the same
registry when it came from there, or uploaded (one PUT when small, PATCH chunks when large);
then the config blob and the schema2 manifest.
"""
import gzip
import hashlib
import json
import os
import shutil
from urllib.parse import urljoin

from engine.images import mediatypes
from engine.images.registry import Endpoint, RegistryError, endpoints, scope_for

CHUNK_SIZE = 1 << 20        # blobs up to this size go up in one PUT, larger ones in PATCH chunks


def push(store, reference, image_id, config, credentials, progress):
    """Push `image_id` as `reference` (with a tag); return the manifest digest."""
    candidates = endpoints(reference.domain, config, push=True)
    for index, (base_url, verify_tls, _) in enumerate(candidates):
        endpoint = Endpoint(base_url, verify_tls, credentials)
        try:
            endpoint.ping()
        except RegistryError:
            if index + 1 == len(candidates):
                raise
            continue            # plain HTTP after TLS could not even start
        return _push_to(endpoint, store, reference, image_id, progress)


def _push_to(endpoint, store, reference, image_id, progress):
    repository = reference.path
    progress({"status": "The push refers to repository [%s]" % reference.familiar_name})
    image_config = store.image_config(image_id)
    layers = [distributable_layer(store, diff_id) for diff_id in image_config["rootfs"]["diff_ids"]]
    for layer in reversed(layers):
        progress({"status": "Preparing", "progressDetail": {}, "id": _short(layer["diff_id"])})
    for layer in reversed(layers):
        short = _short(layer["diff_id"])
        status = _push_blob(endpoint, store, reference, layer["blob"], layer.get("sources", []),
                            lambda current, total: progress({
                                "status": "Pushing", "id": short,
                                "progressDetail": {"current": current, "total": total}}))
        progress({"status": status, "progressDetail": {}, "id": short})
        store.add_layer_source(layer["diff_id"], "%s/%s" % (reference.domain, repository))
    _push_blob(endpoint, store, reference, image_id, [], None)

    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": mediatypes.DOCKER_MANIFEST,
        "config": {"mediaType": mediatypes.DOCKER_CONFIG, "size": os.path.getsize(store.blob_path(image_id)),
                   "digest": image_id},
        "layers": [{"mediaType": layer["media_type"], "size": os.path.getsize(store.blob_path(layer["blob"])),
                    "digest": layer["blob"]} for layer in layers],
    }, indent=3).encode("utf-8")
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    endpoint.request("PUT", "/v2/%s/manifests/%s" % (repository, reference.tag),
                     scope_for(repository, "pull,push"),
                     headers={"Content-Type": mediatypes.DOCKER_MANIFEST}, body=manifest, ok=(201,)).read()
    store.set_reference(reference.with_digest(digest), image_id)
    progress({"status": "%s: digest: %s size: %d" % (reference.tag, digest, len(manifest)), "progressDetail": {}})
    # Clients take the aux message for their callbacks and print nothing for it.
    progress({"progressDetail": {}, "aux": {"Tag": reference.tag, "Digest": digest, "Size": len(manifest)}})
    return digest


def distributable_layer(store, diff_id):
    """The layer's info, with a compressed blob to push (gzipping a plain tar once, as docker does)."""
    with store.lock:
        info = store.layer_info(diff_id)
        if info["media_type"] not in mediatypes.UNCOMPRESSED_LAYERS:
            return info
    fd, temp = store.temp_file("gzip-")
    try:
        with open(store.blob_path(info["blob"]), "rb") as source, os.fdopen(fd, "wb") as raw:
            # mtime 0 and no file name: the same layer always gzips to the same digest.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
                shutil.copyfileobj(source, out, 1 << 20)
        with open(temp, "rb") as compressed:
            blob = store.write_blob(iter(lambda: compressed.read(1 << 20), b""))
    finally:
        os.unlink(temp)
    with store.lock:
        info = store.layer_info(diff_id)
        info.update(blob=blob, media_type=mediatypes.DOCKER_LAYER_GZIP)
        store.set_layer_info(info)
    return info


def _push_blob(endpoint, store, reference, digest, sources, on_progress):
    """Make blob `digest` present in the repository; return docker's word for how."""
    repository = reference.path
    scope = scope_for(repository, "pull,push")
    head = endpoint.request("HEAD", "/v2/%s/blobs/%s" % (repository, digest), scope, ok=(200, 404))
    head.read()
    if head.status == 200:
        return "Layer already exists"
    mount_from = [source.split("/", 1)[1] for source in sources
                  if source.split("/", 1)[0] == reference.domain and source.split("/", 1)[1] != repository]
    if mount_from:
        scope = "%s %s" % (scope, scope_for(mount_from[0], "pull"))
        started = endpoint.request("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s"
                                   % (repository, digest, mount_from[0]), scope, ok=(201, 202))
    else:
        started = endpoint.request("POST", "/v2/%s/blobs/uploads/" % repository, scope, ok=(202,))
    started.read()
    if started.status == 201:
        return "Mounted from " + mount_from[0]
    location = urljoin(endpoint.base_url + "/", started.getheader("Location"))
    _upload(endpoint, location, store.blob_path(digest), digest, scope, on_progress)
    return "Pushed"


def _upload(endpoint, location, path, digest, scope, on_progress):
    size = os.path.getsize(path)
    with open(path, "rb") as blob:
        if size <= CHUNK_SIZE:
            body = blob.read()
        else:
            offset = 0
            while offset < size:
                chunk = blob.read(CHUNK_SIZE)
                response = endpoint.request(
                    "PATCH", location, scope, body=chunk, ok=(202,),
                    headers={"Content-Type": "application/octet-stream",
                             "Content-Range": "%d-%d" % (offset, offset + len(chunk) - 1)})
                response.read()
                location = urljoin(location, response.getheader("Location"))
                offset += len(chunk)
                if on_progress:
                    on_progress(offset, size)
            body = b""
    separator = "&" if "?" in location else "?"
    endpoint.request("PUT", location + separator + "digest=" + digest, scope, body=body,
                     headers={"Content-Type": "application/octet-stream"}, ok=(201,)).read()


def _short(digest):
    return digest.split(":")[-1][:12]
