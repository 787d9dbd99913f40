# zdm: zero-downtime PostgreSQL schema migrations as Temporal workflows.
#
#   make build      bin/zdm, bin/zdm-worker, bin/zdm-demoapp
#   make up         build, then start PostgreSQL, Temporal, Unleash and the worker (.stack/)
#   make down       stop what `make up` started
#   make test       unit and integration tests against the real stack
#   make test-unit  go test -short, nothing to start
#   make compose-config  validate docker-compose.yml (no Docker engine needed)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO ?= go
TEMPORAL_CLI_VERSION := v1.5.1
PG_VERSION := 15
GO_TEST_TIMEOUT ?= 40m
GO_TEST_FLAGS ?=

.PHONY: build up down status test test-unit demo demo-fault bench bench-pgbench bench-walwait ui-check lint deps-system compose-config FORCE

build: bin/zdm bin/zdm-worker bin/zdm-demoapp bin/zdm-slackbot

# Go decides what is stale; FORCE makes make always ask it.
bin/zdm: FORCE
	$(GO) build -o $@ ./starter
bin/zdm-worker: FORCE
	$(GO) build -o $@ ./worker
bin/zdm-demoapp: FORCE
	$(GO) build -o $@ ./demoapp
bin/zdm-slackbot: FORCE ; $(GO) build -o $@ ./slackbot

# The Temporal CLI (dev server + operator commands); built once unless one is on PATH.
bin/temporal:
	@if command -v temporal >/dev/null 2>&1; then \
		echo "using temporal on PATH: $$(command -v temporal)"; \
	else \
		echo "building Temporal CLI $(TEMPORAL_CLI_VERSION) into bin/ (takes a few minutes, once)"; \
		GOBIN="$(CURDIR)/bin" $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION); \
	fi

# What the tests need from Debian; a no-op where it is already installed.
deps-system:
	@missing=(); \
	[[ -x /usr/lib/postgresql/$(PG_VERSION)/bin/postgres ]] || missing+=(postgresql-$(PG_VERSION)); \
	command -v psql >/dev/null && command -v pg_isready >/dev/null || missing+=(postgresql-client-$(PG_VERSION)); \
	command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing+=(docker-compose); \
	command -v prometheus >/dev/null || missing+=(prometheus); \
	if (( $${#missing[@]} )); then \
		echo "installing $${missing[*]} with apt-get"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq "$${missing[@]}"; \
	fi
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed for Unleash" >&2; exit 1; }

# Parses and validates docker-compose.yml as `docker compose up` would, without an engine.
compose-config: deps-system
	@if docker compose version >/dev/null 2>&1; then c=(docker compose); else c=(docker-compose); fi; \
	"$${c[@]}" -f docker-compose.yml config -q && "$${c[@]}" -f docker-compose.yml --profile slack --profile cluster config -q && \
	echo "docker-compose.yml is valid, with profiles slack and cluster too ($${c[*]} config)"

up: build deps-system bin/temporal
	scripts/stack.sh up

down:
	scripts/stack.sh down

status:
	scripts/stack.sh status

test: deps-system bin/temporal
	scripts/stack.sh up --deps
	eval "$$(scripts/stack.sh env)"; \
	export ZDM_INTEGRATION=1; \
	$(GO) test -count=1 -timeout $(GO_TEST_TIMEOUT) $(GO_TEST_FLAGS) ./...

test-unit:
	$(GO) test -short $(GO_TEST_FLAGS) ./...

demo: build deps-system bin/temporal
	scripts/demo.sh

# The guarded switch: read_new rolls out in steps while the new read path fails 10% of its
# reads; zdm's guard sees it in Prometheus and switches read_new back by itself.
demo-fault: build deps-system bin/temporal
	ZDM_DEMO_FAULT=1 scripts/demo.sh

# The Temporal UI, for real: approve a gate from its Send a Signal dialog in headless
# Chromium (installs chromium and playwright-core when missing; not part of make test).
ui-check: build deps-system bin/temporal
	scripts/ui-check.sh

bench: deps-system
	scripts/bench.sh

# pgbench_accounts.abalance int -> bigint under pgbench at 300 tps, by zdm and by pgroll
# v0.14.0 side by side (ZDM_BENCH_SCALE, default 100: 10M rows; see the script's header).
# `make bench` runs it too when ZDM_BENCH_PGBENCH=1.
bench-pgbench: deps-system bin/temporal
	scripts/bench-pgbench.sh

# A plain batched UPDATE of the bench-pgbench table under pgbench -R 300, at several paces:
# what any backfill costs the application here, and what it waits on (no zdm involved).
bench-walwait: deps-system
	scripts/bench-walwait.sh

lint:
	@out="$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...) | sort -u)"; \
	if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
