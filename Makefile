# The two commands of the README:
#   make demo   installs startnotebook into .venv and starts the notebook "demo" on this machine
#   make test   installs what the tests need (Debian packages, .venv) and runs the whole suite

PYTHON ?= python3
VENV := .venv
SOURCES := pyproject.toml Snakefile $(shell find workflow schemas config profiles envs -type f -not -path '*/__pycache__/*')

.PHONY: demo test install system-packages clean

# A real (non-editable) install: what users get, and what the tests exercise.
$(VENV)/.installed: $(SOURCES)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/startnotebook --name demo

system-packages:
	tests/setup/install-system-packages

test: install system-packages
	$(VENV)/bin/python -m pytest -ra $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .snakemake build dist
