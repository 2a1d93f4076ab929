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
PORT ?= 8888
REPORTS ?= reports

.PHONY: setup study test lint lab browser-check bench clean

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
	$(VENV)/bin/ruff check kit tests benchmarks notebooks scripts
	$(VENV)/bin/ruff format --check kit tests benchmarks notebooks scripts

# JupyterLab is in the `lab` dependency group: installed on top of the environment, only here.
# Headless (prints the address with its token; open it in a browser), on PORT (default 8888);
# as root it needs --allow-root, which it gets only when run as root.
lab: setup
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(PYTHON) --quiet --compile-bytecode --inexact --group lab
	$(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --port=$(PORT) --ServerApp.root_dir=notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root,)

# Every rendered report page under REPORTS (default reports/) in headless Chromium (Debian's
# package, installed here when missing and run as root): fails on a broken image or link or a
# console error; screenshots go to <study>/screens/.
browser-check: setup
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ echo "installing Debian's chromium"; apt-get install -y -q chromium >/dev/null || \
		  { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; }
	$(VENV)/bin/python scripts/browser_check.py $(REPORTS)

bench: setup
	$(VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .tools reports data .pytest_cache
