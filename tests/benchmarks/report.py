"""One report of every benchmark: reads results/bench_provision.json and results/bench_engine.json,
prints the machine, date, versions and both tables, and writes results/benchmarks.json."""
import json

import bench_engine
import bench_provision
from timing import RESULTS, write


def main():
    combined = {}
    for name, module in [("provision", bench_provision), ("engine", bench_engine)]:
        path = RESULTS / ("bench_%s.json" % name)
        if not path.exists():
            print("%s: not measured (no %s)\n" % (name, path))
            continue
        combined[name] = results = json.loads(path.read_text())
        where = results["machine"]
        print("== %s: %s, %s, %s CPUs, %s, load %s" % (
            name, where["date"], where["os"], where["cpus"], where["memory"],
            " ".join("%.1f" % load for load in where["load_average"])))
        print("   " + ", ".join("%s %s" % item for item in sorted(results["versions"].items())))
        print(module.report(results) + "\n")
    print("written: %s" % write("benchmarks.json", combined))


if __name__ == "__main__":
    main()
