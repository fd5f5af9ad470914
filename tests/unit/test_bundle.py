"""The engine bundle: deterministic bytes, one zipapp that starts as `yard` or `yardd`, and the
compiled copy of it that hosts run."""
import os
import shutil
import subprocess
import sys

from provision import bundle
from provision.actions import Context, Observed, Ok, Upload, engine_bundle


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


def install(tmp_path, engine=bundle.ENGINE_DIR):
    """Build a bundle from `engine` and install it as the engine_bundle step does; its sha256."""
    sha256 = bundle.build(tmp_path / "yard.pyz", engine)
    script = bundle.install_script(str(tmp_path / "yard.pyz"), str(tmp_path / "engine"), sys.executable, sha256)
    done = run("sh", "-c", script)
    assert done.returncode == 0, done.stderr
    return sha256


def test_the_installed_bundle_runs_compiled_from_its_link(tmp_path):
    sha256 = install(tmp_path)
    assert os.readlink(tmp_path / "engine") == "engine-" + sha256[:12]
    cached = tmp_path / "engine" / "engine" / "cli" / "__pycache__"
    assert "main.%s.pyc" % sys.implementation.cache_tag in os.listdir(cached)
    result = run(sys.executable, "-I", "-S", str(tmp_path / "engine"), "yard", "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:  yard" in result.stdout


def test_installing_the_same_bundle_again_leaves_its_copy_as_it_was(tmp_path):
    install(tmp_path)
    before = os.stat(tmp_path / "engine" / "engine" / "__main__.py")
    install(tmp_path)
    after = os.stat(tmp_path / "engine" / "engine" / "__main__.py")
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_an_upgrade_keeps_the_copy_a_running_daemon_uses_and_removes_older_ones(tmp_path):
    engine = copy_engine(tmp_path)
    digests = []
    for version in range(3):
        with open(engine / "__init__.py", "a") as f:
            f.write("# version %d\n" % version)
        digests.append(install(tmp_path, engine))
    assert os.readlink(tmp_path / "engine") == "engine-" + digests[2][:12]
    copies = sorted(path.name for path in tmp_path.glob("engine-*"))
    assert copies == sorted("engine-" + digest[:12] for digest in digests[1:])


def test_the_engine_bundle_step_finds_nothing_to_do_once_it_has_installed(tmp_path):
    args = engine_bundle.prepare({"dest": str(tmp_path / "lib" / "yard.pyz"), "link": str(tmp_path / "lib" / "engine"),
                                  "python": sys.executable}, Context("h", {}, {}, render_template=None))
    change = engine_bundle.plan(args, {}, Observed(0, run("sh", "-c", engine_bundle.check(args, {})).stdout))
    for op in change.ops:
        if isinstance(op, Upload):
            (tmp_path / "lib" / "yard.pyz").write_bytes(op.data)
        else:
            assert run("sh", "-c", op.cmd).returncode == 0
    observed = Observed(0, run("sh", "-c", engine_bundle.check(args, {})).stdout)
    assert isinstance(engine_bundle.plan(args, {}, observed), Ok)
