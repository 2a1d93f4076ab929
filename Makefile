# Two commands are the contract (see README): `make study` and `make test`.
# A fresh machine needs only python3 and make: uv (pinned) is bootstrapped into .tools/, and
# the project's environment .venv/ is synced from uv.lock whenever the lock or pyproject changes.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced
STUDY ?= studies/default.yaml
JOBS ?=

.PHONY: setup study test lint lab bench clean

setup: $(STAMP)

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): $(UV) uv.lock pyproject.toml
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(PYTHON) --quiet --compile-bytecode
	@touch $(STAMP)

study: setup
	$(VENV)/bin/crmkit run $(STUDY) $(if $(JOBS),--jobs $(JOBS),)

test: setup
	$(VENV)/bin/python -m pytest -q tests --nbval-lax notebooks/experiment.ipynb notebooks/population.ipynb

lint: setup
	$(VENV)/bin/ruff check kit tests benchmarks notebooks
	$(VENV)/bin/ruff format --check kit tests benchmarks notebooks

# JupyterLab is in the `lab` dependency group: installed on top of the environment, only here.
lab: setup
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(PYTHON) --quiet --compile-bytecode --inexact --group lab
	$(VENV)/bin/jupyter lab notebooks/

bench: setup
	$(VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .tools reports data .pytest_cache
