# edgebb: the targets a user and CI run. Every target bootstraps its own virtual environment in .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgebb-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-slow lint ci clean bench-zoo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[full,dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install edgebb with its TensorFlow side and test tools

demo: install  ## the main job on the built-in default: build MobileNetV2 and print its profile
	$(BIN)/edgebb list
	$(BIN)/edgebb info mobilenet_v2
	$(BIN)/edgebb build mobilenet_v2 -o demo/mobilenet_v2.keras

test: install  ## the fast test suite (small inputs and widths)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-slow: install  ## full-size tests only
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check toolkit models tests benchmarks

ci: lint test

bench-zoo: install  ## build time and profile of every backbone at 224, as JSON
	$(BIN)/python benchmarks/zoo_build.py --out benchmarks/results/zoo_build.json

clean:
	rm -rf $(VENV) demo build dist *.egg-info .ruff_cache .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
