"""Provisioning benchmark: provision against pyinfra and Ansible doing the same host preparation
(tests/benchmarks/pyinfra/, tests/benchmarks/ansible/) on the same local lab, and against the
floor (floor.py: one connection and one batched command per host).

For each lab size N: for each tool, a fresh lab of N hosts, its first converge (timed
--first-repeat times, on a fresh lab each time), then --repeat no-op runs. Every figure is a
whole process, wall clock. Prints a table of medians and ratios; writes
results/bench_provision.json. What runs is HEAD, unpacked in results/bench-src/ (see
timing.snapshot). The lab is its own (`bench`, 10.241.20.0/24, results/bench-lab/),
beside any developer's lab, and is brought down at the end.

    .venv/bin/python tests/benchmarks/bench_provision.py [--hosts 3 20] [--repeat 5]
"""
import argparse
import hashlib
import json
import os
import sys

import yaml

from timing import (RESULTS, SNAPSHOT, VENV_BIN, BenchError, command_version, machine, ratio,
                    snapshot, snapshot_env, summary, table, timed, write)

HERE = SNAPSHOT / "tests" / "benchmarks"
LAB_DIR = RESULTS / "bench-lab"
LOGS = RESULTS / "bench-logs"
HOSTS_INI = LAB_DIR / "hosts.ini"
BUNDLE = RESULTS / "yard.pyz"
LAB_ENV = snapshot_env(DOCKYARD_LAB_NAME="bench", DOCKYARD_LAB_SUBNET="10.241.20",
                       DOCKYARD_LAB_DIR=str(LAB_DIR))
TOOLS = ["provision", "pyinfra", "ansible"]
FORKS = 20   # provision's default; the others are given the same
# The targets: provision's no-op at most this fraction of pyinfra's, per lab size.
NOOP_TARGET = {3: 1 / 3, 20: 1 / 2}


def lab(*args):
    timed([VENV_BIN / "provision", "lab"] + list(args), env=LAB_ENV)


def tool_command(tool):
    """(argv, env, cwd) of one run of the tool against the bench lab."""
    if tool == "provision":
        # The registry is left out: the other two do not set one up.
        return ([VENV_BIN / "provision", "apply", HOSTS_INI, "--forks", FORKS,
                 "--known-hosts", LAB_DIR / "known_hosts", "--skip-tags", "registry"], None, None)
    if tool == "pyinfra":
        env = snapshot_env(BENCH_HOSTS_INI=str(HOSTS_INI), BENCH_BUNDLE=str(BUNDLE),
                           BENCH_INSTALLED=INSTALL["installed"], BENCH_INSTALL_SCRIPT=INSTALL["script"])
        return ([VENV_BIN / "pyinfra", "-y", "--parallel", FORKS, "inventory.py", "deploy.py"],
                env, HERE / "pyinfra")
    if tool == "ansible":
        env = snapshot_env(ANSIBLE_CONFIG=str(HERE / "ansible" / "ansible.cfg"))
        extra = {"bundle": str(BUNDLE), "yard_installed": INSTALL["installed"],
                 "yard_install_script": INSTALL["script"]}
        return ([VENV_BIN / "ansible-playbook", "-i", HOSTS_INI, "site.yml", "-e", json.dumps(extra)],
                env, HERE / "ansible")
    if tool == "floor":
        return ([VENV_BIN / "python", HERE / "floor.py", HOSTS_INI], None, None)
    raise ValueError(tool)


def install_commands():
    """How provision's engine_bundle installs BUNDLE compiled on a host (its script, from the
    snapshot's provision/bundle.py, and the directory it makes): the other tools run the same."""
    sys.path.insert(0, str(SNAPSHOT))
    from provision import bundle
    defaults = yaml.safe_load((SNAPSHOT / "provision" / "defaults.yml").read_text())
    sha256 = hashlib.sha256(BUNDLE.read_bytes()).hexdigest()
    link = defaults["yard_engine_link"]
    return {"installed": os.path.join(os.path.dirname(link), bundle.installed_name(link, sha256)),
            "script": bundle.install_script(defaults["yard_bundle_path"], link, defaults["yard_python"], sha256)}


# install_commands() of the bundle this run measures, once it is built.
INSTALL = {}


def run(tool, count, what, index):
    argv, env, cwd = tool_command(tool)
    # Ansible's first converge of 20 hosts takes minutes; anything far beyond is a hang.
    seconds = timed(argv, env=env, cwd=cwd, timeout=180 + 30 * count,
                    log=LOGS / ("%s-n%d-%s-%d.log" % (tool, count, what, index)))
    print("  %-9s N=%-3d %-6s %2d: %6.2f s" % (tool, count, what, index, seconds), flush=True)
    return seconds


def first_converge(tool, count, index, failures):
    """One first converge on a fresh lab. A run that fails or hangs (as `apt-get update` did
    on lab hosts until the lab mirror was fixed: tests/benchmarks/README.md, Known problems)
    is retried once on a fresh lab, and recorded in `failures`."""
    for attempt in range(2):
        lab("down")
        lab("up", "--hosts", str(count))
        try:
            return run(tool, count, "first", index)
        except BenchError as error:
            failures.append(str(error))
            if attempt:
                raise
            print("  %-9s N=%-3d first %2d failed, once more on a fresh lab" % (tool, count, index))


