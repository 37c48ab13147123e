# transfervision: `make lesson` runs a lesson, `make test` runs everything CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Named after pyproject.toml's content (nbdev-export rewrites the file, so its date says nothing).
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
LESSON ?= 01_pets
# Local copies of the datasets (read-only); CI and this repo's checkouts have them at ../shared/data.
export TRANSFERVISION_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export TRANSFERVISION_DOWNLOADS ?= $(CURDIR)/data/downloads
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install lesson test export readme bench

help:
	@echo "make install   create $(VENV) and install the project with its dev tools"
	@echo "make lesson    execute lessons/$(LESSON).ipynb headless into _runs/ (LESSON=03_doraemon_walle picks another)"
	@echo "make test      everything CI runs; last line: N passed, N failed"
	@echo "make export    nbdev-export + nbdev-clean + README.md from nbs/index.ipynb"
	@echo "make bench     the inference benchmark (bench/)"

# Once installed for this pyproject.toml, a second run reinstalls nothing.
$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the project and its dependencies into $(VENV) (torch is large; a warm pip cache takes ~3 min)..."
	@set -o pipefail; $(BIN)/python -m pip install -q -e '.[dev]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
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
