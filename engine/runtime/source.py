"""Where a shim imports the engine from.

From a checkout or an installed package: where this package lives. From a zipapp: a copy
of its engine/ unpacked once into CACHE_DIR, because Python cannot keep compiled modules
inside a zip, and every shim (one per container start) would compile the runtime again.
"""
import hashlib
import os
import shutil
import tempfile
import zipfile

# Root-only (a world-writable place would let anyone plant code that root runs), and
# emptied at boot, which is when old engine versions stop mattering.
CACHE_DIR = "/run/yard"

_path = None


def engine_path():
    """The sys.path entry that holds the `engine` package (this file is <it>/engine/runtime/).

    Resolved: hosts run the engine through a link that an upgrade points at the new copy
    before yardd restarts, and a running yardd must start shims of its own version."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


def shim_path():
    """The sys.path entry for shims: engine_path(), or the unpacked copy of a zipapp."""
    global _path
    if _path is None:
        _path = engine_path()
        if os.path.isfile(_path):
            try:
                _path = _unpack(_path)
            except OSError:
                pass                        # no /run/yard: shims import from the zip, slower
    return _path


def _unpack(zip_path):
    """engine/ of the zipapp in CACHE_DIR/engine-<digest of the zipapp>/, made atomically."""
    with open(zip_path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()[:16]
    target = os.path.join(CACHE_DIR, "engine-" + digest)
    if not os.path.isdir(target):
        os.makedirs(CACHE_DIR, mode=0o700, exist_ok=True)
        temporary = tempfile.mkdtemp(dir=CACHE_DIR)
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(temporary, [name for name in archive.namelist()
                                           if name.startswith("engine/")])
        try:
            os.rename(temporary, target)
        except OSError:                     # another daemon thread or process was first
            shutil.rmtree(temporary)
    return target
