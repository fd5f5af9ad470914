"""The HTTP side of the Docker Engine API: one request, and the ways to answer it.

Handlers get a `Request`. They return a JSON-able value (answered with 200), a
`(status, value)` pair, or None once they have answered themselves (streams, raw
bodies, hijacked sockets). Errors are raised as `ApiError`, answered as Docker does:
`{"message": "..."}` with the status code.
"""
import json
from urllib.parse import parse_qs


class ApiError(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status
        self.message = message


def not_found(message):
    return ApiError(404, message)


def bad_request(message):
    return ApiError(400, message)


def conflict(message):
    return ApiError(409, message)


_TRUE = ("1", "true", "True", "yes")


class Request:
    def __init__(self, handler, method, path, query_string):
        self._handler = handler           # the BaseHTTPRequestHandler serving this connection
        self.method = method
        self.path = path                  # without the /v1.NN prefix
        self.api_version = None           # "1.41" when the client named one
        self.query = parse_qs(query_string, keep_blank_values=True)
        self.headers = handler.headers
        self._body = None
        self.answered = False

    # --- reading -----------------------------------------------------------------
    def param(self, name, default=None):
        values = self.query.get(name)
        return values[-1] if values else default

    def params(self, name):
        return list(self.query.get(name, []))

    def flag(self, name, default=False):
        value = self.param(name)
        if value is None:
            return default
        return value in _TRUE

    def int_param(self, name, default=None):
        value = self.param(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise bad_request("invalid value for %s: %r" % (name, value))

    def json_param(self, name, default=None):
        """A query parameter holding JSON (filters, buildargs...)."""
        value = self.param(name)
        if not value:
            return default
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request("invalid JSON in %s" % name)

    def body(self):
        if self._body is None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self._body = self._handler.rfile.read(length)
            elif "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                self._body = b"".join(self.body_chunks())
            else:
                self._body = b""
        return self._body

    def body_chunks(self):
        """The request body as it arrives (for large uploads: image load, import)."""
        rfile = self._handler.rfile
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                size_line = rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                data = rfile.read(size)
                rfile.readline()
                yield data
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            data = rfile.read(min(remaining, 1 << 20))
            if not data:
                return
            remaining -= len(data)
            yield data

    def json(self, default=None):
        raw = self.body()
        if not raw.strip():
            return default
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError as error:
            raise bad_request("invalid JSON body: %s" % error)

    # --- answering ---------------------------------------------------------------
    def respond(self, status, value=None, headers=None):
        """Answer with a JSON body (or an empty one when value is None)."""
        body = b"" if value is None else (json.dumps(value) + "\n").encode("utf-8")
        content_type = "application/json" if value is not None else None
        self.respond_raw(status, body, content_type, headers)

    def respond_raw(self, status, body, content_type="text/plain; charset=utf-8", headers=None):
        handler = self._handler
        handler.send_response(status)
        if content_type:
            handler.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if self.method != "HEAD":
            handler.wfile.write(body)
        handler.wfile.flush()
        self.answered = True

    def stream(self, status=200, content_type="application/json", headers=None):
        """Start a chunked response; returns a Stream to write to and close."""
        handler = self._handler
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Transfer-Encoding", "chunked")
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.flush()
        self.answered = True
        return Stream(handler.wfile)

    def hijack(self, content_type="application/vnd.docker.raw-stream"):
        """Take over the connection, as docker's attach and exec start do.

        Answers `101 UPGRADED` when the client asked for an upgrade, else a plain 200
        with no length; returns the raw socket. The server closes it when the handler returns.
        """
        handler = self._handler
        upgrade = (self.headers.get("Upgrade") or "").lower() == "tcp"
        handler.send_response_only(101 if upgrade else 200, "UPGRADED" if upgrade else None)
        handler.send_header("Content-Type", content_type)
        if upgrade:
            handler.send_header("Connection", "Upgrade")
            handler.send_header("Upgrade", "tcp")
        handler.end_headers()
        handler.wfile.flush()
        handler.close_connection = True
        self.answered = True
        return handler.connection


class Stream:
    """A chunked HTTP response body."""

    def __init__(self, wfile):
        self._wfile = wfile
        self.closed = False

    def write(self, data):
        if not data or self.closed:
            return
        self._wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self._wfile.flush()

    def write_json(self, value):
        self.write((json.dumps(value) + "\r\n").encode("utf-8"))

    def close(self):
        if not self.closed:
            self.closed = True
            self._wfile.write(b"0\r\n\r\n")
            self._wfile.flush()
