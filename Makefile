# gitops-sandbox: every target sets up what is missing first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
WORKSPACE ?= $(or $(GITOPS_SANDBOX_WORKSPACE),$(HOME)/.gitops-sandbox/default)

.PHONY: setup run test lint bench demo clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	@test -d "$(WORKSPACE)/hld.git" || $(VENV)/bin/gitops-sandbox init -w "$(WORKSPACE)"
	$(VENV)/bin/gitops-sandbox tui -w "$(WORKSPACE)"

test: $(STAMP)
	$(PY) -m pytest -q -rs

lint: $(STAMP)
	$(VENV)/bin/ruff check sandbox tui tests bench

bench: $(STAMP)
	$(PY) -m bench

demo: $(STAMP)
	$(VENV)/bin/gitops-sandbox scenario run scenarios/*.yaml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
