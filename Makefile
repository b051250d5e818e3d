# The two commands of the README:
#   make demo   installs startnotebook into .venv and starts the notebook "demo" on this machine
#   make test   installs what the tests need (Debian packages, .venv) and runs the whole suite

# A Python every user can run: the tests also run sessions as ordinary users (a Python under
# /root, such as pyenv's, is out of their reach). Debian's, if it is recent enough; else python3.
PYTHON ?= $(shell for python in /usr/bin/python3 python3; do \
	$$python -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$python && break; done)
VENV := .venv
SOURCES := pyproject.toml $(shell find src workflow schemas config profiles envs -type f -not -path "*/__pycache__/*") \
	$(shell find labextension -type f -not -path "*/node_modules/*" -not -path "labextension/lib/*")

.PHONY: demo test install system-packages clean

define make_venv
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
endef

# A real (non-editable) install: what users get (make demo), and what the tests exercise.
$(VENV)/.installed: $(SOURCES)
	$(make_venv)
	$(VENV)/bin/pip install --quiet .
	touch $@

# The same install with the test extras (pytest, a browser driver, HTTP clients): make test, and
# `make install` before running pytest by hand. It is the user's install too, hence both stamps.
$(VENV)/.installed-test: $(SOURCES)
	$(make_venv)
	$(VENV)/bin/pip install --quiet '.[test]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(VENV)/bin/startnotebook --name demo

system-packages:
	tests/setup/install-system-packages

test: install system-packages
	$(VENV)/bin/python -m pytest -ra --durations=25 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .snakemake build dist labextension/node_modules labextension/lib
