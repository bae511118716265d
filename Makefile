# `make demo` and `make test` do all the set-up on a fresh machine: they create .venv and install
# the package with its pinned test environment (constraints.txt) before running.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BACKENDS := tensorflow jax torch
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[tensorflow-cpu,jax,torch,test]"
	touch $(STAMP)

# The main demo: He et al. 2015, Fig. 3 on digits (Glorot stalls at depth 30, He and LSUV train);
# prints the tables and writes out/compare.png.
demo: $(STAMP)
	KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(BIN)/keras-inits compare

# The whole suite once per backend; fails if any backend fails.
test: $(STAMP)
	@status=0; for b in $(BACKENDS); do \
		echo "===== KERAS_BACKEND=$$b"; \
		KERAS_BACKEND=$$b $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests || status=1; \
	done; exit $$status

# Skip the tests marked slow (for quick local iterations only).
test-fast: PYTEST_ARGS = -m "not slow"
test-fast: test

# The benchmark harness of issue 5 (benchmarks/bench.py): all 3 backends, about 12 minutes on
# 2 cores; writes benchmarks/out/ and benchmarks/RESULTS.md. BENCH_ARGS="--smoke" for a quick
# check (RESULTS.md untouched); `$(BIN)/python benchmarks/bench.py --help` for the options.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py --results benchmarks/RESULTS.md $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
