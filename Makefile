# Two commands do all the set-up on a fresh machine with Python 3.11 and pip:
#   make demo   creates .venv, installs dlcore and runs the main job (the planar search)
#   make test   creates .venv, installs dlcore with its test extra and runs the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/dlcore train experiments/course/planar.toml

test: $(VENV)/.installed
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_deep_cat.py

clean:
	rm -rf $(VENV) build *.egg-info
