"""Image routes of the Docker Engine API: HTTP in, calls on the ImageService out.

Names may hold slashes and ports (`127.0.0.1:5000/ns/app:1`), so they are routed as
`{name:path}` before a fixed suffix (/json, /history, /push, /tag, /get).
"""
import base64
import binascii
import contextlib
import json
import os
import threading
import traceback
from urllib.parse import unquote

from engine.api.http import ApiError, bad_request, conflict, not_found
from engine.images.registry import RegistryError
from engine.images.service import ImageConflict, ImageError, ImageNotFound


def register(router, services):
    images = services.images

    def create(request):
        if request.param("fromSrc") is not None:
            return import_(request)
        name = request.param("fromImage")
        if not name:
            raise bad_request("fromImage or fromSrc is required")
        progress = ProgressStream(request)
        with progress:
            images.pull(name, request.param("tag"), registry_auth(request), progress)

    def import_(request):
        if request.param("fromSrc") != "-":
            raise bad_request("only fromSrc=- (the archive in the request body) is supported")
        path = _body_to_file(request, images)
        try:
            with _errors():
                image_id = images.import_(path, request.param("repo"), request.param("tag"),
                                          request.param("message", ""), _changes(request.params("changes")))
        finally:
            os.unlink(path)
        stream = request.stream()
        stream.write_json({"status": image_id})
        stream.close()

    def push(request, name):
        progress = ProgressStream(request)
        with progress:
            images.push(_name(name), request.param("tag"), registry_auth(request), progress)

    def tag(request, name):
        with _errors():
            images.tag(_name(name), request.param("repo") or "", request.param("tag"))
        return 201, None

    def list_images(request):
        with _errors():
            return images.list_images(_filters(request))

    def inspect(request, name):
        with _errors():
            return images.inspect(_name(name))

    def history(request, name):
        with _errors():
            return images.history(_name(name))

    def remove(request, name):
        with _errors():
            return images.remove(_name(name), request.flag("force"))

    def prune(request):
        with _errors():
            return images.prune(_filters(request))

    def save(request, name=None):
        names = [_name(name)] if name else request.params("names")
        with _errors():
            for each in names:
                images.resolve(each)            # a missing image is a 404, before any byte of the tar
        stream = request.stream(content_type="application/x-tar")
        images.save(names, stream)
        stream.close()

    def load(request):
        path = _body_to_file(request, images)
        try:
            progress = ProgressStream(request)
            with progress:
                images.load(path, progress)
        finally:
            os.unlink(path)

    def auth(request):
        credentials = request.json(default={}) or {}
        try:
            return images.login(credentials)
        except RegistryError as error:
            raise ApiError(401 if error.status in (401, 403) else 500, error.message)

    router.add("POST", "/images/create", create)
    router.add("POST", "/images/load", load)
    router.add("POST", "/images/prune", prune)
    router.add("GET", "/images/json", list_images)
    router.add("GET", "/images/get", save)
    router.add("GET", "/images/{name:path}/json", inspect)
    router.add("GET", "/images/{name:path}/history", history)
    router.add("GET", "/images/{name:path}/get", save)
    router.add("POST", "/images/{name:path}/push", push)
    router.add("POST", "/images/{name:path}/tag", tag)
    router.add("DELETE", "/images/{name:path}", remove)
    router.add("POST", "/auth", auth)


class ProgressStream:
    """Docker's JSON progress stream, started at the first message.

    A failure before any output is answered with a real status (404 for a missing image makes
    `docker run` fall back to a pull); after that it becomes an `error` message in the stream.
    """

    def __init__(self, request):
        self._request = request
        self._stream = None
        self._lock = threading.Lock()

    def __call__(self, message):
        with self._lock:
            if self._stream is None:
                self._stream = self._request.stream()
            self._stream.write_json(message)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if isinstance(error, (BrokenPipeError, ConnectionResetError)):
            return False                 # the client went away: nobody to tell
        if error is not None:
            api_error = error if isinstance(error, ApiError) else _api_error(error)
            if api_error is None:        # a bug: log it, tell the client what we can
                traceback.print_exception(kind, error, trace)
                api_error = ApiError(500, "%s: %s" % (type(error).__name__, error))
            if self._stream is None:
                raise api_error
            self({"errorDetail": {"message": api_error.message}, "error": api_error.message})
        if self._stream is None:         # nothing was said: an empty stream
            self._stream = self._request.stream()
        self._stream.close()
        return True


@contextlib.contextmanager
def _errors():
    """Turn the service's exceptions into API errors with docker's statuses."""
    try:
        yield
    except (ImageNotFound, ImageConflict, ImageError, RegistryError) as error:
        raise _api_error(error)


def _api_error(error):
    if isinstance(error, ImageNotFound):
        return not_found(str(error))
    if isinstance(error, ImageConflict):
        return conflict(str(error))
    if isinstance(error, ImageError):
        return bad_request(str(error))
    if isinstance(error, RegistryError):
        status = error.status if error.status in (401, 403, 404) else 500
        return ApiError(status, error.message)
    return None


def registry_auth(request):
    """Credentials from X-Registry-Auth (base64url JSON), or None."""
    header = request.headers.get("X-Registry-Auth")
    if not header:
        return None
    try:
        decoded = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        credentials = json.loads(decoded.decode("utf-8"))
    except (binascii.Error, ValueError):
        raise bad_request("invalid X-Registry-Auth header: not base64url-encoded JSON")
    return credentials if isinstance(credentials, dict) and credentials.get("username") else None


def _name(name):
    return unquote(name)


def _filters(request):
    filters = request.json_param("filters", {}) or {}
    # Old clients send {"dangling": {"true": true}}; new ones {"dangling": ["true"]}.
    return {key: list(value) if isinstance(value, (list, dict)) else [value] for key, value in filters.items()}


def _changes(lines):
    """Dockerfile instructions of `import --change` applied to an empty config."""
    config = {}
    for line in lines:
        instruction, _, argument = line.strip().partition(" ")
        instruction, argument = instruction.upper(), argument.strip()
        if instruction in ("CMD", "ENTRYPOINT"):
            try:
                value = json.loads(argument)
            except ValueError:
                value = ["/bin/sh", "-c", argument]
            config["Cmd" if instruction == "CMD" else "Entrypoint"] = value
        elif instruction == "ENV":
            key, _, value = argument.partition("=") if "=" in argument else argument.partition(" ")
            config.setdefault("Env", []).append("%s=%s" % (key.strip(), value.strip()))
        elif instruction in ("WORKDIR", "USER"):
            config["WorkingDir" if instruction == "WORKDIR" else "User"] = argument
        elif instruction == "EXPOSE":
            port = argument if "/" in argument else argument + "/tcp"
            config.setdefault("ExposedPorts", {})[port] = {}
        else:
            raise bad_request("%s is not a valid change command" % instruction)
    return config


def _body_to_file(request, images):
    """The request body in a temporary file of the store (archives can be large)."""
    fd, path = images.store.temp_file()
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in request.body_chunks():
                out.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return path
