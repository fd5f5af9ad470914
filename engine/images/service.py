"""The images service: what the API's image routes and the containers service call.

    images = ImageService(root=<data-root>/image, config=daemon_json)
    images.resolve("busybox") -> Image (.id, .config, .repo_tags, .layer_dirs() top-most first)
    images.set_in_use(lambda image_id: container_name_or_None)

Errors carry docker's messages: ImageNotFound (404), ImageConflict (409), ImageError (400),
and RegistryError (from the registry) pass up to the API, which maps them to statuses.
"""
import calendar
import fnmatch
import http.client
import re
import time

from engine.images import archive, pull as pulling, push as pushing
from engine.images.layers import LayerError
from engine.images.reference import DEFAULT_DOMAIN, LEGACY_DOMAIN, InvalidReference, parse
from engine.images.registry import Endpoint, RegistryError, endpoints
from engine.images.store import DigestMismatch, Store

_HEX = re.compile(r"^(sha256:)?([0-9a-f]{1,64})$")


class ImageNotFound(Exception):
    pass


class ImageConflict(Exception):
    pass


class ImageError(Exception):
    """A bad request: an invalid reference, archive or argument."""


class Image:
    def __init__(self, store, image_id, references):
        self._store = store
        self.id = image_id
        self.raw = store.image_config(image_id)          # the whole OCI image config
        self.config = self.raw.get("config") or {}       # Env, Cmd, Entrypoint, WorkingDir, User...
        self.diff_ids = self.raw["rootfs"]["diff_ids"]
        self.repo_tags = sorted(ref for ref, target in references.items() if target == image_id and "@" not in ref)
        self.repo_digests = sorted(ref for ref, target in references.items() if target == image_id and "@" in ref)
        self.created = _unix_time(self.raw.get("created"))

    def layer_dirs(self):
        """Unpacked layer directories, top-most first (overlayfs lowerdir order)."""
        return [self._store.layer_dir(diff_id) for diff_id in reversed(self.diff_ids)]

    @property
    def size(self):
        return sum(self._store.layer_info(diff_id)["size"] for diff_id in set(self.diff_ids))


