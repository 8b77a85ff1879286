# The two commands: `make demo` and `make test`. Both set up everything they need.
SHELL := /bin/bash
PY := .venv/bin/python
export UV_PYTHON_DOWNLOADS := never
# Development secrets and the sandboxes are allowed only where this says so; unset, a service is in
# production and refuses them.
export REBOUND_ENVIRONMENT ?= development
# Kafka: one broker, or a cluster with REBOUND_KAFKA_BROKERS=3 (three KRaft nodes, every topic in
# three copies, min.insync.replicas 2: deploy/local/infra.sh); clients are given every broker.
export REBOUND_KAFKA_BROKERS ?= 1
ifneq ($(REBOUND_KAFKA_BROKERS),1)
export REBOUND_KAFKA_BOOTSTRAP ?= $(shell REBOUND_KAFKA_BROKERS=$(REBOUND_KAFKA_BROKERS) deploy/local/infra.sh bootstrap)
export REBOUND_TOPIC_REPLICATION ?= $(shell REBOUND_KAFKA_BROKERS=$(REBOUND_KAFKA_BROKERS) deploy/local/infra.sh replication)
endif
# PostgreSQL: one server, or a cluster with REBOUND_POSTGRES_NODES=3 (Patroni on three nodes, a
# synchronous standby, etcd: deploy/local/postgres-cluster.sh); clients are given every node and
# connect to whichever is the primary.
export REBOUND_POSTGRES_NODES ?= 1
ifneq ($(REBOUND_POSTGRES_NODES),1)
export REBOUND_DATABASE_URL ?= $(shell REBOUND_POSTGRES_NODES=$(REBOUND_POSTGRES_NODES) deploy/local/infra.sh database-url)
endif
# Processes of each service, each in its service's consumer groups (make demo REPLICAS=3).
export REBOUND_REPLICAS ?= $(or $(REPLICAS),1)

.PHONY: demo test setup infra services stop status lint docs browser asyncapi-parser axe promtool prometheus bench bench-first-notice bench-what-if bench-rebooking bench-roadef demo-small play \
	faults faults-short fuzz containers test-containers backup restore-drill

# The locked Python dependencies in .venv (uv installs them).
setup: .venv/.synced

# Python 3.11 is the machine's own; uv (from PyPI) installs the locked dependencies beside it.
.venv/.synced: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	python3 -m uv sync --locked --python "$$(command -v python3.11 || command -v python3)"
	@touch $@

# Kafka and PostgreSQL from the local scripts (deploy/local/infra.sh), installed if missing.
infra: setup
	deploy/local/infra.sh start

# The sandbox providers and the four services as local processes (deploy/local/services.sh).
services: infra
	deploy/local/services.sh start

