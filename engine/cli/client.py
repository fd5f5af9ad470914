"""A client of the Docker Engine API over a Unix socket: what every `yard` verb uses.

The target comes from `-H`, else YARD_HOST, else unix:///run/yard.sock.
"""
import http.client
import json
import os
import socket
from urllib.parse import quote, urlencode

DEFAULT_HOST = "unix:///run/yard.sock"
API_PREFIX = "/v1.41"


class ClientError(Exception):
    """The daemon answered with an error (status and Docker's message), or could not be reached."""

    def __init__(self, message, status=None):
        Exception.__init__(self, message)
        self.status = status
        self.message = message


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=None):
        http.client.HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def socket_path(host=None):
    host = host or os.environ.get("YARD_HOST") or DEFAULT_HOST
    if host.startswith("unix://"):
        return host[len("unix://"):]
    if host.startswith("/"):
        return host
    raise ClientError("unsupported host %r: only unix:// sockets are served" % host)


class Client:
    def __init__(self, host=None):
        self.path = socket_path(host)

    def _url(self, path, params=None):
        url = API_PREFIX + path
        if params:
            items = [(k, v) for k, v in params.items() if v is not None]
            items = [(k, ("1" if v else "0") if isinstance(v, bool) else v) for k, v in items]
            url += "?" + urlencode(items, doseq=True)
        return url

    def open(self, method, path, params=None, body=None, headers=None, timeout=None):
        """Send a request; return the live HTTPResponse (the caller reads or streams it)."""
        conn = _UnixConnection(self.path, timeout=timeout)
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, self._url(path, params), body=body, headers=headers)
            response = conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError):
            raise ClientError("Cannot connect to the yard daemon at unix://%s. Is the yard daemon running?"
                              % self.path)
        except PermissionError:
            raise ClientError("permission denied while trying to connect to the yard daemon socket at unix://%s"
                              % self.path)
        if response.status >= 400:
            raise _error_from(response)
        return response

    def call(self, method, path, params=None, body=None, headers=None):
        """A request whose answer is JSON (or empty): returns the decoded value."""
        response = self.open(method, path, params, body, headers)
        data = response.read()
        response.close()
        if not data.strip():
            return None
        return json.loads(data.decode("utf-8"))

    def get(self, path, params=None):
        return self.call("GET", path, params)

    def post(self, path, params=None, body=None, headers=None):
        return self.call("POST", path, params, body, headers)

    def delete(self, path, params=None):
        return self.call("DELETE", path, params)

    def stream_json(self, method, path, params=None, body=None, headers=None):
        """Yield each JSON message of a newline-delimited progress stream (pull, push, load)."""
        response = self.open(method, path, params, body, headers)
        try:
            for line in response:
                line = line.strip()
                if line:
                    yield json.loads(line.decode("utf-8"))
        finally:
            response.close()

    def hijack(self, path, params=None, body=None):
        """POST with `Upgrade: tcp` and return the raw socket, as docker's attach/exec do."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise ClientError("Cannot connect to the yard daemon at unix://%s. Is the yard daemon running?"
                              % self.path)
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        head = ("POST %s HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % (self._url(path, params), len(payload)))
        sock.sendall(head.encode("ascii") + payload)
        status_line, headers = _read_head(sock)
        status = int(status_line.split()[1])
        if status >= 400:
            raise ClientError(_message(headers.get("_body", b"")), status)
        return sock


def _read_head(sock):
    """Read an HTTP response head byte by byte (nothing past it may be consumed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        byte = sock.recv(1)
        if not byte:
            break
        data += byte
    lines = data.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    if int(lines[0].split()[1]) >= 400:
        length = int(headers.get("content-length", "0"))
        body = b""
        while len(body) < length:
            chunk = sock.recv(length - len(body))
            if not chunk:
                break
            body += chunk
        headers["_body"] = body
    return lines[0], headers


def _message(data):
    try:
        return json.loads(data.decode("utf-8"))["message"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return data.decode("utf-8", "replace").strip()


def _error_from(response):
    data = response.read()
    response.close()
    return ClientError(_message(data), response.status)


def quote_name(name):
    """A name or reference as one path segment (`host:5000/ns/x` stays readable to the router)."""
    return quote(name, safe=":@/")
