"""Bearer-token auth: the real CNCF registry verifies tokens that a token service of the test issues.

The token service plays Docker Hub's auth.docker.io: it checks Basic credentials and signs a JWT
(RS256, certificate in the x5c header) granting the scopes asked for. The registry under
`auth: token:` trusts that certificate and checks every token itself.
"""
import base64
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

USER, PASSWORD = "alice", "wonderland"
SERVICE, ISSUER = "yard-test-registry", "yard-test-issuer"


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenService:
    def __init__(self, directory):
        key, cert = directory / "token.key", directory / "token.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=yard-test-token", "-keyout", str(key), "-out", str(cert)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.cert_path = cert
        self.key = serialization.load_pem_private_key(key.read_bytes(), password=None)
        self.cert_der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)
        self.requests = []          # (account or None, scope) of every token asked for
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                query = parse_qs(urlsplit(self.path).query)
                scopes = query.get("scope", [])
                authorization = self.headers.get("Authorization", "")
                user = None
                if authorization.startswith("Basic "):
                    user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
                    if (user, password) != (USER, PASSWORD):
                        self.send_response(401)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                service.requests.append((user, " ".join(scopes)))
                body = json.dumps({"token": service.token(user, scopes if user else [])}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.realm = "http://127.0.0.1:%d/token" % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, user, scopes):
        access = []
        for scope in " ".join(scopes).split():
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": ISSUER, "sub": user or "", "aud": SERVICE, "iat": now, "nbf": now - 60,
                  "exp": now + 600, "jti": str(now), "access": access}
        signing_input = (_b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())).encode()
        signature = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + _b64(signature)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def token_service(tmp_path):
    service = TokenService(tmp_path)
    yield service
    service.stop()


@pytest.fixture
def token_registry(make_registry, token_service):
    return make_registry(auth={"token": {"realm": token_service.realm, "service": SERVICE, "issuer": ISSUER,
                                         "rootcertbundle": str(token_service.cert_path)}})


def test_bearer_tokens_from_the_registrys_challenge(image_engine, token_registry, token_service, busybox_archive):
    name = token_registry.host + "/private/busybox"
    assert image_engine.yard("load", "-i", busybox_archive).returncode == 0
    assert image_engine.yard("tag", "busybox", name).returncode == 0

    refused = image_engine.yard("push", name)
    assert refused.returncode == 1
    assert "unauthorized: authentication required" in refused.stderr

    wrong = image_engine.yard("login", "-u", USER, "--password-stdin", token_registry.host, input="nope\n")
    assert wrong.returncode == 1
    assert "failed with status: 401 Unauthorized" in wrong.stderr
    login = image_engine.yard("login", "-u", USER, "--password-stdin", token_registry.host, input=PASSWORD + "\n")
    assert login.returncode == 0, login.stderr

    pushed = image_engine.yard("push", name)
    assert pushed.returncode == 0, pushed.stderr
    assert (USER, "repository:private/busybox:pull,push") in token_service.requests
    assert image_engine.yard("rmi", name, "busybox").returncode == 0
    pulled = image_engine.yard("pull", name)
    assert pulled.returncode == 0, pulled.stderr
    assert (USER, "repository:private/busybox:pull") in token_service.requests
