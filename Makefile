# Sextant developer targets. `make` alone lists them.
#
# Debug builds and tests always select the whole workspace with its dev-dependencies
# (`--workspace --tests`): cargo then resolves dependency features once, so `make test`,
# `make e2e` and the debug binary that the multi-process tests spawn (target/debug/sextant)
# share one build instead of compiling the dependency graph two or three times.

CARGO ?= cargo
CONFIG ?= examples/all.yaml
RELEASE_BIN := ./target/release/sextant
DEBUG_BUILD := $(CARGO) build --workspace --bins --tests
FUZZ_TARGET ?= remote_write_v1
FUZZ_SECONDS ?= 60
LOADGEN_ARGS ?= --help

.DEFAULT_GOAL := help
.PHONY: help build run test e2e promql-conformance logql-conformance traceql-conformance lint bench loadgen fuzz clean-data helm-lint check-yaml

help: ## List the targets
	@echo 'usage: make <target>'
	@echo
	@grep -hE '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN { FS = ":.*## " } { printf "  %-12s %s\n", $$1, $$2 }'

build: ## Build the release binary target/release/sextant
	$(CARGO) build --release -p sextant-server

run: build ## Run every component in one process on examples/all.yaml (data in ./data)
	@mkdir -p data
	@echo 'sextant: starting -target=all with $(CONFIG); data goes to ./data'
	@echo 'sextant: point Prometheus at it (examples/prometheus.yml):'
	@echo '    remote_write:'
	@echo '      - url: http://localhost:8080/api/v1/push'
	@echo 'sextant: logs: Loki push http://localhost:8080/loki/api/v1/push; OTLP logs and traces:'
	@echo '    gRPC localhost:4317, HTTP http://localhost:8080/otlp/v1/{logs,traces}'
	@echo 'sextant: Grafana: Prometheus http://localhost:8080/prometheus, Loki and Tempo http://localhost:8080'
	@echo 'sextant: then look at http://localhost:8080/ring and http://localhost:8080/metrics'
	$(RELEASE_BIN) -target=all -config.file=$(CONFIG)

test: ## Build the debug binary, then run every test that needs no external peer
	$(DEBUG_BUILD)
	$(CARGO) test --workspace

e2e: ## Install the e2e peers (tests/setup-e2e.sh: Prometheus, Alertmanager, s3s-fs, a Python venv with the OpenTelemetry and logging clients), then run the end-to-end tests (ignored tests named e2e_*)
	bash tests/setup-e2e.sh
	$(DEBUG_BUILD)
	$(CARGO) test --workspace --tests -- --ignored --nocapture e2e_

promql-conformance: ## PromQL .test scripts (SEXTANT_PROMQL_TESTDATA, default ../shared/testdata/promql): one line per file
	SEXTANT_PROMQL_FAILURES=$${SEXTANT_PROMQL_FAILURES:-0} cargo test -p sextant-metrics --test promql_conformance -- --nocapture

logql-conformance: ## LogQL .logqltest scripts (SEXTANT_LOGQL_TESTDATA, default ../shared/testdata/logql): one line per file
	SEXTANT_LOGQL_FAILURES=$${SEXTANT_LOGQL_FAILURES:-0} cargo test -p sextant-logs --test logql_conformance -- --nocapture

traceql-conformance: ## Tempo's TraceQL parser corpus (SEXTANT_TRACEQL_TESTDATA, default ../shared/testdata/traceql): one line per list
	SEXTANT_TRACEQL_FAILURES=$${SEXTANT_TRACEQL_FAILURES:-0} cargo test -p sextant-traces --test traceql_conformance -- --nocapture

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: ## Criterion benches (results in target/criterion; numbers in benches/README.md)
	$(CARGO) bench -p sextant-benches

loadgen: ## Remote-write load generator against a running Sextant (LOADGEN_ARGS='...')
	$(CARGO) run --release -p sextant-benches --bin sextant-loadgen -- $(LOADGEN_ARGS)

fuzz: ## Fuzz a decoder for FUZZ_SECONDS (needs `cargo install cargo-fuzz`)
	@command -v cargo-fuzz >/dev/null 2>&1 || { \
		echo 'fuzz: cargo-fuzz is missing; install it with: cargo install cargo-fuzz'; exit 1; }
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(FUZZ_TARGET) -- -max_total_time=$(FUZZ_SECONDS)

clean-data: ## Delete ./data (WAL, ring tokens and blocks of `make run`)
	rm -rf data

helm-lint: ## Lint and render the Helm chart (skipped when helm is not installed)
	@if command -v helm >/dev/null 2>&1; then \
		helm lint charts/sextant && helm template sextant charts/sextant --namespace sextant >/dev/null && \
		echo 'helm-lint: charts/sextant ok'; \
	else \
		echo 'helm-lint: helm not installed, skipped (Debian bookworm does not package it)'; \
	fi

check-yaml: ## Parse every YAML file outside the chart templates (needs python3 with PyYAML)
	python3 -c 'import sys, yaml; [list(yaml.safe_load_all(open(p))) for p in sys.argv[1:]]; print("check-yaml: %d files ok" % (len(sys.argv) - 1))' \
		$(wildcard examples/*.yaml examples/*.yml k8s/*.yaml charts/sextant/*.yaml)
