# Scholarflow: the common commands. Each target sets up what it needs from a fresh clone.
SHELL := /bin/bash
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
RUN := $(UV) run --frozen
export SCHOLARFLOW_HOME ?= $(CURDIR)/.scholarflow
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo test lint format bench serve clean engine

$(TOOLS)/bin/uv:
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --all-groups --quiet
	touch $@

## engine: build the embedded OpenSearch with Maven (a no-op when current; says so without Java)
engine: .venv/.synced
	$(RUN) scholarflow engine build

## demo: ingest the seeds into the embedded engine, give them vectors, search in both languages
demo: engine
	SCHOLARFLOW_DOI_LOOKUP=cache-only $(RUN) scholarflow cache import seeds/doi_cache.jsonl
	SCHOLARFLOW_DOI_LOOKUP=cache-only $(RUN) scholarflow ingest seeds/records
	$(RUN) scholarflow embed
	$(RUN) scholarflow search "白细胞减少" --size 3
	$(RUN) scholarflow search "leukopenia rituximab" --size 3
	$(RUN) scholarflow search "系統性紅斑狼瘡" --size 3
	$(RUN) scholarflow search "用户界面 选择架构" --size 3
	$(RUN) scholarflow status

## serve: the Prefect server and UI, the embedded engine and the deployments; Ctrl-C stops all
serve: engine
	$(RUN) scholarflow serve

## test: lint, then the whole test suite against the embedded engine and a real Prefect server
test: engine lint
	$(RUN) pytest

## bench: the performance tables (100k records; `make bench QUICK=1` for the quick version)
bench: engine
	$(RUN) python -m benchmarks $(if $(QUICK),--quick)

lint: .venv/.synced
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: .venv/.synced
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

clean:
	-$(RUN) scholarflow engine stop
	rm -rf .venv $(TOOLS) .scholarflow .pytest_cache engine/target