# The real day: 8 February 2013 (the "Nemo" blizzard) replayed at 60× through the local services,
# from a clean slate; the ops board shows it unfold. SPEED=burst or SPEED=1, DATE=2013-… also work.
# A stretch of the day with no announcement passes in at most MAX_QUIET seconds (the night before
# the storm would otherwise hold the screen for minutes); PACING=strict keeps the day's own pace.
DATE ?= 2013-02-08
SEED ?= 2013
demo: SPEED ?= 60
demo: MAX_QUIET ?= 3
demo: infra promtool
	deploy/local/services.sh stop
	$(PY) -m bench.reset
	REBOUND_REBOOKING_PARTNERS="$$($(PY) -c 'from bench.scenario import PARTNERS_2013; print(PARTNERS_2013)')" \
		deploy/local/services.sh start
	deploy/local/prometheus.sh start
	@echo
	@echo "Where to look while it runs:"
	@echo "  ops board           http://127.0.0.1:8001/ops    (ops token: REBOUND_API_KEYS, dev default dev-only-key)"
	@echo "  partner ingest API  http://127.0.0.1:8001/docs   (signed: dev key id demo-dev, secret dev-only-partner-secret)"
	@echo "  event contract      http://127.0.0.1:8001/asyncapi.json   (AsyncAPI 3.1: every topic, key and message)"
	@echo "  contacts API        http://127.0.0.1:8004/docs   (notify)"
	@echo "  entitlements API    http://127.0.0.1:8003/docs   (evaluate a case; bearer dev-only-key)"
	@echo "  refunds paid        http://127.0.0.1:8091/v1/payouts  (sandbox payment provider)"
	@echo "  metrics             http://127.0.0.1:800{1,2,3,4}/metrics  (bearer: a monitoring key; dev-only-key)"
	@echo "  Prometheus, alerts  http://127.0.0.1:9090/alerts  (scraping the four services; deploy/prometheus/)"
	@echo "  SMS and email sent  http://127.0.0.1:8090/v1/sms?since=0  http://127.0.0.1:8090/v1/mail?since=0"
	@echo "  choice page         the link in each \"new plan\" message: keep, change or refund"
	@echo "  logs                .local/logs/*.log, .local/kafka/kafka.log, .local/postgres/postgres.log"
	@echo "  stop everything     make stop"
	@echo
	$(PY) -m bench.run --running --date $(DATE) --speed $(SPEED) --seed $(SEED) \
		$(if $(filter strict,$(PACING)),,$(if $(filter-out burst,$(SPEED)),--max-quiet $(MAX_QUIET)))

# A small scenario (one cancelled flight, 17 passengers) against the running services.
demo-small: services
	$(PY) -m bench.small_scenario

# The same scenario through every service's handlers in one process, in about a second: no Kafka,
# no services, a scratch database (bench/play.py).
play: infra
	$(PY) -m bench.play

# Debian's Chromium for the ops board's browser test (Playwright drives it; it downloads nothing).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The official AsyncAPI parser (npm), which the contract test validates the AsyncAPI document with.
asyncapi-parser: tests/asyncapi/node_modules/.installed
tests/asyncapi/node_modules/.installed: tests/asyncapi/package.json tests/asyncapi/package-lock.json
	npm ci --prefix tests/asyncapi --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

# Deque's axe-core (npm), which the page tests run in Chromium against WCAG 2.2 AA.
axe: tests/a11y/node_modules/.installed
tests/a11y/node_modules/.installed: tests/a11y/package.json tests/a11y/package-lock.json
	npm ci --prefix tests/a11y --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

# Debian's Prometheus (with promtool): promtool checks the alert rules in the tests; make demo runs Prometheus.
promtool:
	@command -v promtool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# Prometheus scraping the local services, with the alert rules (deploy/prometheus/).
prometheus: services promtool
	deploy/local/prometheus.sh start

# Every test: unit, handlers on real PostgreSQL, the services on real Kafka and PostgreSQL, pages in Chromium.
test: infra browser asyncapi-parser axe promtool
	$(PY) -m pytest

# The property tests of the pure code with fresh random examples, thousands each (no infrastructure).
fuzz: setup
	$(PY) -m pytest tests/unit --hypothesis-profile=fuzz

# Each benchmark starts its own service processes on a fresh database and topic prefix.
# The real-data replay, audited: bench/results/<date>-<speed>-<seed>.json and .html.
bench: SPEED ?= burst
bench: infra
	$(PY) -m bench.run --date $(DATE) --speed $(SPEED) --seed $(SEED) --replicas $(REBOUND_REPLICAS)

# Event → first notice at the provider: 200-passenger cancellations one at a time, and 50 at once.
bench-first-notice: infra
	$(PY) -m bench.first_notice_latency

# What-if previews on the storm day's live state: a plan of the 50 fullest flights previewed, and
# the live path's first notices with and without previews running.
bench-what-if: infra
	$(PY) -m bench.what_if

# Rebooking alone: the passengers of every flight cancelled on 8 February 2013.
bench-rebooking: infra
	$(PY) -m bench.rebooking_nemo

