PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

LABEXTENSION_SOURCES := labextension/package.json labextension/package-lock.json $(wildcard labextension/src/*.ts labextension/style/*)

# The editable install also builds the JupyterLab extension (npm install, tsc, jupyter-builder, through
# hatch-jupyter-builder) and copies it into $(VENV)/share/jupyter/labextensions: a changed source reinstalls.
$(VENV)/.installed-test: pyproject.toml $(LABEXTENSION_SOURCES) | $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed-test
	$(BIN)/python -m promptlab_nb.demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check promptlab_nb tests bench
	$(BIN)/ruff format --check promptlab_nb tests bench
	$(BIN)/mypy

test: lint
	npm --prefix labextension test
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV)
