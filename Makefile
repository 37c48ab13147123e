# transfervision: `make lesson` runs a lesson, `make test` runs everything CI runs.
SHELL := /bin/bash
PYTHON ?= python3
# VENV=/some/persistent/venv reuses a venv outside the checkout (the GPU workflow does).
VENV ?= .venv
BIN := $(VENV)/bin
# Ranges in pyproject.toml, the exact versions CI tests in constraints.txt.
CONSTRAINTS := constraints.txt
# Named after the content of pyproject.toml and constraints.txt (nbdev-export rewrites pyproject.toml,
# so its date says nothing): a change to either reinstalls, a second `make install` installs nothing.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS) | sha256sum | cut -c1-16)
LESSON ?= 01_pets
# Local copies of the datasets (read-only); CI and this repo's checkouts have them at ../shared/data.
export TRANSFERVISION_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export TRANSFERVISION_DOWNLOADS ?= $(CURDIR)/data/downloads
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install lesson test export readme bench scale-test outputs

help:
	@echo "make install   create $(VENV) and install the project with its dev tools"
	@echo "make lesson    execute lessons/$(LESSON).ipynb headless into _runs/ (LESSON=03_doraemon_walle picks another)"
	@echo "make test      everything CI runs; last line: N passed, N failed"
	@echo "make export    nbdev-export + nbdev-clean + README.md from nbs/index.ipynb"
	@echo "make bench     the inference benchmark (bench/)"
	@echo "make scale-test  tools/scale_test.py (CI runs it after make test)"
	@echo "make outputs   tools/make_outputs.py"

# Once installed for this pyproject.toml and constraints.txt, a second run reinstalls nothing.
$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the project and its dependencies into $(VENV) (torch is large; a warm pip cache takes ~3 min)..."
	@set -o pipefail; $(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[dev]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

lesson: $(STAMP)
	@$(BIN)/python tools/run_lesson.py lessons/$(LESSON).ipynb

export: $(STAMP)
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean
	$(BIN)/nbdev-clean --fname lessons
	$(BIN)/python tools/readme.py

readme: $(STAMP)
	$(BIN)/python tools/readme.py

test: $(STAMP)
	@$(BIN)/python tools/run_tests.py

bench: $(STAMP)
	$(BIN)/python bench/bench_predict.py

scale-test: $(STAMP)
	@if [ -f tools/scale_test.py ]; then $(BIN)/python tools/scale_test.py; else echo "tools/scale_test.py does not exist yet: nothing to run"; fi

outputs: $(STAMP)
	$(BIN)/python tools/make_outputs.py
