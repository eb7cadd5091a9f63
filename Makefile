PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# TORCH=cpu: PyTorch's CPU-only wheels (a much smaller download than the default CUDA build),
# e.g. `make run TORCH=cpu`; the default installs torch from PyPI as pyproject.toml says.
TORCH ?= default
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

.PHONY: run test test-slow lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
ifeq ($(TORCH),cpu)
	$(BIN)/pip install -q torch torchvision --index-url $(TORCH_CPU_INDEX)
endif

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/swapbn compare --out runs/compare

# The default set (pyproject's addopts: -m 'not slow'), then the long runs on their own.
test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

test-slow: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -m slow

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/data_pipeline.py
	$(BIN)/python benchmarks/metrics_pass.py
	$(BIN)/python benchmarks/threads.py

clean:
	rm -rf $(VENV) runs .pytest_cache