# Rebooking's quality on the industry's benchmark: ROADEF 2009 (Amadeus) instances A01–A10 and
# XA01–XA04 on a peer's recovered schedules and B02 on its own less its cancelled flights, the
# service's solver against the exact MIP; the data is
# read from ../shared/roadef2009 (or REBOUND_ROADEF_DIR), bench/results/roadef2009/table.md written.
bench-roadef: setup
	$(PY) -m bench.roadef --all --out bench/results/roadef2009

# A backup of the local PostgreSQL (one server, or the cluster) into its pgBackRest repository
# (.local/pgbackrest-<nodes>): incremental on the last full one, the first full; WAL is archived
# continuously besides. TYPE=full takes a full one.
backup: infra
	deploy/local/infra.sh backup $(TYPE)

# The restore drill: a sampled day through the services in two halves, the backup restored to a
# moment between them into a fresh data directory, and every outcome, grant, payout and notice
# acknowledged by then checked there, with the audit run on the restored copy (bench/restore_drill.py).
restore-drill: infra
	$(PY) -m bench.restore_drill --date $(DATE) --seed $(SEED)

# The fault harness, on a Kafka and PostgreSQL of its own (ports 29092, 25432) that it restarts:
# a sampled real day replayed while every kind of fault is injected PER_KIND times or more, and
# POISON poison records on every topic, then the audit; faults/results/<date>-<seed>-<per kind>x.json.
# faults-short is CI's brief form.
PER_KIND ?= 20
POISON ?= 1000
SAMPLE ?= 60
faults: setup
	$(PY) -m faults --date $(DATE) --seed $(SEED) --per-kind $(PER_KIND) --poison-per-topic $(POISON) --sample $(SAMPLE)

# The fault suite in brief (every kind twice), as CI runs it.
faults-short: setup
	$(PY) -m faults --date $(DATE) --seed $(SEED) --per-kind 2 --poison-per-topic 24 --sample 8

# The stack in containers, for real: a Docker engine (started if none runs), a Debian base made from
# Debian's packages, every image built on it, docker-compose.yml brought up, the small scenario
# played and checked through the published ports, then all of it torn down (deploy/containers/).
containers: setup
	deploy/containers/scenario.sh

# The integration tests on Kafka and PostgreSQL containers of those same images (testcontainers).
test-containers: setup browser axe
	deploy/containers/engine.sh start
	deploy/containers/engine.sh images
	REBOUND_TEST_INFRA=containers $(PY) -m pytest tests/integration; status=$$?; \
		deploy/containers/engine.sh stop; exit $$status

# The documentation site (mkdocs-material) into .local/site/: the pages in docs/, the services'
# READMEs, and reference pages generated from the code (docs/reference.py). Strict: a broken link
# or anchor, or a page missing from the navigation, fails the build.
docs: setup
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(PY) -m mkdocs build --strict --quiet

# Style, and types: strict on shared/ and the domain modules, mypy's default checks elsewhere (pyproject.toml);
# and the documentation site, built strictly.
lint: setup docs
	$(PY) -m ruff check .
	$(PY) -m mypy
	@# No function more complex than 15: the lower half of radon's grade C (11-20), where it was left.
	@worse="$$(.venv/bin/radon cc --min C --show-complexity services shared bench faults deploy docs \
		| grep -E ' - [C-F] \((1[6-9]|[2-9][0-9]|[0-9]{3,})\)$$')"; \
		if [ -n "$$worse" ]; then echo "$$worse"; echo "split these until none is over 15"; exit 1; fi

# What runs: the services, Kafka and PostgreSQL.
status:
	@deploy/local/services.sh status; deploy/local/infra.sh status

# Stop Prometheus, the services, Kafka and PostgreSQL.
stop:
	deploy/local/prometheus.sh stop
	deploy/local/services.sh stop
	deploy/local/infra.sh stop
