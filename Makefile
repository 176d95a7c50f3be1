# Two commands a newcomer needs: `make train` (the main job) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup train test lint bench bench-smoke localnet clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0  # the CPU wheel; a GPU build can replace it
	$(PY) -m pip install --quiet -e '.[dev,ray]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

train: setup
	$(PY) train.py

test: setup
	$(PY) -m pytest -q

lint: setup  # ruff (pyflakes, pycodestyle, import order; the formatter checks layout), then types (mypy); all in pyproject.toml
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: setup  # every benchmark; figures with the date, machine and load in benchmarks/results/
	$(PY) benchmarks/report.py

bench-smoke: setup  # every benchmark at a tiny size (part of make test too)
	$(PY) -m pytest -q tests/test_benchmarks.py

localnet: setup
	$(PY) -m envs.contracts build-localnet --out runs/localnet
	$(PY) -m envs.contracts serve --state runs/localnet

clean:
	rm -rf $(VENV) node_modules runs
