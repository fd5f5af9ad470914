"""The engine bundle: engine/ packed as one zipapp (yard.pyz) that runs on the hosts' python3.

The bytes depend only on the sources: files in sorted order, fixed timestamps and modes, no
bytecode. The same engine/ therefore always gives the same checksum, and the engine step
uploads the bundle only when that checksum differs from the host's copy.

    python -m provision.bundle OUT.pyz     build it and print its sha256
"""
import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path

ENGINE_DIR = Path(__file__).resolve().parent.parent / "engine"
SHEBANG = b"#!/usr/bin/env python3\n"
# zip's epoch: the earliest timestamp a zip entry can hold.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def engine_sources(engine_dir=ENGINE_DIR):
    """Every .py file under engine_dir, as sorted paths relative to its parent."""
    root = Path(engine_dir).parent
    return sorted(path.relative_to(root).as_posix()
                  for path in Path(engine_dir).rglob("*.py")
                  if "__pycache__" not in path.parts)


def bundle_bytes(engine_dir=ENGINE_DIR):
    """The zipapp's bytes: a shebang line, then a zip whose __main__.py starts engine/__main__."""
    root = Path(engine_dir).parent
    entries = [(name, (root / name).read_bytes()) for name in engine_sources(engine_dir)]
    # The zipapp's own __main__ hands over to the package's, which picks yard or yardd.
    entries.append(("__main__.py", b"import sys\nfrom engine.__main__ import main\nsys.exit(main())\n"))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever the controller runs on
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return SHEBANG + archive.getvalue()


def build(dest, engine_dir=ENGINE_DIR):
    """Write the bundle to dest (atomically, mode 0755) and return its sha256 hex digest."""
    data = bundle_bytes(engine_dir)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.write_bytes(data)
    os.chmod(partial, 0o755)
    os.replace(partial, dest)
    return hashlib.sha256(data).hexdigest()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m provision.bundle OUT.pyz\n")
        return 2
    print(build(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
