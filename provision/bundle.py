"""The engine bundle: engine/ packed as one zipapp (yard.pyz) that runs on the hosts' python3.

The bytes depend only on the sources: files in sorted order, fixed timestamps and modes, no
bytecode. The same engine/ therefore always gives the same checksum, and the engine step
uploads the bundle only when that checksum differs from the host's copy.

A zipapp holds no bytecode, so every `yard` would compile each module it imports. Hosts
therefore run an installed copy: the bundle unpacked beside its link and compiled there by
the host's own python (install_script), whatever its version.

    python -m provision.bundle OUT.pyz [PYTHON LINK]
        build it and print its sha256; with PYTHON and LINK, also install it as hosts do
"""
import hashlib
import io
import os
import shlex
import subprocess
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


def installed_name(link, sha256):
    """The directory `link` points at once the bundle with this digest is installed."""
    return "%s-%s" % (os.path.basename(link), sha256[:12])


def install_script(bundle_path, link, python, sha256):
    """POSIX sh, run on the host after the bundle is in place: unpack it beside `link`, compile
    it with `python`, then point `link` at it (a rename: the launchers see the old copy or the
    new one, never half of one). An installed copy is never rewritten: its name says its
    digest. The copy `link` pointed at stays until the next install (going back is one link
    away); older ones are removed. A running yardd needs neither: its shims are forks of it."""
    directory, name = os.path.dirname(link) or "/", os.path.basename(link)
    target, python = shlex.quote(installed_name(link, sha256)), shlex.quote(python)
    partial, new_link, name = shlex.quote(name + ".partial"), shlex.quote(name + ".new"), shlex.quote(name)
    return "\n".join([
        "set -e",
        "mkdir -p %s" % shlex.quote(directory),
        "cd %s" % shlex.quote(directory),
        "if [ ! -d %s ]; then" % target,
        "  rm -rf %s" % partial,
        "  %s -m zipfile -e %s %s" % (python, shlex.quote(bundle_path), partial),
        "  %s -m compileall -q %s >/dev/null" % (python, partial),
        "  mv %s %s" % (partial, target),
        "fi",
        "previous=$(readlink %s || true)" % name,
        "ln -sfn %s %s" % (target, new_link),
        "mv -T %s %s" % (new_link, name),
        "for copy in %s-*; do" % name,
        '  [ "$copy" = %s ] || [ "$copy" = "$previous" ] || rm -rf "$copy"' % target,
        "done",
    ])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 3):
        sys.stderr.write("usage: python -m provision.bundle OUT.pyz [PYTHON LINK]\n")
        return 2
    sha256 = build(argv[0])
    if len(argv) == 3:
        python, link = argv[1:]
        subprocess.run(["sh", "-c", install_script(os.path.abspath(argv[0]), os.path.abspath(link),
                                                   python, sha256)], check=True)
    print(sha256)
    return 0


if __name__ == "__main__":
    sys.exit(main())
