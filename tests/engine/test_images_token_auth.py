"""Bearer-token auth: the real CNCF registry verifies tokens that a token service of the test issues.

The token service plays Docker Hub's auth.docker.io: it checks Basic credentials and signs a JWT
(RS256, certificate in the x5c header) granting the scopes asked for. The registry under
`auth: token:` trusts that certificate and checks every token itself.
"""
import base64
import datetime
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

USER, PASSWORD = "alice", "wonderland"
SERVICE, ISSUER = "yard-test-registry", "yard-test-issuer"


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenService:
    def __init__(self, directory):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "yard-test-token")])
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                       .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(hours=1))
                       .not_valid_after(now + datetime.timedelta(days=1))
                       .sign(self.key, hashes.SHA256()))
        self.cert_der = certificate.public_bytes(serialization.Encoding.DER)
        self.cert_path = directory / "token.pem"          # the registry's rootcertbundle
        self.cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
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


def test_a_cross_repository_mount_asks_for_both_scopes(image_engine, token_registry, token_service, busybox_archive):
    assert image_engine.yard("load", "-i", busybox_archive).returncode == 0
    login = image_engine.yard("login", "-u", USER, "--password-stdin", token_registry.host, input=PASSWORD + "\n")
    assert login.returncode == 0, login.stderr
    for repository in ("team/first", "team/second"):
        assert image_engine.yard("tag", "busybox", "%s/%s" % (token_registry.host, repository)).returncode == 0
    assert image_engine.yard("push", token_registry.host + "/team/first").returncode == 0

    second = image_engine.yard("push", token_registry.host + "/team/second")
    assert second.returncode == 0, second.stderr
    assert ": Mounted from team/first" in second.stdout
    assert (USER, "repository:team/second:pull,push repository:team/first:pull") in token_service.requests
