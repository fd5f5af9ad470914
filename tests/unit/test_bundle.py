"""The engine bundle: deterministic bytes, and one zipapp that starts as `yard` or `yardd`."""
import os
import shutil
import subprocess
import sys

from provision import bundle


def copy_engine(tmp_path):
    engine = tmp_path / "src" / "engine"
    shutil.copytree(bundle.ENGINE_DIR, engine, ignore=shutil.ignore_patterns("__pycache__"))
    return engine


def test_same_sources_give_the_same_bytes_whatever_their_timestamps(tmp_path):
    engine = copy_engine(tmp_path)
    first = bundle.build(tmp_path / "a.pyz", engine)
    for path in engine.rglob("*.py"):
        os.utime(path, (1234567890, 1234567890))
    (engine / "__pycache__").mkdir(exist_ok=True)
    (engine / "__pycache__" / "stray.py").write_text("not part of the bundle\n")
    second = bundle.build(tmp_path / "b.pyz", engine)
    assert first == second
    assert (tmp_path / "a.pyz").read_bytes() == (tmp_path / "b.pyz").read_bytes()


def test_a_changed_source_changes_the_checksum(tmp_path):
    engine = copy_engine(tmp_path)
    before = bundle.build(tmp_path / "a.pyz", engine)
    with open(engine / "__init__.py", "a") as f:
        f.write("# changed\n")
    assert bundle.build(tmp_path / "b.pyz", engine) != before


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


def test_the_bundle_starts_yard_by_first_argument_or_by_its_name(tmp_path):
    pyz = tmp_path / "yard.pyz"
    bundle.build(pyz)
    by_argument = run(sys.executable, str(pyz), "yard", "--help")
    assert by_argument.returncode == 0, by_argument.stderr
    assert "Usage:  yard" in by_argument.stdout
    link = tmp_path / "yard"
    link.symlink_to(pyz)
    by_name = run(str(link), "--help")
    assert by_name.returncode == 0, by_name.stderr
    assert "Usage:  yard" in by_name.stdout


def test_the_bundle_without_a_program_name_says_how_to_call_it(tmp_path):
    pyz = tmp_path / "yard.pyz"
    bundle.build(pyz)
    result = run(sys.executable, str(pyz), "--help")
    assert result.returncode == 2
    assert "{yard|yardd}" in result.stderr


def test_the_bundle_starts_yardd_by_name_as_the_launchers_do(tmp_path):
    pyz = tmp_path / "yard.pyz"
    bundle.build(pyz)
    config = tmp_path / "daemon.json"
    config.write_text('{"bip": "172.18.0.1/16"}')
    by_argument = run(sys.executable, str(pyz), "yardd", "--validate", "--config-file", str(config))
    assert (by_argument.returncode, by_argument.stdout) == (0, "configuration OK\n"), by_argument.stderr
    link = tmp_path / "yardd"
    link.symlink_to(pyz)
    config.write_text('{"no-such-option": 1}')
    by_name = run(str(link), "--validate", "--config-file", str(config))
    assert by_name.returncode == 1 and by_name.stderr.startswith("yardd: "), by_name.stderr
