"""A client of one registry endpoint (Registry HTTP API v2 / OCI distribution).

Which endpoints to try for a repository, in order (`endpoints`): for docker.io names the
daemon's `registry-mirrors` first, then the registry itself. A registry listed in
`insecure-registries` (host:port or CIDR; 127.0.0.0/8 always) is tried over HTTPS without
verification, then plain HTTP; every other one must speak verified HTTPS.

Auth follows the registry's challenge: `WWW-Authenticate: Bearer realm=...,service=...,scope=...`
fetches a token (with the user's credentials when there are some), `Basic` sends them.
Redirects are followed (blob downloads go to storage backends); credentials never follow
a redirect to another host.
"""
import base64
import http.client
import ipaddress
import json
import re
import socket
import ssl
from urllib.parse import urlencode, urljoin, urlsplit

DOCKER_HUB_DOMAIN = "docker.io"
DOCKER_HUB_ENDPOINT = "https://registry-1.docker.io"
DEFAULT_INSECURE = ("127.0.0.0/8", "::1/128")
USER_AGENT = "yard"
_REDIRECTS = (301, 302, 303, 307, 308)
_STATUS_ERRORS = {401: ("UNAUTHORIZED", "unauthorized: authentication required"),
                  403: ("DENIED", "denied: requested access to the resource is denied")}
# What OpenSSL says when the server answers a ClientHello in plain HTTP.
_PLAIN_HTTP_REASONS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "UNKNOWN_PROTOCOL", "HTTP_REQUEST")


class RegistryError(Exception):
    """An answer the registry gave (`status`, docker's wording), or none at all (status None)."""

    def __init__(self, message, status=None, code=None):
        Exception.__init__(self, message)
        self.message = message
        self.status = status
        self.code = code


def is_insecure(host, insecure_registries):
    """Whether `host` ("name[:port]") may be reached without verified TLS.

    An entry matches by name (with or without port) or, when it is a CIDR, by the addresses
    the host's name resolves to. Loopback is always insecure, as in docker.
    """
    name = _host_name(host)
    networks = []
    for entry in list(insecure_registries) + list(DEFAULT_INSECURE):
        entry = re.sub(r"^[a-z]+://", "", entry).rstrip("/")
        if entry in (host, name):
            return True
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    for address in _addresses(name):
        if any(address.version == network.version and address in network for network in networks):
            return True
    return False


