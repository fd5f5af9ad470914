"""Engine benchmark: yard against Debian's dockerd (with its own containerd), on this machine,
with the same busybox image and the same local registry (Debian's docker-registry).

    `run --rm busybox true`                 whole CLI process, docker vs yard
    `run -d -p` to the port answering       from launching the CLI to an HTTP answer from
                                            busybox httpd through the engine's DNAT
    pull of a 4-layer image                 whole CLI process, image removed before each pull
    idle daemon memory                      RSS of yardd vs dockerd + containerd, after start
                                            and again after the runs above

Everything runs in a network namespace of its own (the script re-executes itself under
`unshare --net`): each engine keeps its defaults (iptables on, its own bridge) without touching
this machine's FORWARD policy, bridges or ports. Each daemon gets its own data root, sockets,
exec root, pidfile and cgroup parent under results/bench-engine. The engine measured is HEAD's
(the bundle from results/bench-src/, see timing.snapshot), installed and run as hosts run it:
compiled by /usr/bin/python3 beside its link (provision.bundle), started by the yard and yardd
launchers rendered from templates/yard/. Prints a table of medians and ratios; writes
results/bench_engine.json.

    .venv/bin/python tests/benchmarks/bench_engine.py [--repeat 10]
"""
import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jinja2
from timing import (BENCHMARKS, RESULTS, SNAPSHOT, VENV_BIN, BenchError, command_version, machine,
                    ratio, snapshot, summary, table, timed, write)

WORK = RESULTS / "bench-engine"
BUNDLE = WORK / "yard.pyz"
ENGINE_LINK = WORK / "engine"
LAUNCHERS = {"yard": WORK / "bin" / "yard", "yardd": WORK / "bin" / "yardd"}
PYTHON = "/usr/bin/python3"   # what the hosts run yard with (provision/defaults.yml yard_python)
MULTI_LAYERS = 4
LAYER_PAYLOAD = 4 * 1024 * 1024   # random bytes per upper layer: nothing for gzip to squeeze
# Targets from the issue: yard / docker.
TARGETS = {"run_rm": "<= 0.25", "pull": "<= 1.00", "idle_rss_after_work": "<= 0.25"}


