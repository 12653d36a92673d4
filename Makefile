# Every target creates or refreshes its own virtual environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint bench dist release clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/themis demo

test: $(STAMP)
	bash scripts/ensure-etcd.sh
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q

check: test

bench: $(STAMP)
	$(BIN)/python -m benchmarks

dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist
	$(BIN)/twine check --strict dist/*

# Needs TWINE_USERNAME/TWINE_PASSWORD (or a token) in the environment.
release: dist
	$(BIN)/twine upload dist/*

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