def _host_name(host):
    if host.startswith("["):
        return host[1:host.index("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _addresses(name):
    try:
        return [ipaddress.ip_address(name)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except (socket.gaierror, UnicodeError):
        return []
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def endpoints(domain, config, push=False):
    """[(base URL, verify TLS, is a mirror)] to try, in order, for a repository on `domain`."""
    insecure = config.get("insecure-registries", [])
    found = []
    if domain == DOCKER_HUB_DOMAIN:
        if not push:
            for mirror in config.get("registry-mirrors", []):
                mirror = mirror.rstrip("/")
                host = urlsplit(mirror).netloc
                found.append((mirror, not is_insecure(host, insecure), True))
        found.append((DOCKER_HUB_ENDPOINT, True, False))
        return found
    if is_insecure(domain, insecure):
        return [("https://" + domain, False, False), ("http://" + domain, False, False)]
    return [("https://" + domain, True, False)]


def auth_header_value(credentials):
    return "Basic " + base64.b64encode(("%s:%s" % (credentials["username"], credentials["password"]))
                                       .encode("utf-8")).decode("ascii")


class Endpoint:
    """One registry base URL, with the credentials and tokens to use there."""

    def __init__(self, base_url, verify_tls=True, credentials=None):
        self.base_url = base_url.rstrip("/")
        self.verify_tls = verify_tls
        self.credentials = credentials if credentials and credentials.get("username") else None
        self._tokens = {}                  # scope -> Authorization header value
        self._basic = False                # the registry asked for Basic auth once

    # --- HTTP -----------------------------------------------------------------------------
    def request(self, method, path, scope, headers=None, body=None, ok=(200,)):
        """Send a request to `path` (under base_url, or an absolute URL); follow auth and redirects.

        Returns the response, whose status is one of `ok`; other answers raise RegistryError.
        """
        url = path if "://" in path else self.base_url + path
        response = self._send(method, url, scope, headers, body)
        if response.status == 401:
            challenge = response.getheader("WWW-Authenticate", "")
            response.read()
            self._answer_challenge(challenge, scope)
            response = self._send(method, url, scope, headers, body)
        if response.status not in ok:
            raise error_from(response)
        return response

    def _send(self, method, url, scope, headers, body):
        headers = dict(headers or {})
        headers.setdefault("User-Agent", USER_AGENT)
        authorization = self._authorization(scope)
        origin = urlsplit(url).netloc
        for _ in range(10):
            parts = urlsplit(url)
            if authorization and parts.netloc == origin:
                headers["Authorization"] = authorization
            else:
                headers.pop("Authorization", None)
            connection = self._connection(parts)
            target = parts.path + ("?" + parts.query if parts.query else "")
            try:
                connection.request(method, target or "/", body=body, headers=headers)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                raise RegistryError('%s "%s": %s' % (method.capitalize(), url, _explain(error)))
            if response.status not in _REDIRECTS or method not in ("GET", "HEAD"):
                return response
            response.read()
            url = urljoin(url, response.getheader("Location"))
        raise RegistryError('%s "%s": stopped after 10 redirects' % (method.capitalize(), url))

    def _connection(self, parts):
        if parts.scheme == "https":
            context = ssl.create_default_context()
            if not self.verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(parts.netloc, timeout=60, context=context)
        return http.client.HTTPConnection(parts.netloc, timeout=60)

    # --- auth ------------------------------------------------------------------------------
    def _authorization(self, scope):
        if scope in self._tokens:
            return self._tokens[scope]
        if self._basic and self.credentials:
            return auth_header_value(self.credentials)
        return None

    def _answer_challenge(self, challenge, scope):
        scheme, _, rest = challenge.partition(" ")
        params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if scheme.lower() == "basic":
            if not self.credentials:
                raise RegistryError("unauthorized: authentication required", 401, "UNAUTHORIZED")
            self._basic = True
        elif scheme.lower() == "bearer" and params.get("realm"):
            self._tokens[scope] = "Bearer " + self._fetch_token(params, scope)
        else:
            raise RegistryError("unauthorized: unsupported authentication challenge %r" % challenge, 401)

    def _fetch_token(self, params, scope):
        # One `scope` parameter per scope (a cross-repository mount needs two), as docker sends them.
        query = [("service", params.get("service", ""))] + [("scope", each) for each in scope.split()]
        if self.credentials:
            query.append(("account", self.credentials["username"]))
        url = params["realm"] + ("&" if "?" in params["realm"] else "?") + urlencode(query)
        headers = {"User-Agent": USER_AGENT}
        if self.credentials:
            headers["Authorization"] = auth_header_value(self.credentials)
        parts = urlsplit(url)
        connection = self._connection(parts)
        try:
            connection.request("GET", parts.path + "?" + parts.query, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise RegistryError('Get "%s": %s' % (params["realm"], error))
        finally:
            connection.close()
        if response.status != 200:
            raise RegistryError("unauthorized: token request to %s failed with status %d"
                                % (params["realm"], response.status), 401, "UNAUTHORIZED")
        answer = json.loads(data.decode("utf-8"))
        return answer.get("token") or answer.get("access_token")

    def ping(self):
        """GET /v2/: does a v2 registry answer at this base URL? Raises RegistryError (status None) if not."""
        response = self._send("GET", self.base_url + "/v2/", "", None, None)
        response.read()
        if response.status not in (200, 401):
            raise RegistryError("%s/v2/ answered %d: not a v2 registry" % (self.base_url, response.status))

    def check_login(self):
        """GET /v2/ with the credentials (what `docker login` does). Raises RegistryError."""
        response = self.request("GET", "/v2/", scope="")
        response.read()


def _explain(error):
    """docker's words for a TLS handshake a plain HTTP server answered."""
    if isinstance(error, ssl.SSLError) and error.reason in _PLAIN_HTTP_REASONS:
        return "http: server gave HTTP response to HTTPS client"
    return error


def scope_for(repository, actions="pull"):
    return "repository:%s:%s" % (repository, actions)


def error_from(response):
    """RegistryError with docker's wording: `<code in words>: <message>` from an errors body."""
    data = response.read()
    status = response.status
    try:
        errors = json.loads(data.decode("utf-8"))["errors"]
        first = errors[0]
        code = first.get("code", "")
        message = "%s: %s" % (code.lower().replace("_", " "), first.get("message", ""))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, UnicodeDecodeError):
        # No errors body (HEAD answers have none): say what docker says for the status.
        code, message = _STATUS_ERRORS.get(status, ("", "unexpected status %d %s" % (status, response.reason)))
    return RegistryError(message, status, code)
