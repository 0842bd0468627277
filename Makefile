# Two commands to know: `make run` (start the stack) and `make test` (run the tests).
# Everything else is a helper. The scripts in scripts/ do the work; see their headers.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ARGS ?=
N ?= 20
# embedded (SQLite, LocalExecutor, local MLflow) or prod (PostgreSQL, Celery on Redis, MLflow with
# basic-auth; settings in .env, see .env.example): `make run PROFILE=prod`, `make stop PROFILE=prod`.
PROFILE ?= embedded
export MLOPS_PROFILE := $(PROFILE)

.PHONY: help run stop test test-fast lint format status logs lock clean

help: ## Show this help
	@echo "Usage: make <target>"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-10s %s\n", $$1, $$2 }'
	@echo
	@echo "CLI against the running stack:  . .venv/bin/activate && . scripts/env.sh"

run: ## Start MLflow + Airflow (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1; PROFILE=prod for the production profile
	@scripts/run.sh

stop: ## Stop everything `make run` started (by PID file)
	@scripts/stop.sh

test: ## The whole suite (what CI runs) in a throw-away Airflow/MLflow home; pass options with ARGS="-k drift"
	@scripts/test.sh $(ARGS)

test-fast: ## Unit, DAG-integrity and deployment tests only: no servers, two pytest-xdist workers, about a minute
	@scripts/test.sh -m "not (e2e or chaos or live or prod)" -n 2 $(ARGS)

lint: ## ruff: lint rules of pyproject.toml and the formatter's check (CI fails on any finding)
	@bash scripts/bootstrap.sh && .venv/bin/ruff check . && .venv/bin/ruff format --check .

format: ## ruff: format the code and fix what can be fixed automatically (imports, upgrades)
	@bash scripts/bootstrap.sh && .venv/bin/ruff format . && .venv/bin/ruff check --fix .

status: ## Which components run (PID, memory) and what the health endpoints say
	@scripts/run.sh status

logs: ## Last N (default 20) lines of each component log, e.g. make logs N=100
	@scripts/run.sh logs $(N)

lock: ## Re-resolve requirements.txt into requirements.lock, then requirements-dev.txt (within it) into requirements-dev.lock
	uv pip compile requirements.txt -o requirements.lock -p 3.11 --no-header
	uv pip compile requirements-dev.txt -c requirements.lock -o requirements-dev.lock -p 3.11 --no-header

clean: stop ## Stop, then delete the local Airflow home (.airflow, or .airflow-prod with PROFILE=prod)
	rm -rf $(if $(filter prod,$(PROFILE)),.airflow-prod,.airflow)
