# gitops-sandbox: every target sets up what is missing first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
WORKSPACE ?= $(or $(GITOPS_SANDBOX_WORKSPACE),$(HOME)/.gitops-sandbox/default)
# `make install` puts the gitops-sandbox command in $(BINDIR).
PREFIX ?= $(HOME)/.local
BINDIR ?= $(PREFIX)/bin
LAUNCHER := $(BINDIR)/gitops-sandbox

.PHONY: setup run test lint bench bench-quick demo install uninstall clean

# The first run takes a minute or two: say what happens, step by step. pip's full output
# goes to $(VENV)/install.log; on screen, one line per package it fetches.
$(STAMP): pyproject.toml
	@echo "==> setting up $(VENV) (first run only)"
	@test -x $(PY) || { echo "==> [1/3] creating the virtual environment $(VENV) with $(PYTHON)" \
		&& $(PYTHON) -m venv $(VENV); }
	@echo "==> [2/3] upgrading pip"
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "==> [3/3] installing gitops-sandbox and its dependencies (log: $(VENV)/install.log)"
	@{ PYTHONUNBUFFERED=1 $(PY) -m pip install --progress-bar off -e '.[dev]' 2>&1; \
		echo $$? > $(VENV)/.pip-status; } \
		| tee $(VENV)/install.log \
		| awk '/^Collecting /{print "    fetching " $$2; fflush()} \
		       /^Processing /{n = split($$2, part, "/"); print "    fetching " part[n]; fflush()} \
		       /^Building (editable|wheels)/{print "    building gitops-sandbox"; fflush()} \
		       /^Installing collected packages/{print "    installing them"; fflush()}'; \
		status=$$(cat $(VENV)/.pip-status); rm -f $(VENV)/.pip-status; \
		if [ "$$status" != 0 ]; then tail -n 20 $(VENV)/install.log; \
			echo "pip install failed (exit $$status); full log: $(VENV)/install.log"; exit 1; fi
	@touch $(STAMP)
	@echo "==> $(VENV) is ready"

setup: $(STAMP)

run: $(STAMP)
	@test -d "$(WORKSPACE)/hld.git" || { echo "==> creating the workspace $(WORKSPACE)" \
		&& $(VENV)/bin/gitops-sandbox init -w "$(WORKSPACE)"; }
	@echo "==> opening the TUI on $(WORKSPACE)"
	$(VENV)/bin/gitops-sandbox tui -w "$(WORKSPACE)"

# The tests mostly wait on engines, pushes and simulated clocks, not on the CPU, so
# they run in 4 workers even on 2 cores (TEST_WORKERS=0 runs them in one process).
TEST_WORKERS ?= 4
test: $(STAMP)
	$(PY) -m pytest -q -rs -n $(TEST_WORKERS)

lint: $(STAMP)
	$(VENV)/bin/ruff check sandbox tui tests bench

# `make bench ARGS=--quick` (or `make bench-quick`, as CI runs it): the ladder at 1,000
# services only and the drift trend over fewer merges; ARGS may also name sections.
bench: $(STAMP)
	$(PY) -m bench $(ARGS)

bench-quick: $(STAMP)
	$(PY) -m bench --quick $(ARGS)

demo: $(STAMP)
	$(VENV)/bin/gitops-sandbox scenario run scenarios/*.yaml

# A two-line launcher, not a copy: it runs this checkout's .venv, so `git pull` and
# edits take effect without reinstalling.
install: $(STAMP)
	@mkdir -p "$(BINDIR)"
	@printf '%s\n' '#!/bin/sh' \
		'# gitops-sandbox launcher written by `make install` in $(CURDIR)' \
		'target="$(abspath $(VENV))/bin/gitops-sandbox"' \
		'if [ ! -x "$$target" ]; then' \
		'  echo "gitops-sandbox: $$target is missing; run make setup in $(CURDIR)" >&2' \
		'  exit 1' \
		'fi' \
		'exec "$$target" "$$@"' > "$(LAUNCHER).tmp"
	@chmod 755 "$(LAUNCHER).tmp" && mv -f "$(LAUNCHER).tmp" "$(LAUNCHER)"
	@echo "installed $(LAUNCHER) (runs $(abspath $(VENV))/bin/gitops-sandbox)"
	@case ":$$PATH:" in \
		*":$(BINDIR):"*|*":$(BINDIR)/:"*) echo "$(BINDIR) is on your PATH: try  gitops-sandbox --help";; \
		*) echo "$(BINDIR) is not on your PATH; add it (then open a new terminal):"; \
		   echo "    echo 'export PATH=\"$(BINDIR):\$$PATH\"' >> ~/.bashrc   # or ~/.zshrc";; \
	esac

uninstall:
	@rm -f "$(LAUNCHER)" && echo "removed $(LAUNCHER)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
