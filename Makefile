# The only entry points a user needs. Every target installs what it is
# missing from the project's own pinned files, and nothing more: a second run
# reinstalls nothing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
PROFILE ?= reference
# Extra CDK context for one run, e.g. CONTEXT="-c network.nat_gateways=1".
CONTEXT ?=
# pytest-xdist workers for `make test`, each taking whole test files in the order tests/conftest.py
# gives them (FIRST: the longest first); they share the syntheses.
TEST_WORKERS ?= 2

# Hermetic synthesis: no telemetry, no notices or version checks, no probing
# of the EC2 metadata service for credentials, and no jsii banner on Node 20.
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true
export AWS_EC2_METADATA_DISABLED := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Bytecode and pytest's rewritten test modules are cached in __pycache__ (ignored by git), as Python does
# by default: where the environment turns that off, every run and every test worker compiles the app and
# rewrites the suite's asserts again (collection: 12.2 s against 5.9 s a worker).
export PYTHONDONTWRITEBYTECODE :=
# The CDK's built-in template validation only warns, and cfn-lint validates every
# template against the CloudFormation resource specifications strictly, per region
# (tests/test_compliance.py). Off, a synthesis of the app takes about 15 s less CPU.
export CDK_VALIDATION := false

CDK_FLAGS := --no-notices --no-version-reporting

.PHONY: help install synth test check lint report az-loss cost diagram graphviz bench drill rehearse deploy diff update-snapshots clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --no-input -r requirements-dev.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --no-input -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed ## install pinned Python and Node dependencies

synth: $(VENV)/.installed node_modules/.installed ## synthesize every stack offline (reference into cdk.out, dev and hybrid into cdk.out.<profile>)
	$(CDK) synth $(CDK_FLAGS) --quiet --output cdk.out -c profile=reference $(CONTEXT)
	$(CDK) synth $(CDK_FLAGS) --quiet --output cdk.out.dev -c profile=dev $(CONTEXT)
	$(CDK) synth $(CDK_FLAGS) --quiet --output cdk.out.hybrid -c profile=hybrid $(CONTEXT)
	@echo "templates and cdk-nag reports: cdk.out/, cdk.out.dev/ and cdk.out.hybrid/"

test: install ## the suite but its slow checks: unit, scripts, snapshots, cdk-nag, the deploy rehearsal
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow"

check: install ## the whole suite (CI): `make test` and the slow checks, cfn-lint, checkov, Control Tower, 16 sets
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(VENV)/.installed ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The assembly each profile's `make synth` writes, for the offline reports.
ASSEMBLIES := reference=cdk.out dev=cdk.out.dev
ASSEMBLY = $(if $(filter dev,$(PROFILE)),cdk.out.dev,cdk.out)

report: synth graphviz ## regenerate docs/compliance.md, the alarm tables of docs/operations.md, docs/az-loss.md, docs/cost.md (and the README's totals) and docs/diagrams/, offline
	$(PY) -m ops.compliance_report --output docs/compliance.md
	$(PY) -m ops.alarm_table
	$(PY) -m ops.az_loss --docs docs/az-loss.md $(ASSEMBLIES)
	$(PY) -m ops.cost --docs docs/cost.md --readme README.md $(ASSEMBLIES)
	$(PY) -m ops.diagram --out docs/diagrams $(ASSEMBLIES)

az-loss: synth ## for PROFILE: which services survive the loss of each zone; fails on any loss
	$(PY) -m ops.az_loss --assembly $(ASSEMBLY) --profile $(PROFILE)

cost: synth ## for PROFILE: the monthly cost estimate per stack (ops/prices/, assumptions: --assume in ops/cost.py)
	$(PY) -m ops.cost --assembly $(ASSEMBLY) --profile $(PROFILE)

diagram: synth graphviz ## draw the overview and mirror-set diagrams of both profiles into docs/diagrams/
	$(PY) -m ops.diagram --out docs/diagrams $(ASSEMBLIES)

# Graphviz renders the diagrams; it is a Debian package, not a Python one.
graphviz: ## install Graphviz's dot (Debian package graphviz) if it is missing
	@command -v dot >/dev/null || { \
	  echo "Graphviz's dot is missing: installing the Debian package graphviz (needs root and the Debian mirror)"; \
	  { apt-get install -y --no-install-recommends graphviz >/dev/null 2>&1 || \
	    { apt-get update >/dev/null && apt-get install -y --no-install-recommends graphviz >/dev/null; }; } || \
	  { echo "could not install graphviz: run 'apt-get update && apt-get install -y graphviz' as root, then retry"; exit 1; }; }

bench: install ## time synthesis against an empty app, and the test suite
	$(PY) -m ops.bench

drill: $(VENV)/.installed ## rehearse a primary loss locally (moto + status pages) and time both failover methods
	$(PY) -m ops drill --settings-profile $(PROFILE)

rehearse: $(VENV)/.installed node_modules/.installed ## cdk bootstrap + deploy of every stack but Eks into moto on 127.0.0.1, then drive the deployed retarget function
	$(CDK) synth $(CDK_FLAGS) --quiet --output cdk.out -c profile=reference $(CONTEXT)
	$(PY) -m ops.rehearsal --assembly cdk.out

update-snapshots: install ## accept template changes into the snapshots, deliberately
	$(VENV)/bin/pytest tests/test_snapshots.py --snapshot-update

diff: $(VENV)/.installed node_modules/.installed ## compare PROFILE with what is deployed (needs credentials)
	$(CDK) diff $(CDK_FLAGS) -c profile=$(PROFILE) $(CONTEXT)

deploy: $(VENV)/.installed node_modules/.installed ## deploy PROFILE; refuses while placeholders remain
	$(PY) -m ops.preflight --profile $(PROFILE) $(CONTEXT)
	$(CDK) deploy $(CDK_FLAGS) --all -c profile=$(PROFILE) $(CONTEXT)

clean: ## remove synthesized output (not the installed dependencies)
	rm -rf cdk.out cdk.out.dev cdk.out.hybrid .pytest_cache
