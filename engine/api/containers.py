"""Container and exec routes of the Docker Engine API: HTTP in, calls on the containers service out."""
import contextlib
import json
import time

from engine.api.http import ApiError, bad_request
from engine.containers.errors import Conflict, InvalidParameter, NotFound, NotModified, StartError
from engine.containers.streams import frame
from engine.images.service import ImageNotFound

STREAM_IDS = {"stdout": 1, "stderr": 2}
RAW_STREAM = "application/vnd.docker.raw-stream"
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


@contextlib.contextmanager
def _errors():
    """The service's errors as docker's statuses."""
    try:
        yield
    except NotFound as error:
        raise ApiError(404, str(error))
    except ImageNotFound as error:
        raise ApiError(404, str(error))
    except Conflict as error:
        raise ApiError(409, str(error))
    except InvalidParameter as error:
        raise ApiError(400, str(error))
    except StartError as error:
        raise ApiError(400 if error.exit_code in (126, 127) else 500, str(error))


def register(router, services):
    containers = services.containers

    def get(reference):
        with _errors():
            return containers.get(reference)

    def create(request):
        body = request.json({})
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        with _errors():
            container_id = containers.create(body, request.param("name"))
        return 201, {"Id": container_id, "Warnings": []}

    def list_containers(request):
        limit = request.int_param("limit", -1)
        with _errors():
            found = containers.list(request.flag("all") or limit > 0, _filters(request))
        return found[:limit] if limit > 0 else found

    def inspect(request, id):
        with _errors():
            return containers.inspect(id)

    def start(request, id):
        try:
            with _errors():
                containers.start(id)
        except NotModified:
            return 304, None

    def stop(request, id):
        try:
            with _errors():
                containers.stop(id, request.int_param("t"))
        except NotModified:
            return 304, None

    def restart(request, id):
        with _errors():
            containers.restart(id, request.int_param("t"))

    def kill(request, id):
        with _errors():
            containers.kill(id, request.param("signal"))

    def remove(request, id):
        with _errors():
            containers.remove(id, request.flag("force"))

    def rename(request, id):
        with _errors():
            containers.rename(id, request.param("name"))

    def prune(request):
        deleted, reclaimed = containers.prune()
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def wait(request, id):
        container = get(id)
        condition = request.param("condition") or "not-running"
        if condition not in WAIT_CONDITIONS:
            raise bad_request("invalid condition: %r" % condition)
        stream = request.stream()            # headers at once: `docker run` waits for them before start
        code, error = containers.wait(container, condition)
        stream.write_json({"StatusCode": code, "Error": {"Message": error} if error else None})
        stream.close()

    def attach(request, id):
        container = get(id)

        def hijack():
            client = request.hijack(RAW_STREAM)
            if request.flag("logs"):              # what it has written so far, first
                _, entries = containers.logs(id)
                for name, text, _ in entries:
                    if request.flag(name):
                        data = text.encode("utf-8")
                        client.sendall(data if container.config["Tty"] else frame(STREAM_IDS[name], data))
            return client

        if request.flag("stream", True):
            containers.attach(container, hijack, request.flag("stdin"), request.flag("stdout"),
                              request.flag("stderr"))
        else:
            hijack()

    def resize(request, id):
        with _errors():
            containers.resize(id, request.int_param("h", 0), request.int_param("w", 0))
        return 200, None

    def logs(request, id):
        if not (request.flag("stdout") or request.flag("stderr")):
            raise bad_request("Bad parameters: you must choose at least one stream")
        tail = request.param("tail", "all")
        try:
            tail = None if tail in ("all", "") else int(tail)
        except ValueError:
            raise bad_request("invalid tail: %r" % tail)
        since, until = _unix_time(request, "since"), _unix_time(request, "until")
        with _errors():
            container, entries = containers.logs(id, request.flag("follow"), tail, since, until)
        tty = container.config["Tty"]
        stream = request.stream(content_type=RAW_STREAM)
        for name, text, moment in entries:
            if not request.flag(name):
                continue
            data = ((moment + " ") if request.flag("timestamps") else "") + text
            data = data.encode("utf-8")
            stream.write(data if tty else frame(STREAM_IDS[name], data))
        stream.close()

    def top(request, id):
        with _errors():
            return containers.top(id)

    def stats(request, id):
        container = get(id)
        if not request.flag("stream", True):
            first = containers.stats_sample(container)
            if request.flag("one-shot"):
                return first
            time.sleep(0.5)                   # docker answers with two samples: cpu % needs both
            second = containers.stats_sample(container)
            return _with_previous(second, first)
        stream = request.stream()
        previous = containers.stats_sample(container)
        while container.running and not container.removed:
            time.sleep(1)
            current = containers.stats_sample(container)
            stream.write_json(_with_previous(current, previous))
            previous = current
        stream.close()

    # --- exec ---------------------------------------------------------------------------
    def exec_create(request, id):
        with _errors():
            exec_id = containers.exec_create(id, request.json({}))
        return 201, {"Id": exec_id}

    def exec_get(exec_id):
        with _errors():
            return containers.exec_get(exec_id)

    def exec_start(request, id):
        instance = exec_get(id)
        body = request.json({})
        with _errors():
            if body.get("Detach"):
                containers.exec_start(instance)
                return 200, None
            containers.exec_start(instance, lambda: request.hijack(RAW_STREAM), body.get("Tty"))

    def exec_resize(request, id):
        instance = exec_get(id)
        with _errors():
            containers.exec_resize(instance, request.int_param("h", 0), request.int_param("w", 0))
        return 200, None

    def exec_inspect(request, id):
        return containers.exec_inspect(exec_get(id))

    router.add("POST", "/containers/create", create)
    router.add("GET", "/containers/json", list_containers)
    router.add("POST", "/containers/prune", prune)
    router.add("GET", "/containers/{id}/json", inspect)
    router.add("POST", "/containers/{id}/start", start)
    router.add("POST", "/containers/{id}/stop", stop)
    router.add("POST", "/containers/{id}/restart", restart)
    router.add("POST", "/containers/{id}/kill", kill)
    router.add("POST", "/containers/{id}/wait", wait)
    router.add("POST", "/containers/{id}/attach", attach)
    router.add("POST", "/containers/{id}/resize", resize)
    router.add("POST", "/containers/{id}/rename", rename)
    router.add("GET", "/containers/{id}/logs", logs)
    router.add("GET", "/containers/{id}/top", top)
    router.add("GET", "/containers/{id}/stats", stats)
    router.add("DELETE", "/containers/{id}", remove)
    router.add("POST", "/containers/{id}/exec", exec_create)
    router.add("POST", "/exec/{id}/start", exec_start)
    router.add("POST", "/exec/{id}/resize", exec_resize)
    router.add("GET", "/exec/{id}/json", exec_inspect)


def _filters(request):
    """docker's filters parameter, {"status": {"running": true}} or {"status": ["running"]}, as lists."""
    raw = request.json_param("filters", {}) or {}
    if not isinstance(raw, dict):
        raise bad_request("invalid filters: %s" % json.dumps(raw))
    return {key: sorted(value) if isinstance(value, dict) else list(value) for key, value in raw.items()}


def _unix_time(request, name):
    """A `since`/`until` parameter: seconds since the epoch ("1136073600.000000001"), 0 when absent."""
    value = request.param(name) or "0"
    try:
        return float(value)
    except ValueError:
        raise bad_request('invalid value for "%s": %s is not a Unix timestamp' % (name, value))


def _with_previous(current, previous):
    current = dict(current)
    current["preread"] = previous["read"]
    current["precpu_stats"] = previous["cpu_stats"]
    return current
