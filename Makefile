# The two commands of the README: `make demo` and `make test`. Each sets itself up from
# pyproject.toml on a machine that has only Python 3.11.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo
# Compiled at install (setup.py); a change to one reinstalls.
KERNEL_SOURCES := $(wildcard src/vigil/*/*/*.pyx)

# Integration tests use real services; override these to point elsewhere.
VIGIL_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
VIGIL_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
export VIGIL_TEST_POSTGRES_URL VIGIL_TEST_REDIS_URL

.PHONY: demo test lint typecheck imports pytest install install-dev clean chromium firewall-tools

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "vigil needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py $(KERNEL_SOURCES)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml setup.py $(KERNEL_SOURCES)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	mkdir -p $(DEMO_DIR)
	cd $(DEMO_DIR) && ../$(BIN)/vigil db upgrade
	cd $(DEMO_DIR) && ../$(BIN)/vigil simulate --out access.log --lines 50000 --seed 7 --start yesterday
	cd $(DEMO_DIR) && ../$(BIN)/vigil scan access.log
	@echo
	@echo "Stored in $(DEMO_DIR)/vigil.db. To browse it: cd $(DEMO_DIR) && ../$(BIN)/vigil keys create --name me --scope admin"
	@echo "then ../$(BIN)/vigil serve and open http://127.0.0.1:8080/ with that key."

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install-dev
	$(BIN)/mypy

# The browser test's Chromium: $VIGIL_CHROMIUM, `chromium` on the PATH, or Debian's package
# (as root with apt); where none is possible that one test skips and says why.
chromium:
	@sh scripts/ensure-chromium.sh

# nft, ipset and the CrowdSec firewall bouncer, for the blocklist and bouncer tests
firewall-tools:
	@sh scripts/ensure-firewall-tools.sh

# The import contracts in pyproject.toml ([tool.importlinter]): the layers of the tree.
imports: install-dev
	$(BIN)/lint-imports

pytest: install-dev chromium firewall-tools
	$(BIN)/pytest -q

test: lint typecheck imports pytest

clean:
	rm -rf $(VENV) $(DEMO_DIR) .mypy_cache .ruff_cache .pytest_cache
