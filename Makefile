# The two commands of the README (`make demo`, `make test`) build on `make install`.
# Every target is idempotent; a second run only re-installs when pyproject.toml or the
# lock changed. `make lock` re-resolves the lock (then commit requirements.lock).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# The installer that reads the lock; pinned like everything it installs.
UV_VERSION := 0.13.9
UV := $(BIN)/uv

.PHONY: install chromium xvfb postgresql demo test lint lock clean

install: $(STAMP) chromium xvfb postgresql

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Exact versions from the lock, then the project itself (editable) without resolving again.
$(STAMP): pyproject.toml $(LOCK) | $(UV)
	$(UV) pip install --quiet --python $(BIN)/python -r $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	test -x $(BIN)/harvest
	touch $(STAMP)

lock: | $(UV)
	$(UV) pip compile pyproject.toml --extra test --extra lint --universal \
		--python-version 3.11 --quiet -o $(LOCK)

# Chromium for the harvests; Xvfb for `[browser] headless = false` on a machine with no
# display (the harvester starts one per browser).
chromium:
	@scripts/ensure_package.sh chromium chromium chromium-browser google-chrome google-chrome-stable

xvfb:
	@scripts/ensure_package.sh xvfb Xvfb

# PostgreSQL's server programs for the tests, which start throwaway clusters of their
# own (no system service is used or needed).
postgresql:
	@scripts/ensure_package.sh postgresql pg_ctlcluster

demo: install
	$(BIN)/python scripts/demo.py

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
