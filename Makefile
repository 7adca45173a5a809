# smsbridge: `make serve` runs the whole loop locally; `make test` runs every test and check.
# Both bootstrap .venv on a fresh machine (Python 3.11+ is all they need).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
ARGS ?=

.PHONY: serve test lint typecheck template-lint unit clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "smsbridge needs Python 3.11 or newer (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

serve: $(STAMP)  ## run the local stack on 127.0.0.1:3000 (ARGS="--port 8080" to change)
	$(BIN)/smsbridge serve $(ARGS)

test: lint typecheck template-lint  ## every test and check
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

template-lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml

unit: $(STAMP)
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) .aws-sam .smsbridge .pytest_cache .mypy_cache .ruff_cache .hypothesis
