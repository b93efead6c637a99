# genzoo: `make demo` runs the toy-2-D lab (every family on four 2-D toys, about 4 min), `make test` runs the test suite
# (`make test-avx2` its numerics tests again under AVX2 limits).
# Both create .venv and install the project first (torch is pinned to the local CPU wheel).
VENV ?= .venv
PY := $(VENV)/bin/python
GENZOO := $(VENV)/bin/genzoo
TORCH_SPEC ?= torch==2.13.0
SHARED_DATA := $(abspath ../shared/datasets)
export GENZOO_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),$(HOME)/.cache/genzoo/data)

.PHONY: install demo test test-avx2 test-fast lint clean

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

# The numerics tests (pytest -m numerics: float32/bf16 results compared across kernels, layouts,
# precisions) again with PyTorch's and oneDNN's CPU kernels held to AVX2, so that a green run on
# a new CPU (AVX-512, AMX) is green on an older one too. Inductor gets a cache of its own: the
# kernels it compiled for the machine's full ISA would otherwise be reused under the limit.
test-avx2: install
	ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \
	TORCHINDUCTOR_CACHE_DIR=$(abspath $(VENV))/inductor-avx2 $(PY) -m pytest -q -m numerics

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf runs .pytest_cache
