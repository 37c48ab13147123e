# transfervision: `make lab` opens the course in JupyterLab, `make test` runs everything CI runs.
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
# `make lab` installs only what the lessons need (the package and its [lessons] extra), with its own stamp.
LAB_STAMP := $(VENV)/.lab-installed-$(shell cat pyproject.toml $(CONSTRAINTS) | sha256sum | cut -c1-16)
# Without an NVIDIA GPU (no nvidia-smi), torch and torchvision come from PyTorch's CPU index (about 200 MB, where
# PyPI's Linux wheels bring several GB of CUDA libraries). TORCH_INDEX= (empty) takes them from PyPI; any other
# index works too (e.g. https://download.pytorch.org/whl/cu126). If the index cannot be reached (checked first, 5 s), torch comes with the other packages.
TORCH_INDEX ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,https://download.pytorch.org/whl/cpu)
LESSON ?= 01_pets
# Local copies of the datasets (read-only); CI and this repo's checkouts have them at ../shared/data.
export TRANSFERVISION_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export TRANSFERVISION_DOWNLOADS ?= $(CURDIR)/data/downloads
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help lab install lesson test export readme docs-config bench scale-test outputs

help:
	@echo "make lab       create $(VENV), install the course ([lessons] extra) and open lessons/ in JupyterLab"
	@echo "make test      everything CI runs (installs the dev tools first); last line: N passed, N failed"
	@echo "For maintainers:"
	@echo "make install   create $(VENV) and install the project with its dev tools"
	@echo "make lesson    execute lessons/$(LESSON).ipynb headless into _runs/ (LESSON=03_doraemon_walle picks another)"
	@echo "make export    nbdev-export + nbdev-clean + README.md from nbs/index.ipynb + the docs sidebar"
	@echo "make bench     the inference benchmark (bench/)"
	@echo "make scale-test  tools/scale_test.py (CI runs it after make test)"
	@echo "make outputs   tools/make_outputs.py"
	@echo "make docs-config  lessons staged into nbs/lessons/ for nbdev-docs (the docs workflow; Quarto renders them)"

# A new venv gets torch and torchvision first, from TORCH_INDEX when set (the CPU build on machines without an
# NVIDIA GPU), at the versions constraints.txt pins; the project's install then keeps them.
define torch_first
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if [ -n "$(TORCH_INDEX)" ] && ! $(BIN)/python -m pip show -q torch >/dev/null 2>&1; then \
	  if ! $(BIN)/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' $(TORCH_INDEX)/torch/ >/dev/null 2>&1; then \
	    echo "$(TORCH_INDEX) cannot be reached (offline?): torch comes with the other packages."; \
	  else echo "Installing torch and torchvision from $(TORCH_INDEX) ..."; \
	    $(BIN)/python -m pip install -q --no-deps --retries 1 --timeout 20 --index-url $(TORCH_INDEX) \
	      $$(grep -E '^(torch|torchvision)==' $(CONSTRAINTS)) \
	    || echo "Could not install torch from $(TORCH_INDEX); it comes with the other packages."; fi; fi
endef

# INSTALLER=uv: the same pinned install done by uv (put into the venv first, at UV_VERSION), which unpacks wheels in
# parallel: a new venv with its bytecode compiled in 94 s where pip takes 282 s (2 cores, 2026-12-06). `.ci/run` uses it.
# uv reads none of pip's configuration: tools/pip_indexes.py hands it the indexes pip is configured with.
INSTALLER ?= pip
UV_VERSION ?= 0.13.9
# uv compiles every installed module to bytecode (56 of its 94 s here); UV_COMPILE= leaves that to Python, which
# compiles each module the first time it is imported, where PYTHONDONTWRITEBYTECODE is not set (.ci/run does this)
UV_COMPILE ?= --compile-bytecode

# Once installed for this pyproject.toml and constraints.txt, a second run reinstalls nothing.
$(STAMP):
	$(torch_first)
	@echo "Installing the project and its dependencies into $(VENV) with $(INSTALLER) (torch is large; pip takes ~4 min, uv ~1.5)..."
ifeq ($(INSTALLER),uv)
	@$(BIN)/python -m pip install -q uv==$(UV_VERSION) 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@$(BIN)/uv pip install -q --python $(BIN)/python $(UV_COMPILE) $$($(BIN)/python tools/pip_indexes.py) \
	  -c $(CONSTRAINTS) -e '.[dev]'
else
	@set -o pipefail; $(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[dev]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
endif
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

# What a learner needs and nothing else: the package, its dependencies and the [lessons] extra (JupyterLab, ipywidgets).
$(LAB_STAMP):
	$(torch_first)
	@echo "Installing the course and JupyterLab into $(VENV) (torch is large; a few minutes the first time)..."
	@set -o pipefail; $(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[lessons]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@rm -f $(VENV)/.lab-installed-*; touch $(LAB_STAMP)

lab: $(LAB_STAMP)
	$(BIN)/jupyter lab lessons/00_setup.ipynb

lesson: $(STAMP)
	@$(BIN)/python tools/run_lesson.py lessons/$(LESSON).ipynb

export: $(STAMP)
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean
	$(BIN)/nbdev-clean --fname lessons
	$(BIN)/python tools/readme.py
	$(BIN)/python tools/check_docs.py --write

readme: $(STAMP)
	$(BIN)/python tools/readme.py

docs-config: $(STAMP)
	$(BIN)/python tools/check_docs.py --stage

test: $(STAMP)
	@$(BIN)/python tools/run_tests.py

bench: $(STAMP)
	$(BIN)/python bench/bench_predict.py

scale-test: $(STAMP)
	@if [ -f tools/scale_test.py ]; then $(BIN)/python tools/scale_test.py; else echo "tools/scale_test.py does not exist yet: nothing to run"; fi

outputs: $(STAMP)
	$(BIN)/python tools/make_outputs.py
