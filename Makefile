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

# Each benchmark prints its ratios (measured side by side) and appends a line to
# benchmarks/results.md; 6 minutes on 2 CPU cores (measured 2026-11-30), 10.5 with three rounds of
# threads.py; monitor_step.py adds 1.5 minutes (measured 2026-12-06).
bench: $(VENV)/.installed-dev
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/data_pipeline.py --limit 10000
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/metrics_pass.py --threads 1 --rounds 1
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/training_step.py --threads 1 --steps 5 --rounds 2
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/threads.py --rounds 2
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/monitor_step.py --threads 1 --steps 8 --rounds 3

clean:
	rm -rf $(VENV) runs .pytest_cache
