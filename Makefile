# dmi-sensors: every target sets itself up on a fresh machine.
#   make demo   simulated DMI session end to end (virtual sensors, local SQLite)
#   make test   ruff (lint + format) + import-linter layers + mypy + C protocol tests + the whole pytest suite
#   make typecheck  mypy on src/ (configuration in pyproject.toml)
#   make bench  benchmarks against scipy / ahrs / imufusion, JSON under benchmarks/results/
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.dmi-sensors-installed
DEMO_ARGS ?=

.PHONY: demo test bench lint typecheck check-tools venv clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dmi-sensors needs Python >= 3.11; found " + sys.version.split()[0] + " as $(PYTHON). Set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

check-tools:
	@command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || { echo "missing: a C compiler (Debian/Ubuntu: apt-get install gcc)"; exit 1; }
	@command -v dbus-daemon >/dev/null 2>&1 || { echo "missing: dbus-daemon, needed for the emulated BlueZ (Debian/Ubuntu: apt-get install dbus-daemon)"; exit 1; }
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { echo "missing: chromium and chromedriver, needed for the live view's browser test (Debian/Ubuntu: apt-get install chromium chromium-driver)"; exit 1; }

demo: $(STAMP)
	$(VENV)/bin/dmi-sensors demo $(DEMO_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: check-tools $(STAMP) lint typecheck
	@if [ -f firmware_protocol/Makefile ]; then $(MAKE) -C firmware_protocol test; fi
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
