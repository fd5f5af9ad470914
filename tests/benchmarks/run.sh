#!/usr/bin/env bash
# Every benchmark, then one report: results/benchmarks.json and the tables, with the machine,
# date and versions. As root, on the machine `make lab` runs on; takes about an hour.
#   BENCH_HOSTS="3 20"   lab sizes for the provisioning benchmark
#   BENCH_REPEAT=5       no-op runs per tool and size (engine measurements: twice that)
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x .venv/bin/pyinfra ]; then
    .venv/bin/pip install -q -e '.[bench]'
fi
repeat=${BENCH_REPEAT:-5}
.venv/bin/python tests/benchmarks/bench_provision.py --hosts ${BENCH_HOSTS:-3 20} --repeat "$repeat"
.venv/bin/python tests/benchmarks/bench_engine.py --repeat $((repeat * 2))
.venv/bin/python tests/benchmarks/report.py
