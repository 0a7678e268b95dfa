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

.PHONY: quickstart test test-long lint bench clean venv reference reference-fits reference-figures \
        compile-report

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
# w1's progress line covers the whole folder (both workers), so w2's stderr goes to a log,
# printed only if w2 fails.
quickstart: $(STAMP)
	@mkdir -p .cache
	$(BIN)/scaling sweep sweeps/quickstart.yaml --quiet --worker w2 2> .cache/quickstart-w2.log & \
	  $(BIN)/scaling sweep sweeps/quickstart.yaml --quiet --worker w1 || exit $$?; \
	  wait $$! || { cat .cache/quickstart-w2.log >&2; exit 1; }
	$(BIN)/scaling plot results/quickstart --out results/quickstart/figures $(QUICKSTART_FIT)
	$(BIN)/scaling fit results/quickstart $(QUICKSTART_FIT) --brief

# Test files are spread over TEST_WORKERS processes (pytest-xdist; a file stays in one process,
# so its fixtures and compiled programs are shared): most tests wait on one-threaded XLA
# compiles, so two processes on two cores take 8.8 minutes where one took 13.3.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15 -rf tests

# The minutes-long tests (`long`: coverage studies, and the per-objective repeats of the kill-and-
# resume, accumulation and memory checks whose first case make test runs): CI runs them too.
test-long: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m long --durations=15 -rf tests

# pyflakes, import order and bugbear (the rule set is in pyproject.toml, [tool.ruff.lint])
lint: $(STAMP)
	$(BIN)/ruff check .

reference: $(STAMP)
	for f in $(REFERENCE_SWEEPS); do \
	  pids=; \
	  for w in $$(seq 2 $(REFERENCE_WORKERS)); do \
	    $(BIN)/scaling sweep sweeps/cpu_reference/$$f.yaml --quiet --worker w$$w & \
	    pids="$$pids $$!"; \
	  done; \
	  $(BIN)/scaling sweep sweeps/cpu_reference/$$f.yaml --quiet --worker w1 || exit $$?; \
	  for p in $$pids; do wait $$p || exit $$?; done; \
	done
	$(MAKE) reference-fits reference-figures

# The fits from the committed results alone (no training), with the settings of
# results/cpu_reference/fit.yaml.  Their last digits depend on the machine's BLAS, so the
# committed fits change only with the results.
reference-fits: $(STAMP)
	$(BIN)/scaling fit results/cpu_reference
	$(BIN)/scaling fit results/cpu_precision

# Every committed figure, and every figure of the README and docs/results.md, from the stored
# results (no training, no fit file written): byte-reproducible; a file is rewritten only when
# its bytes change (tests/test_analysis_style.py compares a fresh regeneration).
reference-figures: $(STAMP)
	$(BIN)/scaling plot results/cpu_reference --out results/cpu_reference/figures
	$(BIN)/python -m analysis.compare results/cpu_reference_wsd/figures/isoflop-cosine-vs-branched \
	  "cosine, one run per point=results/cpu_reference/clm_byte" \
	  "WSD cooldown branches=results/cpu_reference_wsd/clm_byte"
	$(BIN)/scaling plot results/cpu_precision --out results/cpu_precision/figures

# The suite's CPU step beside the JAX and PyTorch peers (docs/performance.md); the first run builds the
# torch venv in ~/.cache/scaling-bench (PyPI's torch wheel: several GB, once).
bench: $(STAMP)
	$(BIN)/python -m benchmarks.step_throughput --torch

# The README's compiled report (README, "Compile for accelerators you do not have"): every
# distinct step of tpu_chinchilla compiled by libtpu for tpu-v5p-2x2x1 (about 8 minutes here,
# seconds from the cache) and of gpu_chinchilla by XLA's GPU compiler for one H100, in the GPU
# venv that scripts/gpu_venv.sh builds once (about 5.5 GB of wheels; 2 minutes of compiling).
compile-report: $(STAMP)
	$(BIN)/python -m scaling.compile.sweep_report sweeps/tpu_chinchilla.yaml tpu-v5p-2x2x1 --readme README.md
	scripts/gpu_venv.sh
	CUDA_VISIBLE_DEVICES=-1 JAX_SKIP_CUDA_CONSTRAINTS_CHECK=1 .venv-gpu/bin/python -m scaling.compile.sweep_report sweeps/gpu_chinchilla.yaml h100 --readme README.md

clean:
	rm -rf $(VENV) .cache
