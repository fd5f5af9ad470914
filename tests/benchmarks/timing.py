"""What every benchmark here shares: timing whole processes, medians, the machine and the
versions a figure was measured with, and the JSON and table it ends up in."""
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
RESULTS = REPOSITORY / "results"
VENV_BIN = REPOSITORY / ".venv" / "bin"
BENCHMARKS = Path(__file__).resolve().parent
# What is measured: HEAD, unpacked here (see snapshot()), one copy per benchmark script so
# that two of them can run at once.
SNAPSHOT = RESULTS / "bench-src" / Path(sys.argv[0]).stem


class BenchError(RuntimeError):
    """A measured command failed: its figure would mean nothing."""


def snapshot():
    """Unpack HEAD into results/bench-src/<script>, with tests/benchmarks as they are in the
    working tree, compile it, and return its commit. Others edit engine/ and provision/ in this tree while
    a run lasts: a changed engine/ means a new bundle, and a no-op run that uploads it. Every
    command runs from the snapshot (snapshot_env, cwd), so the editable install's /work/main
    is not used."""
    if SNAPSHOT.exists():
        shutil.rmtree(SNAPSHOT)
    SNAPSHOT.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", "HEAD"],
                             stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(SNAPSHOT)], input=archive, check=True)
    shutil.rmtree(SNAPSHOT / "tests" / "benchmarks", ignore_errors=True)
    shutil.copytree(BENCHMARKS, SNAPSHOT / "tests" / "benchmarks", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    # Compiled, as pip leaves an installed package (pyinfra and Ansible here too): where
    # PYTHONDONTWRITEBYTECODE is set, as on this machine, each run would compile it again.
    subprocess.run([str(VENV_BIN / "python"), "-m", "compileall", "-q", str(SNAPSHOT)],
                   stdout=subprocess.DEVNULL, check=True)
    return command_version(["git", "-C", str(REPOSITORY), "log", "-1", "--format=%h %cI"])


def snapshot_env(**variables):
    """The environment for a command that imports provision or engine from the snapshot."""
    return dict(os.environ, PYTHONPATH=str(SNAPSHOT), **variables)


def timed(argv, env=None, cwd=SNAPSHOT, log=None, timeout=900):
    """Seconds a whole process took; raises BenchError (with its output's tail) if it failed
    or ran past `timeout` (a run that hangs must not stop the whole benchmark)."""
    start = time.monotonic()
    try:
        done = subprocess.run([str(arg) for arg in argv], env=env or snapshot_env(), cwd=cwd,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError("%s: still running after %d s, stopped" % (" ".join(map(str, argv)), timeout))
    seconds = time.monotonic() - start
    output = done.stdout.decode(errors="replace")
    if log:
        Path(log).write_text(output)
    if done.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise BenchError("%s exited %d:\n%s" % (" ".join(map(str, argv)), done.returncode, tail))
    return seconds


def summary(samples):
    """The median of the samples, with the samples themselves for the JSON."""
    return {"median": statistics.median(samples), "samples": [round(s, 3) for s in samples]}


def command_version(argv):
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    return lines[0] if lines else None


def machine():
    """Where and when: the facts a figure means nothing without."""
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "kernel": platform.release(),
        "os": command_version(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "cpus": os.cpu_count(),
        "memory": meminfo["MemTotal"].strip(),
        "load_average": os.getloadavg(),
        "python": sys.version.split()[0],
    }


def write(name, data):
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def table(header, rows):
    """Rows of strings as an aligned text table."""
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    line = lambda row: "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def ratio(numerator, denominator):
    return "%.2f" % (numerator / denominator) if numerator and denominator else "-"
