# The two commands: `make dev` runs everything locally, `make test` runs every check.
# Both install what they need on a fresh clone (Python venv from uv.lock, router from
# package-lock.json) and nothing else is needed by hand.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
# checkov pins versions of packaging, pytest and python-dateutil older than our lock,
# so it lives in a venv of its own, from a pinned requirements file.
CHECKOV := $(TOOLS)/checkov/bin/checkov
# promtool (checks the alert rules) ships in Debian's prometheus package, not on PyPI.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: dev test lint typecheck pytest schema install migrate seed bench clean promtool

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

install: $(VENV)/.installed router/node_modules/.installed $(CHECKOV) promtool

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode compiled once here, as in the image: with PYTHONDONTWRITEBYTECODE set (as on
# the CI machines), every process start would compile its libraries again: 3 s each.
$(VENV)/.installed: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --quiet --compile-bytecode
	touch $@

$(CHECKOV): tools/requirements/checkov.txt $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(TOOLS)/checkov
	$(UV) pip install --quiet --python $(TOOLS)/checkov/bin/python -r tools/requirements/checkov.txt
	touch $@

promtool:
	@command -v promtool >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus; }

router/node_modules/.installed: router/package.json router/package-lock.json
	cd router && npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) $(TOOLS) router/node_modules
