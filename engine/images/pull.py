"""`docker pull`: manifest (or index, choosing this host's platform), config, then the layers
in parallel, each verified before it is stored and unpacked once per diff id.

Progress goes to `progress(message)` as docker's JSON messages (status, id, progressDetail).
"""
import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from engine.images import mediatypes
from engine.images.registry import Endpoint, RegistryError, endpoints, scope_for

PARALLEL_DOWNLOADS = 3
_CHUNK = 1 << 16
_PROGRESS_EVERY = 1 << 19
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x"}


def host_platform():
    """(architecture, variant) as OCI names them: ("amd64", None), ("arm64", "v8")..."""
    machine = os.uname().machine
    arch = _GO_ARCH.get(machine, machine)
    variant = {"armv7l": "v7", "armv6l": "v6", "aarch64": "v8"}.get(machine)
    return arch, variant


def pull(store, reference, config, credentials, progress):
    """Pull `reference` into `store`; return the image id. Raises RegistryError."""
    candidates = endpoints(reference.domain, config)
    for index, (base_url, verify_tls, mirror) in enumerate(candidates):
        last = index + 1 == len(candidates)
        endpoint = Endpoint(base_url, verify_tls, None if mirror else credentials)
        try:
            endpoint.ping()
        except RegistryError:
            if last:
                raise
            continue            # next mirror, or plain HTTP after TLS could not even start
        try:
            return _pull_from(endpoint, store, reference, progress)
        except RegistryError:
            if last or not mirror:
                raise           # a mirror may fail in any way; the registry's answer is final


def _pull_from(endpoint, store, reference, progress):
    repository = reference.path
    scope = scope_for(repository, "pull")
    target = reference.digest or reference.tag
    manifest, digest = _manifest(endpoint, repository, target, scope, reference)
    progress({"status": "Pulling from " + repository, "id": target})
    if reference.digest and digest != reference.digest:
        raise RegistryError("manifest verification failed for digest %s" % reference.digest)
    if manifest.get("mediaType") in mediatypes.INDEXES or "manifests" in manifest:
        chosen = _choose_platform(manifest, reference)
        manifest, _ = _manifest(endpoint, repository, chosen, scope, reference)

    config_digest = manifest["config"]["digest"]
    if not store.has_blob(config_digest):
        _download(endpoint, store, repository, config_digest, scope)
    image_config = json.loads(store.read_blob(config_digest).decode("utf-8"))
    diff_ids = image_config["rootfs"]["diff_ids"]
    layers = manifest["layers"]
    if len(diff_ids) != len(layers):
        raise RegistryError("image config lists %d layers, the manifest %d" % (len(diff_ids), len(layers)))

    source = "%s/%s" % (reference.domain, repository)
    missing = []
    for layer, diff_id in zip(layers, diff_ids):
        if store.has_layer(diff_id):
            progress({"status": "Already exists", "progressDetail": {}, "id": _short(layer["digest"])})
        else:
            progress({"status": "Pulling fs layer", "progressDetail": {}, "id": _short(layer["digest"])})
            missing.append((layer, diff_id))
    lock = threading.Lock()

    def locked_progress(message):
        with lock:
            progress(message)

    with ThreadPoolExecutor(max_workers=PARALLEL_DOWNLOADS) as pool:
        futures = [pool.submit(_fetch_layer, endpoint, store, repository, scope, layer, diff_id,
                               source, locked_progress)
                   for layer, diff_id in missing]
        for future in futures:
            future.result()              # re-raises the first failure

    with store.lock:
        up_to_date = store.has_image(config_digest) and (
            not reference.tag or store.references().get(reference.familiar) == config_digest)
        store.add_image(config_digest)
        if reference.tag:
            store.set_reference(reference, config_digest)
        store.set_reference(reference.with_digest(digest), config_digest)
    progress({"status": "Digest: " + digest})
    progress({"status": "Status: %s for %s" % ("Image is up to date" if up_to_date
                                                else "Downloaded newer image", reference.familiar)})
    return config_digest


def _manifest(endpoint, repository, target, scope, reference):
    response = endpoint.request(
        "GET", "/v2/%s/manifests/%s" % (repository, target), scope,
        headers={"Accept": ", ".join(mediatypes.MANIFESTS + mediatypes.INDEXES)}, ok=(200, 404))
    data = response.read()
    if response.status == 404:
        raise RegistryError("manifest for %s not found: manifest unknown: manifest unknown"
                            % reference.familiar, 404, "MANIFEST_UNKNOWN")
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if target.startswith("sha256:") and digest != target:
        raise RegistryError("manifest verification failed for digest %s" % target)
    try:
        manifest = json.loads(data.decode("utf-8"))
    except ValueError:
        raise RegistryError("invalid manifest for %s" % reference.familiar)
    if manifest.get("schemaVersion") != 2:
        raise RegistryError("unsupported manifest schema version %r for %s (only schema 2 and OCI)"
                            % (manifest.get("schemaVersion"), reference.familiar))
    return manifest, digest


def _choose_platform(index, reference):
    arch, variant = host_platform()
    matches = [entry for entry in index.get("manifests", [])
               if entry.get("platform", {}).get("os") == "linux"
               and entry.get("platform", {}).get("architecture") == arch]
    exact = [entry for entry in matches if entry["platform"].get("variant") in (None, variant)]
    if not (exact or matches):
        raise RegistryError("no matching manifest for linux/%s in the manifest list entries" % arch)
    return (exact or matches)[0]["digest"]


def _fetch_layer(endpoint, store, repository, scope, layer, diff_id, source, progress):
    digest = layer["digest"]
    short = _short(digest)
    if not store.has_blob(digest):
        total = layer.get("size", 0)

        def downloading(current):
            progress({"status": "Downloading", "id": short,
                      "progressDetail": {"current": current, "total": total}})

        _download(endpoint, store, repository, digest, scope, downloading)
        progress({"status": "Verifying Checksum", "progressDetail": {}, "id": short})
        progress({"status": "Download complete", "progressDetail": {}, "id": short})
    progress({"status": "Extracting", "id": short,
              "progressDetail": {"current": layer.get("size", 0), "total": layer.get("size", 0)}})
    store.unpack_layer(digest, layer.get("mediaType", mediatypes.DOCKER_LAYER_GZIP), diff_id, source)
    progress({"status": "Pull complete", "progressDetail": {}, "id": short})


def _download(endpoint, store, repository, digest, scope, on_progress=None):
    """Fetch a blob into the store; it is only stored when its digest matches."""
    response = endpoint.request("GET", "/v2/%s/blobs/%s" % (repository, digest), scope)

    def chunks():
        received = reported = 0
        while True:
            chunk = response.read(_CHUNK)
            if not chunk:
                return
            received += len(chunk)
            if on_progress and received - reported >= _PROGRESS_EVERY:
                on_progress(received)
                reported = received
            yield chunk

    try:
        store.write_blob(chunks(), expected=digest)
    finally:
        response.close()


def _short(digest):
    return digest.split(":")[-1][:12]
