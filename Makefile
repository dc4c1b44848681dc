# offpeak developer entry points. `make help` lists them.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# Where the tool venvs live: the checkout, unless the caller keeps them elsewhere between fresh
# clones (.ci/run does, as it keeps cargo's target dir).
OFFPEAK_VENV_DIR ?= .
VENV := $(abspath $(OFFPEAK_VENV_DIR)/.venv)
REQUIREMENTS := tools/requirements-test.txt
# A venv's stamp is inside it (deleting the venv forgets it was installed) and named by the
# requirements' content: a changed pin re-installs; a fresh clone, whose files are all newer than
# any stamp, does not.
stamp = $(1)/.offpeak-$(shell sha256sum $(2) | cut -c1-16).stamp
VENV_STAMP := $(call stamp,$(VENV),$(REQUIREMENTS))
# The tests, the demo and the benchmarks start moto from this venv (tests/src/lib.rs, `venv`).
export OFFPEAK_VENV := $(VENV)

# Deploy tools, each in its own venv: checkov pins an older boto3 than aws-sam-cli needs.
VENV_SAM := $(abspath $(OFFPEAK_VENV_DIR)/.venv-sam)
VENV_SAM_STAMP := $(call stamp,$(VENV_SAM),tools/requirements-sam.txt)
VENV_CHECKOV := $(abspath $(OFFPEAK_VENV_DIR)/.venv-checkov)
VENV_CHECKOV_STAMP := $(call stamp,$(VENV_CHECKOV),tools/requirements-checkov.txt)
# cargo-lambda (and the zig it cross-compiles with) live in the SAM venv; `sam build` finds them on PATH.
SAM := PATH="$(VENV_SAM)/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(VENV_SAM)/bin/sam
# Extra `sam deploy` flags, e.g. `make deploy SAM_DEPLOY_FLAGS=--guided` the first time.
SAM_DEPLOY_FLAGS ?=

# Taken when make reads this file, so `make test` reports time spent on the venv too.
START := $(shell date +%s)

.PHONY: help venv test demo bench venv-bench deploy deploy-params venv-sam venv-checkov lint-template sam-build arm64-target

help:
	@echo "make venv    Python test tools (moto server) in $(VENV)"
	@echo "make test    fmt check, clippy, template lint, every test in the workspace"
	@echo "make demo    a week of ticks in fast-forward through all three functions, against moto and PostgreSQL"
	@echo "make bench   every number in BENCHMARKS.md: calendar, masking, cold start, calls per tick"
	@echo "make lint-template  sam validate --lint, cfn-lint and checkov on template.yaml"
	@echo "make sam-build      sam build: three arm64 bootstrap binaries in .aws-sam/build"
	@echo "make deploy-params  write the parameters the schedule decides into samconfig.toml"
	@echo "make deploy  validate, check samconfig against the schedule, sam build, sam deploy (first time: SAM_DEPLOY_FLAGS=--guided)"

venv: $(VENV_STAMP)

# Re-runs only when the pinned requirements change (or the venv is gone).
$(VENV_STAMP): | $(REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	touch $@

test: venv lint-template
	@OFFPEAK_TEST_START=$(START) bash tools/test.sh

# A week of ticks in fast-forward through the three functions, against moto and a local PostgreSQL
# (tests/src/bin/demo.rs, infra/demo/schedules.yaml).
demo: venv
	cargo run -q -p offpeak-tests --bin offpeak-demo

# The Python baseline the cold-start benchmark compares with (boto3 + Lambda's runtime client).
VENV_BENCH := .venv-bench
VENV_BENCH_STAMP := $(VENV_BENCH)/.offpeak-requirements.stamp

venv-bench: $(VENV_BENCH_STAMP)

$(VENV_BENCH_STAMP): tools/requirements-bench.txt
	$(PYTHON) -m venv $(VENV_BENCH)
	$(VENV_BENCH)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-bench.txt
	touch $@

# Criterion benches print their own reports; the last one rewrites its sections of BENCHMARKS.md
# (cold start against the Python baseline, AWS calls and wall time per tick; see its docs).
bench: venv venv-bench
	cargo bench -p offpeak-shared --bench calendar
	cargo build --release -p offpeak-cli --bin offpeak
	cargo bench -p offpeak-tests --bench masking
	cargo bench -p offpeak-tests --bench refresh_scaling
	cargo bench -p offpeak-tests --bench lambda

venv-sam: $(VENV_SAM_STAMP)

$(VENV_SAM_STAMP): | tools/requirements-sam.txt
	$(PYTHON) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-sam.txt
	touch $@

venv-checkov: $(VENV_CHECKOV_STAMP)

$(VENV_CHECKOV_STAMP): | tools/requirements-checkov.txt
	$(PYTHON) -m venv $(VENV_CHECKOV)
	$(VENV_CHECKOV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-checkov.txt
	touch $@

# Every check must pass with no error; checkov skips live inline in template.yaml, each with its reason.
# --skip-download: checkov would otherwise try its vendor's API first (and carry on without it).
lint-template: venv-sam venv-checkov
	$(SAM) validate --lint
	$(VENV_SAM)/bin/cfn-lint template.yaml
	$(VENV_CHECKOV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

# The arm64 standard library is installed before SAM starts its parallel builds: left to
# cargo-lambda, each build would try to install it at once, and on a fresh machine one fails.
ARM64_TARGET := aarch64-unknown-linux-gnu

arm64-target:
	@rustup target list --installed | grep -qx $(ARM64_TARGET) || rustup target add $(ARM64_TARGET)

sam-build: venv-sam arm64-target
	$(SAM) build

OFFPEAK := cargo run -q -p offpeak-cli --

# The stack parameters that follow from the schedule (target lists, clone prefix, secrets),
# written into samconfig.toml; review the diff, then `make deploy`.
deploy-params:
	$(OFFPEAK) deploy-params

# Refuses to deploy a schedule that does not validate, or parameters (and so IAM) that no longer
# match it. The schedule travels as a layer (infra/): editing it rebuilds no Rust.
deploy: venv-sam arm64-target
	$(OFFPEAK) validate
	$(OFFPEAK) deploy-params --check
	$(SAM) build
	$(SAM) deploy $(SAM_DEPLOY_FLAGS)
