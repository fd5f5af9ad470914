"""The Docker Engine API served over a Unix socket.

Routes are declared per area (`system`, `containers`, `images`, ...) as
`router.add("POST", "/containers/{id}/start", handler)`; the server only turns HTTP
into a handler call. Paths may come with a `/v1.NN` prefix: every version up to
API_VERSION is served.
"""
import grp
import json
import os
import re
import socket
import socketserver
import sys
import traceback
from http.server import BaseHTTPRequestHandler

from engine.api.http import ApiError, Request

API_VERSION = "1.41"
MIN_API_VERSION = "1.12"
_VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)(/.*)$")


class Router:
    def __init__(self):
        self._routes = []          # (method, compiled pattern, handler)

    def add(self, method, pattern, handler):
        """`pattern` names path parameters in braces; `{name:path}` also matches slashes."""
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append((method, re.compile("^%s$" % regex), handler))

    def find(self, method, path):
        """(handler, params) for a request; ApiError 404/405 when none fits."""
        allowed = False
        for route_method, regex, handler in self._routes:
            match = regex.match(path)
            if not match:
                continue
            if route_method == method or (method == "HEAD" and route_method == "GET"):
                return handler, match.groupdict()
            allowed = True
        if allowed:
            raise ApiError(405, "method %s not allowed for %s" % (method, path))
        raise ApiError(404, "page not found")


def _version_tuple(text):
    return tuple(int(part) for part in text.split("."))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "yard"
    sys_version = ""
    router = None      # set on the class built by make_server
    debug = False

    def log_message(self, fmt, *args):
        if self.debug:
            sys.stderr.write("api: %s\n" % (fmt % args))

    def _dispatch(self):
        path, _, query = self.path.partition("?")
        request = Request(self, self.command, path, query)
        try:
            match = _VERSION_PREFIX.match(path)
            if match:
                version, request.path = match.group(1), match.group(2)
                if _version_tuple(version) > _version_tuple(API_VERSION):
                    raise ApiError(400, "client version %s is too new. Maximum supported API version is %s"
                                   % (version, API_VERSION))
                if _version_tuple(version) < _version_tuple(MIN_API_VERSION):
                    raise ApiError(400, "client version %s is too old. Minimum supported API version is %s"
                                   % (version, MIN_API_VERSION))
                request.api_version = version
            handler, params = self.router.find(self.command, request.path)
            result = handler(request, **params)
            if request.answered:
                return
            if isinstance(result, tuple):
                request.respond(result[0], result[1])
            elif result is None:
                request.respond(204)
            else:
                request.respond(200, result)
        except ApiError as error:
            self._answer_error(request, error.status, error.message)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # a bug: answer 500, keep serving
            traceback.print_exc()
            self._answer_error(request, 500, "%s: %s" % (type(error).__name__, error))

    def _answer_error(self, request, status, message):
        if request.answered:       # too late for a status line: end the connection
            self.close_connection = True
            return
        body = (json.dumps({"message": message}) + "\n").encode("utf-8")
        try:
            request.respond_raw(status, body, "application/json")
        except OSError:
            self.close_connection = True

    def end_headers(self):
        # Every answer says which API this is, as dockerd's do.
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Ostype", "linux")
        self.send_header("Docker-Experimental", "false")
        BaseHTTPRequestHandler.end_headers(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        conn, _ = self.socket.accept()
        return conn, ("unix", 0)       # BaseHTTPRequestHandler wants a (host, port)

    def handle_error(self, request, client_address):
        # A client that hangs up mid-request is routine (docker run --rm, Ctrl-C): no traceback.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        socketserver.UnixStreamServer.handle_error(self, request, client_address)


def make_server(socket_path, router, group=None, debug=False):
    """Bind the API socket (mode 0660, group `group` when it exists) and return the server.

    Call `serve_forever()` on it; `shutdown()` and `server_close()` to stop.
    """
    handler = type("ApiHandler", (_Handler,), {"router": router, "debug": debug})
    if os.path.exists(socket_path):
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(socket_path)
        except OSError:
            os.unlink(socket_path)       # stale socket from a daemon that died
        else:
            probe.close()
            raise RuntimeError("%s is in use: is another daemon running?" % socket_path)
        finally:
            probe.close()
    parent = os.path.dirname(socket_path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    old_umask = os.umask(0o117)
    try:
        server = _UnixServer(socket_path, handler)
    finally:
        os.umask(old_umask)
    gid = -1
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            gid = -1
    os.chown(socket_path, 0 if os.geteuid() == 0 else -1, gid)
    os.chmod(socket_path, 0o660)
    return server