class ImageService:
    def __init__(self, root, config):
        self.store = Store(root)
        self.config = config
        self._in_use = lambda image_id: None

    def set_in_use(self, in_use):
        """`in_use(image_id)` -> the name of a container using it, or None."""
        self._in_use = in_use

    # --- lookups ---------------------------------------------------------------------------
    def resolve(self, name):
        """The image `name` refers to: an id (or unique id prefix), name[:tag] or name@digest."""
        references = self.store.references()
        match = _HEX.match(name or "")
        if match and len(match.group(2)) == 64 and self.store.has_image("sha256:" + match.group(2)):
            return Image(self.store, "sha256:" + match.group(2), references)
        reference = None
        try:
            reference = parse(name)
        except InvalidReference:
            if not match:
                raise ImageNotFound("No such image: %s" % name)
        if reference is not None and reference.familiar in references:
            return Image(self.store, references[reference.familiar], references)
        if match:
            found = [image_id for image_id in self.store.image_ids() if image_id[7:].startswith(match.group(2))]
            if len(found) == 1:
                return Image(self.store, found[0], references)
        raise ImageNotFound("No such image: %s" % (reference.familiar if reference else name))

    def list_images(self, filters=None):
        """GET /images/json. (`all` changes nothing here: there are no intermediate images.)"""
        filters = filters or {}
        references = self.store.references()
        images = [Image(self.store, image_id, references) for image_id in self.store.image_ids()]
        if "dangling" in filters:
            wanted = filters["dangling"][0] in ("true", "1")
            images = [image for image in images if (not image.repo_tags) == wanted]
        if "reference" in filters:
            patterns = filters["reference"]
            images = [image for image in images
                      if any(_matches(tag, pattern) for tag in image.repo_tags for pattern in patterns)]
        result = []
        for image in sorted(images, key=lambda image: -image.created):
            result.append({
                "Id": image.id, "ParentId": "", "RepoTags": image.repo_tags, "RepoDigests": image.repo_digests,
                "Created": image.created, "Size": image.size, "VirtualSize": image.size, "SharedSize": -1,
                "Labels": image.config.get("Labels"), "Containers": -1,
            })
        return result

    def inspect(self, name):
        image = self.resolve(name)
        raw = image.raw
        return {
            "Id": image.id, "RepoTags": image.repo_tags, "RepoDigests": image.repo_digests,
            "Parent": "", "Comment": (raw.get("history") or [{}])[-1].get("comment", ""),
            "Created": raw.get("created", ""), "Container": "", "ContainerConfig": {},
            "DockerVersion": raw.get("docker_version", ""), "Author": raw.get("author", ""),
            "Config": image.config, "Architecture": raw.get("architecture", ""),
            "Variant": raw.get("variant"), "Os": raw.get("os", ""),
            "Size": image.size, "VirtualSize": image.size,
            "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": ":".join(image.layer_dirs())}},
            "RootFS": {"Type": "layers", "Layers": image.diff_ids},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        }

    def history(self, name):
        image = self.resolve(name)
        layer_sizes = [self.store.layer_info(diff_id)["size"] for diff_id in image.diff_ids]
        entries = []
        for entry in image.raw.get("history") or []:
            size = 0 if entry.get("empty_layer") or not layer_sizes else layer_sizes.pop(0)
            entries.append({"Id": "<missing>", "Created": _unix_time(entry.get("created")),
                            "CreatedBy": entry.get("created_by", ""), "Tags": None, "Size": size,
                            "Comment": entry.get("comment", "")})
        entries.reverse()
        if entries:
            entries[0].update(Id=image.id, Tags=image.repo_tags or None)
        return entries

    # --- tags and removal --------------------------------------------------------------------
    def tag(self, source, repository, tag=None):
        image = self.resolve(source)
        self.store.set_reference(_parse(repository + (":" + tag if tag else "")), image.id)

    def remove(self, name, force=False):
        """docker rmi: [{"Untagged": ref}, ..., {"Deleted": id}].

        (`noprune` has nothing to spare: images here have no untagged parents.)
        """
        with self.store.lock:
            image = self.resolve(name)
            reference = parse_or_none(name)
            if reference not in image.repo_tags + image.repo_digests:
                reference = None        # named by id, or by an id prefix that also reads as a name
            user = self._in_use(image.id)
            if reference:
                others = [ref for ref in image.repo_tags if ref != reference]
                if others or (user and force):
                    return self._untag(image, reference)
                if user:
                    raise ImageConflict('conflict: unable to remove repository reference "%s" (must force) - '
                                        "container %s is using its referenced image %s"
                                        % (name, user, image.id[7:19]))
            else:
                if len(image.repo_tags) > 1 and not force:
                    raise ImageConflict("conflict: unable to delete %s (must be forced) - image is referenced "
                                        "in multiple repositories" % image.id[7:19])
                if user and not force:
                    raise ImageConflict("conflict: unable to delete %s (must be forced) - image is being used "
                                        "by stopped container %s" % (image.id[7:19], user))
            removed = [{"Untagged": ref} for ref in image.repo_tags + image.repo_digests]
            for ref in image.repo_tags + image.repo_digests:
                self.store.remove_reference(ref)
            if user:                # forced: the tags go, the layers stay under the container
                return removed
            self.store.remove_image(image.id)
            self.store.collect_garbage()
            return removed + [{"Deleted": image.id}]

    def _untag(self, image, reference):
        """Remove one tag; digest references of that repository go with its last tag, as in docker."""
        removed = [reference]
        repository = reference.rsplit(":", 1)[0] if "@" not in reference else reference.split("@")[0]
        if not any(tag.rsplit(":", 1)[0] == repository for tag in image.repo_tags if tag != reference):
            removed += [ref for ref in image.repo_digests if ref.split("@")[0] == repository]
        for ref in removed:
            self.store.remove_reference(ref)
        return [{"Untagged": ref} for ref in removed]

    def prune(self, filters=None):
        """docker image prune: dangling images, or (dangling=false) every image no container uses."""
        filters = filters or {}
        dangling_only = (filters.get("dangling") or ["true"])[0] in ("true", "1")
        deleted = []
        with self.store.lock:
            references = self.store.references()
            for image_id in self.store.image_ids():
                image = Image(self.store, image_id, references)
                if (dangling_only and image.repo_tags) or self._in_use(image_id):
                    continue
                deleted += [{"Untagged": ref} for ref in image.repo_tags + image.repo_digests]
                for ref in image.repo_tags + image.repo_digests:
                    self.store.remove_reference(ref)
                self.store.remove_image(image_id)
                deleted.append({"Deleted": image_id})
            freed = self.store.collect_garbage()
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": freed}

    # --- registries --------------------------------------------------------------------------
    def pull(self, name, tag, credentials, progress):
        """Pull `name` (with `tag`: a tag or a digest); return the image id."""
        if tag:
            name += ("@" if tag.startswith("sha256:") else ":") + tag
        reference = _parse(name)
        with self.store.writing():
            try:
                return pulling.pull(self.store, reference, self.config, credentials, progress)
            except (DigestMismatch, LayerError) as error:
                raise RegistryError(str(error))
            except RegistryError as error:
                if error.status in (401, 403) or error.code in ("NAME_UNKNOWN", "DENIED", "UNAUTHORIZED"):
                    raise RegistryError("pull access denied for %s, repository does not exist or may require "
                                        "'docker login': %s" % (reference.familiar_name, error.message), 404)
                raise

    def push(self, name, tag, credentials, progress):
        """Push name:tag, or every tag of the repository `name` when `tag` is empty."""
        repository = _parse(name, default_tag=False)
        tag = tag or repository.tag
        references = self.store.references()
        prefix = repository.familiar_name + ":"
        tags = [tag] if tag else sorted(ref[len(prefix):] for ref in references if ref.startswith(prefix))
        if not tags or (tag and prefix + tag not in references):
            raise ImageNotFound("An image does not exist locally with the tag: %s" % repository.familiar_name)
        for each in tags:
            pushing.push(self.store, repository.with_tag(each), references[prefix + each], self.config,
                         credentials, progress)

    def login(self, credentials):
        """Check credentials against a registry, as `docker login` does (POST /auth)."""
        server = re.sub(r"^[a-z]+://", "", credentials.get("serveraddress") or "").split("/")[0]
        domain = DEFAULT_DOMAIN if server in ("", DEFAULT_DOMAIN, LEGACY_DOMAIN, "registry-1.docker.io") else server
        last_error = None
        for base_url, verify_tls, _ in endpoints(domain, self.config, push=True):
            endpoint = Endpoint(base_url, verify_tls, credentials)
            try:
                endpoint.check_login()
                return {"Status": "Login Succeeded", "IdentityToken": ""}
            except RegistryError as error:
                last_error = error
                if error.status is not None:
                    raise RegistryError("login attempt to %s/v2/ failed with status: %d %s"
                                        % (base_url, error.status, http.client.responses.get(error.status, "")),
                                        error.status)
        raise last_error

    # --- archives ----------------------------------------------------------------------------
    def save(self, names, out):
        images = []
        for name in names:
            image = self.resolve(name)
            reference = parse_or_none(name)          # saved by id: no tags, as docker does
            images.append((image.id, [reference] if reference in image.repo_tags else []))
        archive.save(self.store, images, out)

    def load(self, path, progress):
        with self.store.writing():
            try:
                return archive.load(self.store, path, progress)
            except (archive.ArchiveError, DigestMismatch, LayerError) as error:
                raise ImageError(str(error))

    def import_(self, path, repository=None, tag=None, message="", changes=None):
        reference = None
        if repository:
            reference = _parse(repository + (":" + tag if tag else ""))
        with self.store.writing():
            try:
                return archive.import_rootfs(self.store, path, reference, message, changes)
            except LayerError as error:
                raise ImageError("invalid root filesystem archive: %s" % error)


def parse_or_none(name):
    """The familiar form of `name` when it is a reference (busybox -> busybox:latest), else None."""
    if _HEX.match(name) and len(name.split(":")[-1]) == 64:
        return None
    try:
        return parse(name).familiar
    except InvalidReference:
        return None


def _parse(name, default_tag=True):
    try:
        return parse(name, default_tag)
    except InvalidReference as error:
        raise ImageError(str(error))


def _matches(tag, pattern):
    name = tag.rsplit(":", 1)[0]
    return fnmatch.fnmatchcase(tag, pattern) or fnmatch.fnmatchcase(name, pattern)


def _unix_time(text):
    """Seconds since the epoch for an RFC 3339 time (fractions and zone as docker writes them)."""
    if not text:
        return 0
    match = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$", text)
    if not match:
        return 0
    seconds = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    zone = match.group(3) or "Z"
    if zone != "Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[0] == "+" else -offset
    return seconds
