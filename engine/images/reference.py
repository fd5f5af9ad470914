"""Image references, parsed and normalised as docker does.

`busybox` is docker.io/library/busybox:latest; `host:5000/ns/name:tag` names a registry by its
first component when that has a dot or a port or is `localhost`; `name@sha256:<hex>` pins a digest.
"""
import re

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"%s(?:\.%s)*(?::[0-9]+)?" % (_DOMAIN_LABEL, _DOMAIN_LABEL)
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(r"^((?:%s/)?%s(?:/%s)*)(?::(%s))?(?:@(%s))?$"
                        % (_DOMAIN, _COMPONENT, _COMPONENT, _TAG, _DIGEST))
_ANCHORED_ID = re.compile(r"^[a-f0-9]{64}$")


class InvalidReference(ValueError):
    pass


class Reference:
    """A normalised reference: `domain`, `path` (library/busybox), `tag` and/or `digest`."""

    def __init__(self, domain, path, tag=None, digest=None):
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest

    @property
    def name(self):
        """The full repository name: docker.io/library/busybox."""
        return "%s/%s" % (self.domain, self.path)

    @property
    def familiar_name(self):
        """The name docker shows: busybox, user/app, 127.0.0.1:5000/app."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_PREFIX) and "/" not in self.path[len(OFFICIAL_PREFIX):]:
            return self.path[len(OFFICIAL_PREFIX):]
        return self.path

    def with_tag(self, tag):
        return Reference(self.domain, self.path, tag=tag)

    def with_digest(self, digest):
        return Reference(self.domain, self.path, digest=digest)

    @property
    def familiar(self):
        """busybox:latest, or busybox@sha256:..."""
        text = self.familiar_name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text

    def __str__(self):
        text = self.name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text

    def __repr__(self):
        return "Reference(%r)" % str(self)


def parse(text, default_tag=True):
    """Parse and normalise `text`; raise InvalidReference with docker's message.

    With `default_tag`, a reference with neither tag nor digest gets `latest`.
    """
    match = _REFERENCE.match(text or "")
    if not match:
        if text and _REFERENCE.match(text.lower()):
            raise InvalidReference("invalid reference format: repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    name, tag, digest = match.groups()
    if len(name) > 255:
        raise InvalidReference("invalid reference format: repository name must not be more than 255 characters")
    if _ANCHORED_ID.match(name):
        raise InvalidReference("invalid repository name (%s), cannot specify 64-byte hexadecimal strings" % name)
    domain, path = split_domain(name)
    if digest and not digest.startswith("sha256:"):
        raise InvalidReference("unsupported digest algorithm")
    if default_tag and not tag and not digest:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def split_domain(name):
    """docker's splitDockerDomain: ("docker.io", "library/busybox") for "busybox"."""
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    if path.lower() != path:
        raise InvalidReference("invalid reference format: repository name must be lowercase")
    return domain, path

