# Two commands do all the set-up on a fresh machine:
#   make quickstart   builds .venv, runs the quick-start sweep, fits it and plots it
#   make test         builds .venv (with the dev extras) and runs the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# dev: the test and lint tools; tpu: libtpu (about 140 MB), the TPU compiler, which the tests
# that compile for TPUs deviceless need (tests/test_compile_tpu.py, test_sweep_compile_for.py;
# about a minute of make test). EXTRAS=dev builds without it (those tests then skip).
EXTRAS ?= dev,tpu
comma  := ,
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: quickstart test lint bench clean venv reference reference-figures

# The CPU reference experiment (README, "Results"): five IsoFLOP sweep files, about 1.5 hours on
# 2 cores with REFERENCE_WORKERS=2 (two workers share each sweep through its claims; a killed run
# resumes on the next `make reference`), then the fits and the figures from the stored results.
REFERENCE_SWEEPS  := clm_byte clm_bpe clm_bpe_large mlm_byte span_byte
REFERENCE_WORKERS ?= 2

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

venv: $(STAMP)

# The quick start: a 10-run IsoFLOP sweep (two workers share the two cores through the sweep's
# claims), its figures, then the headline: D/N at the largest budget beside Chinchilla's ~20.
QUICKSTART_FIT := --approach 2,3 --bootstrap 200
quickstart: $(STAMP)
	$(BIN)/scaling sweep sweeps/quickstart.yaml --quiet --worker w2 & \
	  $(BIN)/scaling sweep sweeps/quickstart.yaml --quiet --worker w1 || exit $$?; \
	  wait || exit $$?
	$(BIN)/scaling plot results/quickstart --out results/quickstart/figures $(QUICKSTART_FIT)
	$(BIN)/scaling fit results/quickstart $(QUICKSTART_FIT) --brief

# Test files are spread over TEST_WORKERS processes (pytest-xdist; a file stays in one process,
# so its fixtures and compiled programs are shared): most tests wait on one-threaded XLA
# compiles, so two processes on two cores take 8.8 minutes where one took 13.3.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15 -rf tests

# pyflakes, import order and bugbear (the rule set is in pyproject.toml, [tool.ruff.lint])
lint: $(STAMP)
	$(BIN)/ruff check .

reference: $(STAMP)
	for f in $(REFERENCE_SWEEPS); do \
	  for w in $$(seq 2 $(REFERENCE_WORKERS)); do \
	    $(BIN)/scaling sweep sweeps/cpu_reference/$$f.yaml --quiet --worker w$$w & \
	  done; \
	  $(BIN)/scaling sweep sweeps/cpu_reference/$$f.yaml --quiet --worker w1 || exit $$?; \
	  wait || exit $$?; \
	done
	$(MAKE) reference-figures

# Fits and figures from the committed results alone (no training): the settings are in
# results/cpu_reference/fit.yaml.
reference-figures: $(STAMP)
	$(BIN)/scaling fit results/cpu_reference
	$(BIN)/scaling plot results/cpu_reference --out results/cpu_reference/figures

# The suite's CPU step beside the JAX and PyTorch peers (docs/performance.md); the first run builds the
# torch venv in ~/.cache/scaling-bench (PyPI's torch wheel: several GB, once).
bench: $(STAMP)
	$(BIN)/python -m benchmarks.step_throughput --torch

clean:
	rm -rf $(VENV) .cache
