"""Layer tarballs: decompression, and unpacking into a directory overlayfs can stack.

OCI whiteouts become what overlayfs understands in a lower directory: `.wh.<name>` a 0:0
character device named <name>, `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its
directory. The diff id (sha256 of the uncompressed tar) is computed while unpacking.
"""
import gzip
import hashlib
import os
import shutil
import stat
import subprocess
import tarfile

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

# Python 3.12+ filter tar members; 3.14 would refuse the absolute symlinks every image has.
# The checks in `_safe_path` do the filtering here.
_EXTRACT_OPTIONS = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}


class LayerError(Exception):
    pass


class HashingReader:
    """A file-like reader that hashes and counts what goes through it."""

    def __init__(self, fileobj):
        self._fileobj = fileobj
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size=-1):
        data = self._fileobj.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def drain(self):
        while self.read(1 << 20):
            pass

    @property
    def digest(self):
        return "sha256:" + self.sha256.hexdigest()


def compression(path):
    """"gzip", "zstd" or None (a plain tar), from the file's first bytes."""
    with open(path, "rb") as source:
        head = source.read(4)
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head == ZSTD_MAGIC:
        return "zstd"
    return None


class open_uncompressed:
    """`with open_uncompressed(path) as stream:` the layer's tar bytes, whatever the compression."""

    def __init__(self, path):
        self._path = path
        self._process = None
        self._stream = None

    def __enter__(self):
        kind = compression(self._path)
        if kind == "gzip":
            self._stream = gzip.open(self._path, "rb")
        elif kind == "zstd":
            if not shutil.which("zstd"):
                raise LayerError("zstd-compressed layer, but the zstd command is not installed")
            self._process = subprocess.Popen(["zstd", "-dcq", self._path], stdout=subprocess.PIPE)
            self._stream = self._process.stdout
        else:
            self._stream = open(self._path, "rb")
        return self._stream

    def __exit__(self, *exc):
        self._stream.close()
        if self._process:
            if self._process.wait() != 0 and exc[0] is None:
                raise LayerError("zstd could not decompress %s" % self._path)


def unpack(blob_path, dest):
    """Unpack the layer at `blob_path` into the existing directory `dest`.

    Returns (diff_id, uncompressed size).
    """
    with open_uncompressed(blob_path) as stream:
        reader = HashingReader(stream)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for member in tar:
                    _unpack_member(tar, member, dest)
        except (tarfile.TarError, EOFError, OSError, ValueError) as error:
            raise LayerError("invalid layer tar: %s" % error)
        reader.drain()          # padding after the end-of-archive blocks is part of the diff id
    return reader.digest, reader.size


def _unpack_member(tar, member, dest):
    name = _clean(member.name)
    if not name:
        return                  # the archive's "./" entry
    directory, base = os.path.split(name)
    parent = _safe_path(dest, directory)
    if base == OPAQUE_MARKER:
        os.makedirs(parent, exist_ok=True)
        os.setxattr(parent, "trusted.overlay.opaque", b"y")
        return
    if base.startswith(WHITEOUT_PREFIX):
        os.makedirs(parent, exist_ok=True)
        target = os.path.join(parent, base[len(WHITEOUT_PREFIX):])
        _remove(target)
        os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(0, 0))
        return
    member.name = name
    if member.islnk():
        member.linkname = _clean(member.linkname)
        _safe_path(dest, member.linkname)
    target = os.path.join(parent, base)
    if not member.isdir() and os.path.lexists(target) and not os.path.isdir(target):
        os.unlink(target)       # a later entry replaces an earlier one, as tar does
    tar.extract(member, dest, numeric_owner=True, **_EXTRACT_OPTIONS)


def _clean(name):
    name = os.path.normpath("/" + name).lstrip("/")
    return "" if name == "." else name


def _safe_path(dest, relative):
    """The real path of `relative` under `dest`; refuses anything that leads outside it."""
    root = os.path.realpath(dest)
    path = os.path.realpath(os.path.join(root, relative))
    if path != root and not path.startswith(root + os.sep):
        raise LayerError("layer entry %r points outside the layer" % relative)
    return path


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