class Daemon:
    """A process this script started, stopped at the end whatever happened."""

    def __init__(self, name, argv, log):
        self.name = name
        self.log = open(log, "wb")
        self.process = subprocess.Popen([str(a) for a in argv], stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Engine:
    """One engine under test: its daemons, its CLI, the address its published ports answer on."""

    def __init__(self, name, cli, daemons, gateway):
        self.name, self.cli, self.daemons, self.gateway = name, cli, daemons, gateway

    def run(self, *args):
        """Run the CLI untimed; its stdout, or BenchError."""
        done = subprocess.run(self.cli + [str(a) for a in args], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise BenchError("%s %s: %s" % (self.name, " ".join(map(str, args)),
                                            done.stdout.decode(errors="replace").strip()[-2000:]))
        return done.stdout.decode()

    def timed(self, *args):
        return timed(self.cli + list(args), env=os.environ, cwd=WORK)

    def rss_kib(self):
        """Resident memory of the daemons and every process under them, in KiB."""
        return sum(tree_rss(daemon.process.pid) for daemon in self.daemons)

    def stop(self):
        for daemon in reversed(self.daemons):
            daemon.stop()


def tree_rss(pid):
    total = 0
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
    children = Path("/proc/%d/task/%d/children" % (pid, pid)).read_text().split()
    return total + sum(tree_rss(int(child)) for child in children)


def remove_cgroup_parents():
    """The engines' cgroup parents, left empty behind them (this machine's cgroup tree is shared)."""
    for parent in Path("/sys/fs/cgroup").glob("*/dockyard-bench-*"):
        try:
            parent.rmdir()
        except OSError:
            pass


def wait_for_socket(path, daemon, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise BenchError("%s exited at start: see %s" % (daemon.name, daemon.log.name))
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(path))
                sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                if b" 200 " in sock.recv(64):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError("%s: %s did not answer /_ping within %d s" % (daemon.name, path, seconds))


def start_docker():
    root = WORK / "docker"
    root.mkdir()
    (root / "daemon.json").write_text("{}\n")
    containerd = Daemon("containerd", [
        "containerd", "--config", BENCHMARKS / "containerd.toml", "--root", root / "containerd",
        "--state", root / "containerd-state", "--address", root / "containerd.sock"], root / "containerd.log")
    dockerd = Daemon("dockerd", [
        "dockerd", "--config-file", root / "daemon.json", "--containerd", root / "containerd.sock",
        "--data-root", root / "data", "--exec-root", root / "exec", "--pidfile", root / "docker.pid",
        "-H", "unix://%s" % (root / "docker.sock"), "--bip", "10.242.1.1/24",
        "--cgroup-parent", "dockyard-bench-docker"], root / "dockerd.log")
    engine = Engine("docker", ["docker", "-H", "unix://%s" % (root / "docker.sock")],
                    [containerd, dockerd], "10.242.1.1")
    try:
        wait_for_socket(root / "docker.sock", dockerd)
    except BenchError:
        engine.stop()
        raise
    return engine


def start_yard():
    root = WORK / "yard"
    root.mkdir()
    (root / "daemon.json").write_text("{}\n")
    yardd = Daemon("yardd", [
        LAUNCHERS["yardd"], "--config-file", root / "daemon.json", "--data-root", root / "data",
        "-H", "unix://%s" % (root / "yard.sock"), "--bip", "10.242.2.1/24",
        "--cgroup-parent", "dockyard-bench-yard"], root / "yardd.log")
    engine = Engine("yard", [str(LAUNCHERS["yard"]), "-H", "unix://%s" % (root / "yard.sock")],
                    [yardd], "10.242.2.1")
    try:
        wait_for_socket(root / "yard.sock", yardd)
    except BenchError:
        engine.stop()
        raise
    return engine


def start_registry():
    root = WORK / "registry"
    root.mkdir()
    config = root / "config.yml"
    # JSON is YAML; Debian's own config asks for auth with no users (DESIGN.md).
    config.write_text('{"version": 0.1, "log": {"level": "error", "accesslog": {"disabled": true}},'
                      ' "storage": {"filesystem": {"rootdirectory": "%s"}}, "http": {"addr": "127.0.0.1:5000"}}'
                      % (root / "storage"))
    registry = Daemon("docker-registry", ["docker-registry", "serve", config], root / "registry.log")
    deadline = time.monotonic() + 30
    while not answers("127.0.0.1", 5000):
        if registry.process.poll() is not None or time.monotonic() > deadline:
            registry.stop()
            raise BenchError("docker-registry did not start: see %s" % (root / "registry.log"))
        time.sleep(0.1)
    return registry


def answers(address, port):
    """Whether an HTTP server answers on address:port (any status will do)."""
    try:
        connection = http.client.HTTPConnection(address, port, timeout=1)
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def install_yard():
    """HEAD's bundle, installed as the engine_bundle step installs it on a host, and its
    launchers rendered from the same templates."""
    timed([VENV_BIN / "python", "-m", "provision.bundle", BUNDLE, PYTHON, ENGINE_LINK])
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(str(SNAPSHOT / "templates")),
                                   undefined=jinja2.StrictUndefined, trim_blocks=True,
                                   keep_trailing_newline=True)
    for program, path in LAUNCHERS.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(templates.get_template("yard/%s.j2" % program).render(
            yard_python=PYTHON, yard_engine_link=ENGINE_LINK))
        path.chmod(0o755)


def build_images():
    """busybox:latest (one layer) and multi:latest (busybox and 3 layers of random bytes), as
    `docker save` archives, written by the engine tests' own helpers."""
    sys.path.insert(0, str(SNAPSHOT / "tests" / "engine"))
    from conftest import write_busybox_layer, write_image_archive
    images = WORK / "images"
    images.mkdir()
    write_busybox_layer(images / "busybox.tar")
    write_image_archive(images / "busybox-image.tar", [images / "busybox.tar"], "busybox:latest")
    layers = [images / "busybox.tar"]
    for index in range(1, MULTI_LAYERS):
        layers.append(images / ("layer%d.tar" % index))
        write_busybox_layer(layers[-1], files={"/data/%d" % index: os.urandom(LAYER_PAYLOAD)})
    write_image_archive(images / "multi-image.tar", layers, "127.0.0.1:5000/multi:latest")
    return images / "busybox-image.tar", images / "multi-image.tar"


def time_to_port(engine, port):
    """Seconds from launching `run -d -p` to busybox httpd answering through the engine."""
    start = time.monotonic()
    cli = subprocess.Popen(engine.cli + ["run", "-d", "-p", "%d:80" % port, "busybox",
                                         "httpd", "-f", "-p", "80"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    while not answers(engine.gateway, port):
        if cli.poll() not in (None, 0) or time.monotonic() - start > 60:
            raise BenchError("%s run -d -p: %s" % (engine.name, cli.communicate()[0].decode(errors="replace")))
        time.sleep(0.005)
    seconds = time.monotonic() - start
    container = cli.communicate()[0].decode().strip().splitlines()[-1]
    engine.run("rm", "-f", container)
    return seconds


def measure(engines, repeat):
    """Each measurement alternates the engines, so a busy moment on the machine hits both."""
    samples = {engine.name: {"run_rm": [], "port": [], "pull": []} for engine in engines}
    for engine in engines:
        engine.run("run", "--rm", "busybox", "true")   # warm: first-run costs are not the figure
    for index in range(repeat):
        for engine in engines:
            samples[engine.name]["run_rm"].append(engine.timed("run", "--rm", "busybox", "true"))
            samples[engine.name]["port"].append(time_to_port(engine, 8000 + index))
            samples[engine.name]["pull"].append(engine.timed("pull", "127.0.0.1:5000/multi:latest"))
            engine.run("rmi", "127.0.0.1:5000/multi:latest")
        print("  round %d/%d: %s" % (index + 1, repeat, ", ".join(
            "%s %s" % (name, " ".join("%.3f" % s[-1] for s in figures.values()))
            for name, figures in samples.items())), flush=True)
    return {name: {what: summary(values) for what, values in figures.items()}
            for name, figures in samples.items()}


def report(results):
    engines = results["engines"]
    rows = []
    for what, label in [("run_rm", "run --rm busybox true (s)"), ("port", "run -d -p to port answering (s)"),
                        ("pull", "pull 4-layer image (s)"), ("idle_rss_after_start", "idle RSS after start (MiB)"),
                        ("idle_rss_after_work", "idle RSS after the runs (MiB)")]:
        docker, yard = (engines.get(name, {}).get(what, {}).get("median") for name in ("docker", "yard"))
        show = (lambda v: "%.1f" % (v / 1024) if v else "-") if "rss" in what else (lambda v: "%.3f" % v if v else "-")
        rows.append([label, show(docker), show(yard), ratio(yard, docker), TARGETS.get(what, "-")])
    return table(["measure", "docker", "yard", "yard/docker", "target"], rows)


def versions(commit):
    return {"dockyard": commit, "dockerd": command_version(["dockerd", "--version"]),
            "containerd": command_version(["containerd", "--version"]),
            "runc": command_version(["runc", "--version"]),
            "docker-registry": command_version(["docker-registry", "--version"]),
            "python (yard)": command_version([PYTHON, "--version"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs of each measurement per engine")
    args = parser.parse_args()
    if os.environ.get("BENCH_NETNS") != "1":
        os.environ["BENCH_NETNS"] = "1"
        os.execvp("unshare", ["unshare", "--net", "--", sys.executable] + sys.argv)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    commit = snapshot()
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    install_yard()
    busybox, multi = build_images()
    results = {"machine": machine(), "versions": versions(commit), "repeat": args.repeat,
               "image_layers": MULTI_LAYERS, "engines": {}, "errors": {}}
    started = []
    registry = start_registry()
    try:
        for name, start in [("docker", start_docker), ("yard", start_yard)]:
            try:
                engine = start()
                started.append(engine)
                engine.run("load", "-i", busybox)
                results["engines"][name] = {"idle_rss_after_start": {"median": engine.rss_kib()}}
            except BenchError as error:
                # One engine failing leaves the other's figures standing; the JSON says why.
                print("%s: %s" % (name, error), file=sys.stderr)
                results["errors"][name] = str(error)
        docker = next(engine for engine in started if engine.name == "docker")
        docker.run("load", "-i", multi)
        docker.run("push", "127.0.0.1:5000/multi:latest")
        docker.run("rmi", "127.0.0.1:5000/multi:latest")   # every pull starts without it
        for name, figures in measure(started, args.repeat).items():
            results["engines"][name].update(figures)
        time.sleep(5)   # let the daemons settle after the last container
        for engine in started:
            results["engines"][engine.name]["idle_rss_after_work"] = {"median": engine.rss_kib()}
    finally:
        for engine in started:
            engine.stop()
        registry.stop()
        remove_cgroup_parents()
    print(report(results))
    print("written: %s" % write("bench_engine.json", results))


if __name__ == "__main__":
    main()
