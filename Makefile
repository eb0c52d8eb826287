# social-care: `make demo` runs the demo, `make test` runs the test suite.
# Both build .venv first (Python >= 3.12) and reinstall only when pyproject.toml or the C source changes.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# Options for `social-care demo`, e.g. make demo DEMO_ARGS="--port 9080 --sandbox-port 9082 --x-sandbox-port 9083"
DEMO_ARGS ?=

# Candidates in order; `PYTHON=/path/to/python3.12 make venv` puts one first.
# The pyenv shim `python3.12` may exist yet fail, so each candidate is run, not just looked up.
PYTHON_CANDIDATES := $(PYTHON) python3.12 python3.13 \
	$(wildcard /root/.pyenv/versions/3.12*/bin/python3.12) \
	$(wildcard /root/.pyenv/versions/3.13*/bin/python3.13) \
	python3 python

IS_312 := import sys; sys.exit(sys.version_info < (3, 12))

.PHONY: venv test demo clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py sentiment/_ngram_index.c
	@if ! { [ -x "$(PY)" ] && "$(PY)" -c '$(IS_312)' 2>/dev/null; }; then \
		base=""; \
		for c in $(PYTHON_CANDIDATES); do \
			if "$$c" -c '$(IS_312)' >/dev/null 2>&1; then base="$$c"; break; fi; \
		done; \
		if [ -z "$$base" ]; then \
			echo "make: no Python >= 3.12 found (tried: $(strip $(PYTHON_CANDIDATES)))." >&2; \
			echo "make: install Python 3.12+ or run: make PYTHON=/path/to/python3.12 venv" >&2; \
			exit 1; \
		fi; \
		echo "creating $(VENV) with $$("$$base" -c 'import sys; print(sys.executable, sys.version.split()[0])')"; \
		rm -rf "$(VENV)"; \
		"$$base" -m venv "$(VENV)"; \
	fi
	"$(PY)" -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch "$@"

# PYTEST_EXIT_CODE_FILE lets .ci/run report pytest's own exit code; make's is always 2 on failure.
test: venv
	@rc=0; "$(PY)" -m pytest -q $(PYTEST_ARGS) || rc=$$?; \
	if [ -n "$${PYTEST_EXIT_CODE_FILE:-}" ]; then echo "$$rc" > "$$PYTEST_EXIT_CODE_FILE"; fi; \
	exit "$$rc"

demo: venv
	"$(VENV)/bin/social-care" demo $(DEMO_ARGS)

clean:
	rm -rf "$(VENV)" .pytest_cache build demo-data *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
