# Two commands do all the set-up on a fresh machine:
#   make quickstart   builds .venv, runs the quick-start sweep, fits it and plots it
#   make test         builds .venv (with the dev extras) and runs the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: quickstart test bench clean venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/scaling sweep sweeps/quickstart.yaml
	$(BIN)/scaling fit results/quickstart
	$(BIN)/scaling plot results/quickstart --out results/quickstart/figures

test: $(STAMP)
	$(BIN)/python -m pytest tests

bench: $(STAMP)
	$(BIN)/python benchmarks/step_throughput.py

clean:
	rm -rf $(VENV) .cache
