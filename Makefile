# Two commands for a new machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PYTHON ?= python3

.PHONY: demo test lint bench screenshots clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The CPU build of torch first, so nothing later pulls a CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	$(VENV)/bin/needcast model install
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/needcast demo

test: $(VENV)/.installed
	.ci/system-packages
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) -m bench forecast_peers

screenshots: $(VENV)/.installed
	.ci/system-packages
	$(PY) -m bench screenshots

clean:
	rm -rf data mlruns/mlflow.db mlruns/[0-9]* mlruns/models
