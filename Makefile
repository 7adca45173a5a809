# smsbridge: `make serve` runs the whole loop locally; `make test` runs every test and check.
# Both bootstrap .venv on a fresh machine (Python 3.11+ is all they need).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
ARGS ?=
# The SAM CLI pins its own boto3 and click: it lives in a separate environment.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed-sam
# `sam build` needs python3.13 (the Lambda runtime) on the PATH: take it from PATH or pyenv.
PY313_DIR ?= $(shell dirname "$$(ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.13*/bin/python3.13 2>/dev/null | tail -1 | grep . || command -v python3.13)")
export SAM_CLI_TELEMETRY := 0

.PHONY: serve test bench lint typecheck template-lint sam-validate build unit clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "smsbridge needs Python 3.11 or newer (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

serve: $(STAMP)  ## run the local stack on 127.0.0.1:3000 (ARGS="--port 8080" to change)
	$(BIN)/smsbridge serve $(ARGS)

test: lint typecheck template-lint sam-validate build  ## every test and check
	$(BIN)/pytest

bench: $(STAMP) $(TOOLS_STAMP)  ## every benchmark; writes docs/benchmarks.md (several minutes; QUICK=1: a small run, about 2)
	$(BIN)/python -m tests.bench.run $(if $(QUICK),--quick,)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

template-lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml

$(TOOLS_STAMP):
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check 'aws-sam-cli>=1.120'
	@touch $(TOOLS_STAMP)

sam-validate: $(TOOLS_STAMP)
	$(TOOLS)/bin/sam validate --lint

build: $(TOOLS_STAMP)  ## sam build (python3.13, no container); prints the artifact sizes
	@test -x "$(PY313_DIR)/python3.13" || { echo "sam build needs python3.13 (pyenv install 3.13 or set PY313_DIR)"; exit 1; }
	PATH="$(PY313_DIR):$$PATH" $(TOOLS)/bin/sam build
	@du -sh .aws-sam/build/*/ | sed 's|.aws-sam/build/||'

unit: $(STAMP)
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .smsbridge .pytest_cache .mypy_cache .ruff_cache .hypothesis