def measure_tool(tool, count, repeat, first_repeat):
    failures, figures = [], {}
    try:
        if first_repeat:
            figures["first"] = summary([first_converge(tool, count, index, failures)
                                        for index in range(first_repeat)])
    except BenchError:
        pass
    if "first" not in figures:
        # No first converge figure (failed, or --first-repeat 0), but the no-op one still means
        # something: hosts as provision leaves them, then one untimed run of the tool to settle
        # what it does its own way.
        print("  %-9s N=%-3d no first converge: hosts converged by provision instead" % (tool, count))
        lab("down")
        lab("up", "--hosts", str(count))
        run("provision", count, "settle", 0)
        run(tool, count, "settle", 0)
        figures = {"first_converged_by": "provision"}
    figures["noop"] = summary([run(tool, count, "no-op", index) for index in range(repeat)])
    figures["failures"] = failures
    return figures


def measure(count, tools, repeat, first_repeat):
    figures = {}
    for tool in tools:
        try:
            figures[tool] = measure_tool(tool, count, repeat, first_repeat)
        except BenchError as error:
            # One tool failing leaves the others' figures standing; the JSON says why.
            print("  %s N=%d failed: %s" % (tool, count, error), file=sys.stderr)
            figures[tool] = {"error": str(error)}
    # The floor needs hosts, not any particular state of them: the last tool's lab will do.
    figures["floor"] = {"noop": summary([run("floor", count, "floor", i) for i in range(repeat)])}
    return figures


def median(figures, tool, what):
    return figures.get(tool, {}).get(what, {}).get("median")


def report(results):
    header = ["N", "run", "provision", "pyinfra", "ansible", "floor",
              "prov/pyinfra", "prov/ansible", "prov/floor", "target prov/pyinfra"]
    rows = []
    for count, figures in sorted(results["sizes"].items(), key=lambda item: int(item[0])):
        for what, label in [("first", "first converge"), ("noop", "no-op")]:
            times = [median(figures, tool, what) for tool in TOOLS + ["floor"]]
            target = NOOP_TARGET.get(int(count)) if what == "noop" else None
            rows.append([count, label] + ["%.2f" % t if t else "-" for t in times]
                        + [ratio(times[0], times[1]), ratio(times[0], times[2]),
                           ratio(times[0], times[3]) if what == "noop" else "-",
                           "<= %.2f" % target if target else "-"])
    lines = [table(header, rows), ""]
    sizes = sorted(int(count) for count in results["sizes"])
    if len(sizes) > 1:
        small, large = str(sizes[0]), str(sizes[-1])
        lines.append("growth from N=%s to N=%s (linear would be %.2f):" % (small, large, int(large) / int(small)))
        for tool in TOOLS + ["floor"]:
            lines.append("  %-9s no-op x%s" % (tool, ratio(median(results["sizes"][large], tool, "noop"),
                                                         median(results["sizes"][small], tool, "noop"))))
    return "\n".join(lines)


def versions(commit):
    return {
        "dockyard": commit,
        "pyinfra": command_version([VENV_BIN / "pyinfra", "--version"]),
        "ansible-core": command_version([VENV_BIN / "python", "-c",
                                         "import ansible.release; print(ansible.release.__version__)"]),
        "paramiko": command_version([VENV_BIN / "python", "-c", "import paramiko; print(paramiko.__version__)"]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[3, 20], help="lab sizes")
    parser.add_argument("--repeat", type=int, default=5, help="no-op (and floor) runs per tool")
    parser.add_argument("--first-repeat", type=int, default=1,
                        help="first converges per tool (0: none, hosts converged by provision)")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated")
    parser.add_argument("--update", action="store_true",
                        help="merge into the existing results/bench_provision.json (measure one tool again)")
    args = parser.parse_args()
    tools = args.tools.split(",")
    LOGS.mkdir(parents=True, exist_ok=True)
    commit = snapshot()
    timed([VENV_BIN / "python", "-m", "provision.bundle", BUNDLE])
    INSTALL.update(install_commands())
    results = {"machine": machine(), "versions": versions(commit), "forks": FORKS,
               "repeat": args.repeat, "first_repeat": args.first_repeat, "sizes": {}}
    if args.update:
        results = json.loads((RESULTS / "bench_provision.json").read_text())
        results.setdefault("updates", []).append({"machine": machine(), "versions": versions(commit),
                                                  "hosts": args.hosts, "tools": tools})
    try:
        for count in args.hosts:
            print("N=%d" % count, flush=True)
            # With --update, a figure not measured again (a first converge) stays as it was.
            sizes = results["sizes"].setdefault(str(count), {})
            for tool, figures in measure(count, tools, args.repeat, args.first_repeat).items():
                sizes.setdefault(tool, {}).update(figures)
    finally:
        lab("down")
    print(report(results))
    print("written: %s" % write("bench_provision.json", results))


if __name__ == "__main__":
    main()
