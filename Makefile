# HMS service windows. `make up` runs the whole platform locally; `make test` runs the tests.
# Every target creates the virtualenv first, so each works on a fresh machine.

VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the embedded emulator (ministack) pins its own botocore: its own virtualenv, never mixed into .venv
EMU_VENV  ?= .venv-ministack
EMU_STAMP := $(EMU_VENV)/.installed

# python3.12 (the Lambda runtime's version); pyenv keeps it under ~/.pyenv/versions.
PYTHON ?= $(shell for c in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
            $$c -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo $$c; break; }; done)

.PHONY: help venv ministack-lock up test test-fast fuzz lint typecheck template check-template bench clean web console browser portal-deploy

help:
	@echo "make up         run the whole platform locally (emulator, gateway, windows)"
	@echo "make test       run every test (unit, contract, integration, e2e)"
	@echo "make test-fast  unit and contract tests only (no emulator)"
	@echo "make fuzz       schemathesis over docs/openapi.json against a fresh local stack (long run)"
	@echo "make lint       ruff check and format check"
	@echo "make typecheck  mypy --strict on layers/, infra/, functions/"
	@echo "make template   regenerate template.yaml (and other generated files) from routes/"
	@echo "make bench      cold start, platform tax, gateway and event-delivery benchmarks"
	@echo "make web        build the citizen portal (npm ci, esbuild) into web/dist/"
	@echo "make console    build the developer console (npm ci, esbuild, swagger-ui) into console/dist/"
	@echo "make browser    install Debian's chromium for the browser tests (apt-get)"
	@echo "make portal-deploy STACK=name  build the portal and upload it to a deployed stack"
	@echo "make clean      remove the virtualenv and local state"

$(STAMP): requirements.txt requirements.lock pyproject.toml $(EMU_STAMP)
	@if [ -z "$(PYTHON)" ]; then \
	  echo "WARNING: python3.12 not found; falling back to python3 ($$(python3 --version 2>&1))." >&2; \
	  echo "WARNING: the Lambda runtime is python3.12; results may differ." >&2; \
	  python3 -m venv $(VENV); \
	else \
	  $(PYTHON) -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

$(EMU_STAMP): requirements-ministack.txt requirements-ministack.lock
	@if [ -z "$(PYTHON)" ]; then python3 -m venv $(EMU_VENV); else $(PYTHON) -m venv $(EMU_VENV); fi
	$(EMU_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(EMU_VENV)/bin/python -m pip install --quiet -r requirements-ministack.txt -c requirements-ministack.lock
	@touch $(EMU_STAMP)

venv: $(STAMP)

# re-pin the emulator's virtualenv after changing requirements-ministack.txt
ministack-lock: $(EMU_STAMP)
	{ echo "# pip freeze of $(EMU_VENV) (python3.12); regenerate: make ministack-lock"; \
	  $(EMU_VENV)/bin/python -m pip freeze --exclude pip; } > requirements-ministack.lock

up: $(STAMP) web console
	$(BIN)/hms up $(ARGS)

test: $(STAMP) web console browser
	HMS_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -n 2 --dist loadgroup $(ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/contract $(ARGS)

# the long schemathesis run (make test runs a bounded one): ARGS="--max-examples 200 --seed 7"
fuzz: $(STAMP)
	$(BIN)/python tests/e2e/fuzz.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# every window package (functions/<w>/<w>/), each code dir on mypy's path as /var/task is in Lambda
WINDOW_PKGS := $(patsubst %/__init__.py,%,$(wildcard functions/*/*/__init__.py))
WINDOW_DIRS := $(patsubst %/,%,$(dir $(WINDOW_PKGS)))
empty :=
space := $(empty) $(empty)

typecheck: $(STAMP)
	MYPYPATH=layers:infra:$(subst $(space),:,$(WINDOW_DIRS)) $(BIN)/mypy layers/hmskit infra/hms $(WINDOW_PKGS)

template: $(STAMP)
	$(BIN)/hms template

check-template: $(STAMP)
	$(BIN)/hms template --check

bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get install -y wrk || sudo apt-get install -y wrk) || { \
	  echo "make bench: wrk (the HTTP load generator of the gateway bench) is not installed and could not be" >&2; \
	  echo "installed with apt-get; install it yourself (apt-get install wrk, brew install wrk)." >&2; exit 1; }
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) $(EMU_VENV) .hms .pytest_cache .mypy_cache .ruff_cache

# The citizen portal: npm packages from the lockfile, then the esbuild build into web/dist/.
WEB_MODULES := web/node_modules/.package-lock.json
WEB_DIST    := web/dist/index.html
WEB_SOURCES := web/build.mjs $(wildcard web/src/*.* web/src/*/*.*)

$(WEB_MODULES): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $(WEB_MODULES)

$(WEB_DIST): $(WEB_MODULES) $(WEB_SOURCES)
	cd web && node build.mjs

web: $(WEB_DIST)

# The developer console (/_hms/ under hms up): its own npm project, lockfile and esbuild build.
CONSOLE_MODULES := console/node_modules/.package-lock.json
CONSOLE_DIST    := console/dist/index.html
CONSOLE_SOURCES := console/build.mjs $(wildcard console/src/*.*)

$(CONSOLE_MODULES): console/package.json console/package-lock.json
	cd console && npm ci --no-audit --no-fund
	@touch $(CONSOLE_MODULES)

$(CONSOLE_DIST): $(CONSOLE_MODULES) $(CONSOLE_SOURCES)
	cd console && node build.mjs

console: $(CONSOLE_DIST)

# Debian's Chromium for the browser tests (Playwright drives it; browser downloads are not possible)
browser:
	@test -x /usr/bin/chromium || { apt-get update && apt-get install -y chromium; } || { \
	  echo "make browser: could not install chromium with apt-get; install it yourself (apt-get install chromium)" >&2; exit 1; }

# After `sam deploy`: build the portal and upload it to the stack's bucket (STACK=<stack name>)
portal-deploy: $(STAMP) web
	$(BIN)/python -m hms.portal_deploy --stack-name $(or $(STACK),$(error set STACK=<stack name>)) $(ARGS)
