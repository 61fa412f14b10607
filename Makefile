# The README's commands. `make demo` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := .cache/uv/bin/uv
PY := .venv/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_CACHE_DIR ?= $(HOME)/.cache/uv

.PHONY: help env demo test test-fast test-services lint typecheck services-up services-down \
        fabric-up fabric-down airflow bench bench-full clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv .cache/uv
	.cache/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock scripts/apt-packages.txt
	bash scripts/system-deps.sh
	$(UV) sync --frozen --python python3.11 --compile-bytecode
	@touch $@

env: .venv/.synced ## Create or update the Python environment from the lock

demo: env ## Run the main job on the embedded default (state under var/)
	$(PY) -m hub.demo

test: env ## Lint, type-check and run the whole suite (fast tier, then services tier)
	bash scripts/test.sh

test-fast: env ## Only the fast tier (no servers)
	bash scripts/test.sh fast

test-services: env ## Only the services tier (starts the servers it needs)
	bash scripts/test.sh services

lint: env ## ruff format check and lint
	.venv/bin/ruff format --check .
	.venv/bin/ruff check .

typecheck: env ## mypy --strict on the pure core
	.venv/bin/mypy

services-up: env ## Start PostgreSQL, MinIO, SoftHSM2, Airflow and Fabric on 127.0.0.1
	bash scripts/services.sh up

services-down: ## Stop the services started by services-up
	bash scripts/services.sh down

fabric-up: env ## Build (once) and start the Fabric network on 127.0.0.1
	bash scripts/fabric.sh up

fabric-down: ## Stop the Fabric network
	bash scripts/fabric.sh down

airflow: env ## Start the Airflow UI (api-server) on 127.0.0.1:8080 for the embedded default
	bash scripts/airflow.sh

BENCHES := $(filter-out table,$(basename $(notdir $(wildcard bench/[a-z]*.py))))

bench: env ## Run every benchmark at its quick size, then print the README's table
	@mkdir -p var/bench
	@set -o pipefail; failed=; for b in $(BENCHES); do \
		$(PY) -m bench.$$b --quick 2>&1 | tee var/bench/$$b-quick.log || failed="$$failed $$b"; \
	done; $(PY) -m bench.table; [ -z "$$failed" ] || { echo "failed:$$failed" >&2; exit 1; }

bench-full: env ## Run every benchmark at full size (long), then print the README's table
	@mkdir -p var/bench
	@set -o pipefail; failed=; for b in $(BENCHES); do \
		$(PY) -m bench.$$b 2>&1 | tee var/bench/$$b.log || failed="$$failed $$b"; \
	done; $(PY) -m bench.table; [ -z "$$failed" ] || { echo "failed:$$failed" >&2; exit 1; }

clean: ## Remove generated state (var/) but keep caches
	rm -rf var
