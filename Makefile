# The two README commands: `make demo` and `make test`. Both set up .venv when it is missing.
SHELL := /bin/bash
VENV := .venv
UV_VERSION := 0.13.9
# TFX 1.15 needs Python 3.10; the machine default may be newer, so look for 3.10 explicitly.
PYTHON310 := $(shell for p in python3.10 "$$(pyenv root 2>/dev/null)/versions/3.10.13/bin/python"; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo "$$p"; break; }; done)
RUN := $(VENV)/bin/rarespecies
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast lock clean

setup: $(VENV)/.installed

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (as on CI here) every process would
# otherwise compile TensorFlow's and TFX's sources again when it imports them.
$(VENV)/.installed: requirements.lock setup.py
	@test -n "$(PYTHON310)" || { echo "error: Python 3.10 not found (try: pyenv install 3.10.13)" >&2; exit 1; }
	@echo "Setting up $(VENV) from requirements.lock (first run only) ..."
	test -x $(VENV)/bin/python || $(PYTHON310) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync -q --compile-bytecode --python $(VENV)/bin/python requirements.lock
	$(VENV)/bin/uv pip install -q --python $(VENV)/bin/python --no-deps -e .
	touch $@

# Regenerate the lock after editing requirements.in.
lock: $(VENV)/.installed
	$(VENV)/bin/uv pip compile requirements.in --python-version 3.10 \
		--python-platform x86_64-manylinux_2_28 -o requirements.lock

demo: setup
	$(RUN) demo

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Unit tests only (skips the end-to-end pipeline runs).
test-fast: setup
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf out
