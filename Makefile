# carecoord: one command to set up and run, one to test. `make` alone lists the targets.
#
# Servers for tests and benchmarks (real PostgreSQL from Debian's packages, a real single-node Kafka
# from Maven Central) are started by deploy/*.sh; see deploy/SCALING.md for production.
# Ports: CARECOORD_PG_PORT (55432), CARECOORD_KAFKA_PORT (9092), CARECOORD_KAFKA_CONTROLLER_PORT (9093).
# `make up BROKERS=3` starts a three-node Kafka cluster instead of the single node (its own ports,
# 19092-19097, CARECOORD_KAFKA_CLUSTER_PORT; its own data, var/kafka-cluster; the production
# replication settings of deploy/kafka/cluster.env). `make test` starts both, and a second
# PostgreSQL (CARECOORD_FAULT_PG_PORT, 55442; data in var/faults) that the fault tests of
# tests/cluster may restart.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# Touched after a successful install; older than pyproject.toml means the dependencies changed.
VENV_STAMP := $(VENV)/.carecoord-installed
KAFKA_BOOTSTRAP := 127.0.0.1:$(or $(CARECOORD_KAFKA_PORT),9092)
# Kafka nodes `make up` starts: 1 (the development node) or 3 (the cluster).
BROKERS ?= 1
KAFKA := deploy/kafka.sh --brokers $(BROKERS)
# The three-node cluster and the restartable PostgreSQL of the fault tests (tests/cluster).
CLUSTER := deploy/kafka.sh --brokers 3
FAULT_VAR := $(abspath $(or $(CARECOORD_VAR),var))/faults
FAULT_PG := CARECOORD_VAR="$(FAULT_VAR)" CARECOORD_PG_PORT="$(or $(CARECOORD_FAULT_PG_PORT),55442)" deploy/postgres.sh
# Extra pytest arguments, e.g. make test PYTEST_ARGS='-k timeline -x'
PYTEST_ARGS ?=
# mypy only the package folders that have Python files yet (mypy fails on an empty folder).
MYPY_DIRS = $(foreach d,events runtime projections services carecoord,$(if $(wildcard $(d)/*.py $(d)/*/*.py),$(d)))

# The two variables tests read to find the real servers (and fail, not skip, without them).
SERVER_ENV = CARECOORD_TEST_POSTGRES_URL="$$(deploy/postgres.sh url)" CARECOORD_KAFKA_BOOTSTRAP="$(KAFKA_BOOTSTRAP)"
# And those the fault tests read (tests/support/cluster.py) to find the cluster and the PostgreSQL
# they may restart.
CLUSTER_ENV = CARECOORD_TEST_KAFKA_CLUSTER="$$($(CLUSTER) bootstrap)" \
  CARECOORD_TEST_FAULT_POSTGRES_URL="$$($(FAULT_PG) url)" CARECOORD_TEST_FAULT_POSTGRES_VAR="$(FAULT_VAR)"

.PHONY: help venv up down status browser lint test faults-up demo bench soak serve clean

help: ## List the targets
	@echo "carecoord make targets:"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-8s %s\n", $$1, $$2 }'

venv: $(VENV_STAMP) ## Create .venv (Python >= 3.11) and install the project with its dev tools

$(VENV_STAMP): pyproject.toml
	@if [[ ! -x $(PY) ]]; then \
	  py=""; \
	  for candidate in python3 python3.13 python3.12 python3.11; do \
	    if command -v $$candidate >/dev/null && $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then \
	      py=$$candidate; break; \
	    fi; \
	  done; \
	  [[ -n "$$py" ]] || { echo "need Python >= 3.11 (python3 --version: $$(python3 --version 2>&1))" >&2; exit 1; }; \
	  echo "creating $(VENV) with $$(command -v $$py) ($$($$py --version))"; \
	  if ! $$py -m venv $(VENV); then \
	    echo "venv failed; Debian's python3 needs python3-venv: installing it" >&2; \
	    rm -rf $(VENV); \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	    $$py -m venv $(VENV); \
	  fi; \
	fi
	$(PY) -m pip install -q --disable-pip-version-check --progress-bar off -e '.[dev]'
	@touch $@

up: venv ## Start PostgreSQL and Kafka (BROKERS=3: a three-node cluster) and create the topics
	deploy/postgres.sh start
	$(KAFKA) start
	env $$($(KAFKA) env) $(PY) deploy/topics.py

# The cluster and the restartable PostgreSQL of the fault tests, beside what `up` starts.
faults-up:
	$(CLUSTER) start
	$(FAULT_PG) start

down: ## Stop everything `up` and `test` started: Kafka (one node and cluster), PostgreSQL (data kept in var/)
	deploy/kafka.sh --brokers 1 stop
	$(CLUSTER) stop
	deploy/postgres.sh stop
	$(FAULT_PG) stop

status: ## Show whether PostgreSQL and Kafka are running (non-zero exit if either is not; BROKERS=3: the cluster)
	@rc=0; deploy/postgres.sh status || rc=1; $(KAFKA) status || rc=1; exit $$rc

browser: ## Install headless Chromium (Debian's package) for the calendar's browser test
	deploy/browser.sh install

lint: venv ## ruff, mypy, and the layers (import-linter: nothing imports upward)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(if $(MYPY_DIRS),$(VENV)/bin/mypy $(MYPY_DIRS),@echo "mypy: no Python files in events runtime projections services carecoord yet")

test: venv up browser faults-up ## Lint, then run every test against the real PostgreSQL and Kafka (and Chromium, and the fault tests against the cluster)
	@$(MAKE) --no-print-directory lint
	$(SERVER_ENV) $(CLUSTER_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)

demo: venv ## Run the demo (embedded: no servers needed)
	$(VENV)/bin/carecoord demo

bench: venv up ## Run the benchmarks against the real servers
	$(SERVER_ENV) $(PY) -m benchmarks

# SOAK_MINUTES (30), SOAK_RATE (100 commands/s), SOAK_RESTART_MINUTES (5), SOAK_WINDOW_MINUTES (5):
# see benchmarks/soak.py. Not part of `make test` or CI.
soak: venv ## Soak: 30 min at 100 commands/s on the three-node cluster, a broker restarted every 5 min
	deploy/postgres.sh start
	$(CLUSTER) start
	CARECOORD_TEST_POSTGRES_URL="$$(deploy/postgres.sh url)" CARECOORD_TEST_KAFKA_CLUSTER="$$($(CLUSTER) bootstrap)" \
	  $(PY) -m benchmarks.soak

serve: venv ## Run the HTTP API
	$(VENV)/bin/carecoord serve

clean: ## Stop the servers and delete their data (var/ and this checkout's PostgreSQL clusters)
	deploy/kafka.sh --brokers 1 stop
	$(CLUSTER) stop
	deploy/postgres.sh destroy
	$(FAULT_PG) destroy
	rm -rf var
