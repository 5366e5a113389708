# Customer 360 platform: one entry point. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
LOCAL := deploy/local
PYTEST_ARGS ?=

.PHONY: help install infra-up infra-down up down clean status test test-night test-fast lint format schemas bench token

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install the project with pinned dependencies
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[dev]' -c constraints.txt
	@rm -f $(VENV)/.installed-*; touch $@
	@echo "==> virtual environment ready in $(VENV)"

infra-up: install ## start Kafka and PostgreSQL, create topics, migrate databases
	@$(LOCAL)/kafka.sh check && $(LOCAL)/postgres.sh check
	@$(LOCAL)/postgres.sh start
	@$(LOCAL)/kafka.sh start
	@$(LOCAL)/provision.sh

infra-down: ## stop Kafka and PostgreSQL (data kept)
	@$(LOCAL)/kafka.sh stop
	@$(LOCAL)/postgres.sh stop

up: infra-up ## run the whole platform locally with demo data
	@$(LOCAL)/oidc.sh start
	@$(LOCAL)/platform.sh start
	@$(LOCAL)/demo.sh
	@$(LOCAL)/welcome.sh

down: ## stop everything 'make up' started (data kept)
	@$(LOCAL)/platform.sh stop
	@$(LOCAL)/kafka.sh stop
	@$(LOCAL)/postgres.sh stop

clean: down ## stop everything and delete local data (Kafka log, databases, logs)
	@$(LOCAL)/kafka.sh clean
	@$(LOCAL)/postgres.sh clean
	@rm -rf .local/logs .local/run .local/demo-loaded /tmp/c360-faust

status: ## what is running
	@$(LOCAL)/postgres.sh status; $(LOCAL)/kafka.sh status; $(LOCAL)/platform.sh status

lint: install ## ruff, mypy and the layering contracts (import-linter, pyproject's [tool.importlinter])
	@$(BIN)/ruff check .
	@$(BIN)/mypy shared services demo bench
	@$(BIN)/lint-imports --no-cache
	@echo "==> lint clean"

format: install ## apply ruff's formatter and import sorting
	@$(BIN)/ruff check --fix --select I .
	@$(BIN)/ruff format .

test: lint infra-up ## lint, the whole test suite against real Kafka and PostgreSQL, then its night pass
	@$(BIN)/pytest $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-night

# The tests marked `clock` once more with the platform's clock (shared/clock.py) of every process
# they start (pytest, APIs, relays, workers) at 02:30 UTC on a Sunday: 05:30 in Europe/Istanbul,
# inside the campaigns' quiet hours (21:00-08:00) in every test customer's zone, whatever the real
# time is. C360_CLOCK_OFFSET_SECONDS moves the clock forward (0-7 days) in local and test
# environments only; time still flows. (libfaketime was tried: 0.9.10 breaks Python's sleeps and
# timed waits, whether or not it fakes the monotonic clock.)
test-night: infra-up ## the clock-dependent tests again, with the platform's clock at a Sunday night
	@offset=$$(( $$(date -u -d 'next sunday 02:30' +%s) - $$(date -u +%s) )); \
	seen=$$(C360_CLOCK_OFFSET_SECONDS=$$offset $(BIN)/python -c 'from shared.clock import utc_now; print(utc_now().strftime("%a %H:%M"))'); \
	case "$$seen" in "Sun 02:3"*) ;; *) echo "the clock offset did not take (the platform saw $$seen)" >&2; exit 1;; esac; \
	echo "==> night pass: the tests marked 'clock' at $$seen UTC (C360_CLOCK_OFFSET_SECONDS=$$offset)"; \
	C360_CLOCK_OFFSET_SECONDS=$$offset $(BIN)/pytest -m clock $(PYTEST_ARGS)

test-fast: install ## unit tests only (no infrastructure)
	@$(BIN)/pytest -q tests -k unit $(PYTEST_ARGS)

schemas: install ## regenerate schemas/ and docs/asyncapi.yaml from the event models
	@$(BIN)/python -m shared.schemagen

bench: infra-up ## run the benchmarks against the real local infrastructure
	@$(BIN)/python -m bench $(BENCH_ARGS)

token: install ## print an admin token for local use
	@$(BIN)/c360 token
