# genzoo: `make demo` runs the toy-2-D lab (every family on four 2-D toys, about 4 min), `make test` runs the test suite.
# Both create .venv and install the project first (torch is pinned to the local CPU wheel).
VENV ?= .venv
PY := $(VENV)/bin/python
GENZOO := $(VENV)/bin/genzoo
TORCH_SPEC ?= torch==2.13.0
SHARED_DATA := $(abspath ../shared/datasets)
export GENZOO_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),$(HOME)/.cache/genzoo/data)

.PHONY: install demo test test-fast lint clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(GENZOO) compare toy2d --out runs/demo

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf runs .pytest_cache
