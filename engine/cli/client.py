"""A client of the Docker Engine API over a Unix socket: what every `yard` verb uses.

The target comes from `-H`, else YARD_HOST, else unix:///run/yard.sock.
"""
import json
import os
import socket

DEFAULT_HOST = "unix:///run/yard.sock"
API_PREFIX = "/v1.41"
# What a query or a path segment carries as it is (RFC 3986's unreserved characters).
UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class ClientError(Exception):
    """The daemon answered with an error (status and Docker's message), or could not be reached."""

    def __init__(self, message, status=None):
        Exception.__init__(self, message)
        self.status = status
        self.message = message


class Response:
    """An HTTP/1.1 answer read straight off the socket: `status`, `headers` (lower-case names)
    and a body read as it arrives (by Content-Length, chunked, or up to the close).

    http.client would do, but importing it costs more than the rest of `yard run` (it pulls
    in ssl and email): this is the part of it a Unix-socket API client needs.
    """

    def __init__(self, sock, method):
        self._sock = sock
        self._file = sock.makefile("rb")
        status_line = self._file.readline().decode("latin-1")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ClientError("malformed answer from the daemon: %r" % status_line)
        self.status = int(parts[1])
        self.headers = {}
        while True:
            line = self._file.readline().decode("latin-1")
            if line in ("\r\n", "\n", ""):
                break
            key, _, value = line.partition(":")
            self.headers[key.strip().lower()] = value.strip()
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length")
        self._remaining = int(length) if length is not None and not self._chunked else None
        self._chunk_left = 0
        self._done = method == "HEAD" or self.status in (204, 304)

    def getheader(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def read1(self, size=65536):
        """Whatever part of the body is there (at most `size` bytes); b"" at its end."""
        if self._done:
            return b""
        if self._chunked:
            if not self._chunk_left:
                self._chunk_left = int(self._file.readline().split(b";")[0].strip() or b"0", 16)
                if not self._chunk_left:
                    while self._file.readline() not in (b"\r\n", b"\n", b""):
                        pass                                # trailers
                    self._done = True
                    return b""
            data = self._file.read1(min(size, self._chunk_left))
            self._chunk_left -= len(data)
            if not self._chunk_left:
                self._file.readline()                       # the CRLF after each chunk
        elif self._remaining is not None:
            data = self._file.read1(min(size, self._remaining)) if self._remaining else b""
            self._remaining -= len(data)
        else:
            data = self._file.read1(size)
        if not data:
            self._done = True
        return data

    def read(self, size=-1):
        """`size` bytes (fewer only at the end of the body), or all of it."""
        pieces, wanted = [], size
        while wanted != 0:
            data = self.read1(65536 if wanted < 0 else wanted)
            if not data:
                break
            pieces.append(data)
            if wanted > 0:
                wanted -= len(data)
        return b"".join(pieces)

    def __iter__(self):
        """The body line by line (newline-delimited JSON streams)."""
        pending = b""
        while True:
            data = self.read1()
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line + b"\n"
        if pending:
            yield pending

    def close(self):
        self._file.close()
        self._sock.close()


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
            pairs = [(k, each) for k, v in items for each in (v if isinstance(v, (list, tuple)) else [v])]
            url += "?" + "&".join("%s=%s" % (percent_encoded(k), percent_encoded(v)) for k, v in pairs)
        return url

    def open(self, method, path, params=None, body=None, headers=None, timeout=None):
        """Send a request; return the live Response (the caller reads or streams it).

        `body` may be bytes, a JSON-able dict or list, or a file object (sent chunked)."""
        return self.answer(self.send(method, path, params, body, headers, timeout), method)

    def send(self, method, path, params=None, body=None, headers=None, timeout=None):
        """The first half of open(): send the request; -> the socket to give answer()."""
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        if hasattr(body, "read"):
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = str(len(body or b""))
        head = "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n" % (
            method, self._url(path, params), "".join("%s: %s\r\n" % item for item in headers.items()))
        sock = self._connect(timeout)
        try:
            sock.sendall(head.encode("latin-1"))
            if hasattr(body, "read"):
                for chunk in iter(lambda: body.read(1 << 20), b""):
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sock.sendall(b"0\r\n\r\n")
            elif body:
                sock.sendall(body)
        except OSError as error:
            sock.close()
            raise ClientError("error during connect: %s" % error)
        return sock

    def answer(self, sock, method):
        """The second half of open(): the Response to the request sent on `sock`."""
        try:
            response = Response(sock, method)
        except OSError as error:
            sock.close()
            raise ClientError("error during connect: %s" % error)
        if response.status >= 400:
            raise _error_from(response)
        return response

    def _connect(self, timeout=None):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise ClientError("Cannot connect to the yard daemon at unix://%s. Is the yard daemon running?"
                              % self.path)
        except PermissionError:
            sock.close()
            raise ClientError("permission denied while trying to connect to the yard daemon socket at unix://%s"
                              % self.path)
        return sock

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
        return self.upgraded(self.send_upgrade(path, params, body))

    def send_upgrade(self, path, params=None, body=None):
        """The first half of hijack(): send the request; -> the socket to give upgraded()."""
        sock = self._connect()
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        head = ("POST %s HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % (self._url(path, params), len(payload)))
        sock.sendall(head.encode("ascii") + payload)
        return sock

    def upgraded(self, sock):
        """The second half of hijack(): the raw socket once the daemon has taken it over."""
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


def percent_encoded(value, safe=b""):
    """urllib.parse's quoting, which is all this client needs of it: importing urllib.parse
    (it brings ipaddress) cost `yard run` more than its own client code."""
    return "".join(chr(byte) if byte in UNRESERVED or byte in safe else "%%%02X" % byte
                   for byte in str(value).encode("utf-8"))


def quote_name(name):
    """A name or reference as one path segment (`host:5000/ns/x` stays readable to the router)."""
    return percent_encoded(name, safe=b":@/")
