# `make demo` and `make test` do all the set-up on a fresh machine: they create .venv and install
# the package with its pinned test environment (constraints.txt) before running.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BACKENDS := tensorflow jax torch
EXTRAS := tensorflow-cpu,jax,torch,test
PYTEST_ARGS ?=
DIST := build/dist
# The tests run from a copy of the checkout without keras_inits/ (and without environments and
# build outputs), so they and the subprocesses they start import the installed wheel, never the
# sources.
TESTRUN := build/testrun
# The oldest releases pyproject.toml allows (constraints-oldest.txt), in their own environment.
OLDEST := .venv-oldest
OLDEST_STAMP := $(OLDEST)/.installed-stamp

.PHONY: install dev dist demo test test-fast test-oldest lint bench docs docs-serve clean \
	phase-diagram trainability reproduce-meanfield pennington bench-diagnostics

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[$(EXTRAS),dev]"
	touch $(STAMP)

# For development: the package installed editable in .venv. `make install` does that too, but
# `make test` installs the built wheel over it: `make dev` puts the editable install back.
dev: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps -e .

# The sdist and the wheel, built in an isolated environment, with their metadata checked.
dist: $(STAMP)
	rm -rf $(DIST)
	$(BIN)/python -m build -q --outdir $(DIST) .
	$(BIN)/python -m twine check --strict $(DIST)/*

# Installs the wheel (not editable) into the environment $(1), then runs the suite once per
# backend from $(TESTRUN) with that environment's python; fails if any backend fails.
define run_suite
	$(1)/bin/python -m pip install -q --no-deps --force-reinstall $(DIST)/keras_inits-*.whl
	rm -rf $(TESTRUN) && mkdir -p $(TESTRUN)
	tar -c --exclude=./keras_inits --exclude='./.venv*' --exclude=./build --exclude=./.git \
		--exclude='*.egg-info' --exclude=./site --exclude='*_cache' . | tar -x -C $(TESTRUN)
	@status=0; for b in $(BACKENDS); do \
		echo "===== KERAS_BACKEND=$$b ($(1))"; \
		(cd $(TESTRUN) && KERAS_INITS_TEST_INSTALLED=1 KERAS_BACKEND=$$b \
			$(abspath $(1))/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) \
			$(if $(2),$(2),tests)) \
			|| status=1; \
	done; exit $$status
endef

# The main demo: He et al. 2015, Fig. 3 on digits (Glorot stalls at depth 30, He and LSUV train);
# prints the tables and writes out/compare.png.
demo: $(STAMP)
	KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(BIN)/keras-inits compare

# The whole suite once per backend, against the installed wheel; fails if any backend fails.
test: dist
	$(call run_suite,$(VENV))

# The whole suite once per backend against the oldest supported releases (constraints-oldest.txt).
$(OLDEST_STAMP): pyproject.toml constraints-oldest.txt
	test -x $(OLDEST)/bin/python || $(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q --upgrade pip
	$(OLDEST)/bin/python -m pip install -q -c constraints-oldest.txt ".[$(EXTRAS)]"
	touch $(OLDEST_STAMP)

# CI runs a stated subset against the floors, to keep .ci/run well under its time limit: the
# values against Keras' built-ins and jax.random (test_parity, test_sampling) and Keras' own
# initializer tests (test_keras_suite) -- what older releases break first. OLDEST_TESTS=tests
# runs the whole suite there.
OLDEST_TESTS ?= tests/test_parity.py tests/test_sampling.py tests/test_keras_suite.py

test-oldest: dist $(OLDEST_STAMP)
	$(call run_suite,$(OLDEST),$(OLDEST_TESTS))

# ruff (lint and format check) and mypy over the package.
lint: $(STAMP)
	$(BIN)/ruff check keras_inits
	$(BIN)/ruff format --check keras_inits
	$(BIN)/mypy keras_inits

# Skip the tests marked slow (for quick local iterations only).
test-fast: PYTEST_ARGS = -m "not slow"
test-fast: test

# The benchmark harness of issue 5 (benchmarks/bench.py): all 3 backends, about 12 minutes on
# 2 cores; writes benchmarks/out/ and benchmarks/RESULTS.md. BENCH_ARGS="--smoke" for a quick
# check (RESULTS.md untouched); `$(BIN)/python benchmarks/bench.py --help` for the options.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py --results benchmarks/RESULTS.md $(BENCH_ARGS)

# Mean-field theory reproduced (issue 14; not part of `make test`), each writing its figure and
# a Markdown summary into docs/reproductions/: tanh's phase diagram and depth scales (Poole et
# al. 2016, Schoenholz et al. 2017; 5 minutes on a busy machine), and Schoenholz et al.'s
# trainability heatmap on digits (JAX; 5.2 minutes of CPU time, a few minutes on 2 quiet cores).
phase-diagram: $(STAMP)
	KERAS_BACKEND=jax $(BIN)/python docs/reproductions/phase_diagram.py

trainability: $(STAMP)
	KERAS_BACKEND=jax nice $(BIN)/python docs/reproductions/trainability.py

reproduce-meanfield: phase-diagram trainability

# Pennington et al. 2017: Jacobian singular values of critical tanh nets, orthogonal vs Gaussian
# (writes docs/reproductions/pennington.png and .txt; 402 s on a loaded 2-core machine).
pennington: $(STAMP)
	KERAS_BACKEND=jax $(BIN)/python docs/reproductions/pennington.py

# Diagnostics on MobileNetV2/ResNet50/DenseNet121, per backend (writes its RESULTS.md section).
bench-diagnostics: $(STAMP)
	$(BIN)/python benchmarks/diagnostics.py --results benchmarks/RESULTS.md

# The documentation site (mkdocs.yml, docs/), built into site/ in strict mode: a warning, a
# broken link or a missing reference fails. The gallery draws with DOCS_BACKEND (torch is the
# fastest here). `make docs-serve` serves it at http://127.0.0.1:8000 and rebuilds on edits.
DOCS_STAMP := $(VENV)/.docs-stamp
DOCS_BACKEND ?= torch
DOCS_ENV := NO_MKDOCS_2_WARNING=1 KERAS_BACKEND=$(DOCS_BACKEND)

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(DOCS_ENV) $(BIN)/mkdocs build --strict

docs-serve: $(DOCS_STAMP)
	$(DOCS_ENV) $(BIN)/mkdocs serve

clean:
	rm -rf $(VENV) $(OLDEST) build site *.egg-info .pytest_cache .hypothesis
