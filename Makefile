# Two commands do all the set-up on a fresh machine with Python 3.11 and pip:
#   make demo   creates .venv, installs dlcore with its test extra and runs the main job (the planar search)
#   make test   creates .venv, installs dlcore with its test extra and runs the test suite
# Both share one install, pip install -e '.[test]' (editable), so either leaves .venv ready for the other.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test ui bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/dlcore search search_spaces/planar.toml
	@echo "from this checkout: make ui  (or $(BIN)/dlcore ui), then open http://127.0.0.1:5000"

ui: $(VENV)/.installed
	$(BIN)/dlcore ui

test: $(VENV)/.installed
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_deep_cat.py
	$(BIN)/python benchmarks/bench_tracking.py

clean:
	rm -rf $(VENV) build *.egg-info
