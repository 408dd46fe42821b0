# The two commands: `make dev` runs everything locally, `make test` runs every check.
# Both install what they need on a fresh clone (Python venv from uv.lock, router from
# package-lock.json) and nothing else is needed by hand.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: dev test lint typecheck pytest schema install migrate seed bench clean

dev: install
	$(PY) -m tools dev

test: install
	$(PY) -m tools services
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/pytest

schema: install
	$(PY) -m tools schema

migrate: install
	$(PY) -m tools migrate

bench: install
	$(PY) -m bench.router_overhead

install: $(VENV)/.installed router/node_modules/.installed

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --quiet
	touch $@

router/node_modules/.installed: router/package.json router/package-lock.json
	cd router && npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) $(TOOLS) router/node_modules
