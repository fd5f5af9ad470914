"""Reference normalisation and the insecure-registries rule, as docker has them."""
import pytest

from engine.images.reference import InvalidReference, parse
from engine.images.registry import endpoints, is_insecure


@pytest.mark.parametrize("text, name, familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("index.docker.io/user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("user/app:v2", "docker.io/user/app:v2", "user/app:v2"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("127.0.0.1:5000/ns/name:tag", "127.0.0.1:5000/ns/name:tag", "127.0.0.1:5000/ns/name:tag"),
    ("registry.example.com/a/b/c", "registry.example.com/a/b/c:latest", "registry.example.com/a/b/c:latest"),
    ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64, "busybox@sha256:" + "a" * 64),
])
def test_references_are_normalised_as_docker_does(text, name, familiar):
    reference = parse(text)
    assert str(reference) == name
    assert reference.familiar == familiar


@pytest.mark.parametrize("text, message", [
    ("Busybox", "invalid reference format: repository name must be lowercase"),
    ("busybox:", "invalid reference format"),
    ("-busybox", "invalid reference format"),
    ("busybox@sha256:123", "invalid reference format"),
    ("a" * 64, "invalid repository name (%s), cannot specify 64-byte hexadecimal strings" % ("a" * 64)),
    ("", "invalid reference format"),
])
def test_invalid_references_get_dockers_error(text, message):
    with pytest.raises(InvalidReference) as error:
        parse(text)
    assert str(error.value) == message


@pytest.mark.parametrize("host, insecure, expected", [
    ("127.0.0.1:5000", [], True),                       # loopback is always insecure
    ("localhost:5000", [], True),                       # ... also by a name that resolves to it
    ("10.1.2.3:5000", ["10.0.0.0/8"], True),            # CIDR
    ("10.1.2.3:5000", ["10.1.2.0/30"], True),
    ("10.1.2.9:5000", ["10.1.2.0/30"], False),
    ("registry.lan:5000", ["registry.lan:5000"], True),  # host:port
    ("registry.lan:5001", ["registry.lan:5000"], False),
    ("registry.lan", ["registry.lan"], True),
    ("192.0.2.10:443", [], False),
])
def test_insecure_registries_by_host_port_or_cidr(host, insecure, expected):
    assert is_insecure(host, insecure) is expected


def test_only_docker_hub_uses_mirrors_and_secure_registries_need_https():
    config = {"registry-mirrors": ["http://mirror.lan:5000/"], "insecure-registries": ["mirror.lan:5000"]}
    assert endpoints("docker.io", config) == [("http://mirror.lan:5000", False, True),
                                             ("https://registry-1.docker.io", True, False)]
    assert endpoints("docker.io", config, push=True) == [("https://registry-1.docker.io", True, False)]
    assert endpoints("quay.io", config) == [("https://quay.io", True, False)]
    assert endpoints("mirror.lan:5000", config) == [("https://mirror.lan:5000", False, False),
                                                   ("http://mirror.lan:5000", False, False)]
