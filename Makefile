# smsbridge: `make serve` runs the whole loop locally; `make test` runs every test and check; `make deploy` deploys.
# Each bootstraps what it needs on a fresh machine: Python 3.11+ and make for serve and test; `make test` also
# installs the SAM CLI (about 340 MB, in .venv-tools) and uses Python 3.13 for the build check; `make deploy` needs
# Python 3.13 and AWS credentials.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CKSUM := $(shell cksum pyproject.toml | cut -d' ' -f1)
# Two install sets: the local stack alone (`make serve`), or everything `make test` needs (a superset).
LOCAL_STAMP := $(VENV)/.installed-local-$(CKSUM)
STAMP := $(VENV)/.installed-dev-$(CKSUM)
ARGS ?=
# The SAM CLI pins its own boto3 and click: it lives in a separate environment.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed-sam
SAM := $(TOOLS)/bin/sam
# `sam build` needs python3.13 (the Lambda runtime) on the PATH: take it from PATH or pyenv.
PY313_DIR ?= $(shell dirname "$$(ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.13*/bin/python3.13 2>/dev/null | tail -1 | grep . || command -v python3.13)")
HAVE_PY313 = "$(PY313_DIR)/python3.13" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null
PY313_MISSING := sam build needs Python 3.13 (the Lambda runtime) and none was found on the PATH or in pyenv. \
Install it (pyenv install 3.13, uv python install 3.13, or your system's python3.13 package) or set PY313_DIR \
to the directory holding python3.13.
export SAM_CLI_TELEMETRY := 0

.PHONY: serve test bench lint typecheck template-lint sam-validate build build-check deploy unit clean

define venv
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "smsbridge needs Python 3.11 or newer (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
endef

$(STAMP): pyproject.toml
	$(venv)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP) $(LOCAL_STAMP)

# The local stack alone (the package and moto): what `make serve` needs, about three quarters of the dev set.
$(LOCAL_STAMP): pyproject.toml
	$(venv)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[local]'
	@rm -f $(VENV)/.installed-local-* && touch $(LOCAL_STAMP)

serve: $(LOCAL_STAMP)  ## run the local stack on 127.0.0.1:3000 (ARGS="--port 8080" to change)
	$(BIN)/smsbridge serve $(ARGS)

test: lint typecheck template-lint sam-validate build-check  ## every test and check
	$(BIN)/pytest
	@$(HAVE_PY313) || echo "NOTE: the sam build check was skipped: $(PY313_MISSING)"

bench: $(STAMP) $(TOOLS_STAMP)  ## every benchmark; writes docs/benchmarks.md (about an hour on 2 cores; QUICK=1: a small run, a few)
	$(BIN)/python -m tests.bench.run $(if $(QUICK),--quick,)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

template-lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml

$(TOOLS_STAMP):
	@echo "Installing the SAM CLI into $(TOOLS) (about 340 MB, once)"
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check 'aws-sam-cli>=1.120'
	@touch $(TOOLS_STAMP)

sam-validate: $(TOOLS_STAMP)
	$(SAM) validate --lint

build: $(TOOLS_STAMP)  ## sam build (python3.13, no container); prints the artifact sizes
	@$(HAVE_PY313) || { echo "$(PY313_MISSING)"; exit 1; }
	PATH="$(PY313_DIR):$$PATH" $(SAM) build
	@du -sh .aws-sam/build/*/ 2>/dev/null | sed 's|.aws-sam/build/||'

# make test's build check: without Python 3.13 it says so and lets the other checks run, except under CI.
build-check: $(TOOLS_STAMP)
	@if $(HAVE_PY313); then $(MAKE) --no-print-directory build; \
	elif [ "$(CI)" = "true" ]; then echo "FAILED: $(PY313_MISSING)"; exit 1; \
	else echo "SKIPPED the sam build check: $(PY313_MISSING)"; fi

# make deploy: first scripts/deploy.py checks the region, AWS credentials, Python 3.13 and the SAM CLI (one line per
# missing thing, before anything is installed or asked), then asks what has no safe default (stack name, region,
# CI360 gateway and tenant, Twilio account SID; or STACK_NAME=, REGION=, CI360_GATEWAY_URL=, CI360_TENANT_ID=,
# TWILIO_ACCOUNT_SID= without a terminal) and saves it in samconfig.toml. Then it installs the SAM CLI if needed,
# builds, and deploys with every other parameter at its template default. GUIDED=1 asks again.
DEPLOY_SCRIPT := $(PYTHON) scripts/deploy.py
deploy:  ## check, ask what has no safe default (saved in samconfig.toml), build, deploy; prints the outputs
	@$(DEPLOY_SCRIPT) prepare --sam "$(SAM)" --python313 "$(PY313_DIR)/python3.13" \
		--python313-missing "$(PY313_MISSING)" $(if $(GUIDED),--ask-again,)
	@$(MAKE) --no-print-directory build
	@set -- $$($(DEPLOY_SCRIPT) saved) && test -n "$$2" && \
	if [ -t 0 ]; then confirm=""; else confirm="--no-confirm-changeset"; fi && \
	$(SAM) deploy --stack-name "$$1" --region "$$2" --no-fail-on-empty-changeset $$confirm && \
	$(SAM) list stack-outputs --stack-name "$$1" --region "$$2" --output table
	@$(DEPLOY_SCRIPT) next-steps

unit: $(STAMP)
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .smsbridge .pytest_cache .mypy_cache .ruff_cache .hypothesis
