# The two commands of the README: `make lab` and `make test`.
PY := .venv/bin

.PHONY: setup lab test

setup:
	bash .ci/setup

# Build the local lab and prepare its hosts.
lab: setup
	$(PY)/provision lab up
	$(PY)/provision apply lab/hosts.ini

# Every test: unit (no root), provision and engine (root, this machine), lab (nspawn hosts).
test: setup
	$(PY)/pytest -p no:cacheprovider tests/unit tests/provision tests/engine tests/lab
