# The two commands of the README: `make lab` and `make test`. `make bench` for the benchmarks.
PY := .venv/bin

.PHONY: setup lab test acceptance bench

setup:
	bash .ci/setup

# Build the local lab and prepare its hosts.
lab: setup
	$(PY)/provision lab up
	$(PY)/provision apply lab/hosts.ini

# Every test: unit (no root); provision, engine and lab (root, this machine); then the
# acceptance suite on a fresh lab against yard and against Docker.
test: setup
	$(PY)/pytest -p no:cacheprovider tests/unit tests/provision tests/engine tests/lab
	bash .ci/acceptance

acceptance: setup
	bash .ci/acceptance

# Ratios against Ansible, pyinfra and Docker, measured in one run (about an hour; not pass/fail).
bench: setup
	bash tests/benchmarks/run.sh
