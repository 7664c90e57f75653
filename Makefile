# Two commands for a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
WORKSPACE ?= .loopline
export LOOPLINE_WORKSPACE ?= $(abspath $(WORKSPACE))

.PHONY: run test lint typecheck pytest demo bench chromium clean graph bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv (from PyPI, into the venv) installs the rest: minutes with pip, seconds with uv.
$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv

# Reinstall when pyproject.toml (or this recipe) changes. --compile-bytecode: the libraries' .pyc
# are written once here, since Python never writes them where PYTHONDONTWRITEBYTECODE is set (as on
# this kind of machine): without them every process compiled pandas, scipy and sklearn from source
# (`import core.api` 2.6 s, with them 0.9 s; pip compiled at install, uv only when asked).
UV_INSTALL := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python

$(VENV)/.installed: pyproject.toml Makefile | $(BIN)/uv
	$(UV_INSTALL) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml Makefile | $(BIN)/uv
	$(UV_INSTALL) -e '.[dev]'
	touch $(VENV)/.installed $@

# Our own sources' .pyc, for the same reason (a second or two; stale ones are recompiled in memory).
bytecode: $(VENV)/.installed
	@$(BIN)/python -m compileall -q core app tests bench sample_data >/dev/null

demo: $(VENV)/.installed bytecode
	$(BIN)/loopline demo --if-missing

run: demo
	@echo "Loopline on http://localhost:$(PORT)  (workspace: $(LOOPLINE_WORKSPACE))"
	$(BIN)/python -m app.serve --server.port $(PORT)

# Debian's chromium (and an emoji font, so screenshots show the page icons) for the browser test:
# installed when missing and apt is usable.
chromium:
	@if [ -x /usr/bin/chromium ] && [ -d /usr/share/fonts/truetype/noto ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; \
	elif [ -x /usr/bin/chromium ]; then :; \
	else echo "chromium missing and apt not usable: install Debian's chromium (/usr/bin/chromium)"; exit 1; fi

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check core app tests bench sample_data
	$(BIN)/ruff format --check core app tests bench sample_data

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# Two workers, one per core; a test module stays on one worker (its module-scoped servers start once).
# The 40 slowest tests are listed at the end (where test time goes, in CI logs too).
pytest: $(VENV)/.installed-dev chromium bytecode
	LOOPLINE_TEST_PREBUILD=1 $(BIN)/pytest -q -n 2 --dist loadfile --durations=40

test: lint typecheck pytest

# Each bench records its report in bench/results/ (commit, machine, load average); compare.py then
# prints every figure against the run before and the targets (a report to read, not a test).
bench: export LOOPLINE_BENCH_RESULTS = $(CURDIR)/bench/results
bench: $(VENV)/.installed-dev bytecode
	$(BIN)/python bench/store.py
	$(BIN)/python bench/labeling.py
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/traceability.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/monitoring.py
	$(BIN)/python bench/remote.py
	$(BIN)/python bench/compare.py
	$(BIN)/python bench/compare.py --markdown

# The layers of core/ and each package's imports (tests/core/test_layering.py checks them).
graph: $(VENV)/.installed-dev
	$(BIN)/python -m tests.layering

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
