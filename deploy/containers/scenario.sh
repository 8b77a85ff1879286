#!/usr/bin/env bash
# `make containers`: the stack of docker-compose.yml run for real, then gone.
#   1. a Docker engine (engine.sh start) and the images, built on a Debian base (engine.sh images);
#   2. compose brings up Kafka, PostgreSQL, the database's roles, the sandbox providers and the four
#      services, on development secrets (deploy/development.env), and waits until each is healthy;
#   3. the small scenario (bench/small_scenario.py) from the host through the published ports: the
#      schedule and bookings onto Kafka, contacts to notify, a cancellation through the partner
#      API; it fails unless every passenger is told and given an outcome;
#   4. everything torn down (containers, network, volumes; dockerd too if this started it).
# Host ports sit apart from the local scripts' (so a running `make demo` or `make test` is not met)
# and below Linux's ephemeral range (32768-60999): a port in that range can be held at any moment
# by some outgoing connection's local end, and compose then cannot publish it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
log() { echo "[containers] $*" >&2; }
export REBOUND_KAFKA_PORT=31092 REBOUND_PG_PORT=31432 REBOUND_DISRUPTION_PORT=28001 REBOUND_REBOOKING_PORT=28002 \
  REBOUND_COMPENSATION_PORT=28003 REBOUND_NOTIFY_PORT=28004 REBOUND_SANDBOX_SMS_PORT=28090 \
  REBOUND_SANDBOX_SMTP_PORT=22525 REBOUND_SANDBOX_PAYMENTS_PORT=28091
COMPOSE=(docker-compose --project-name rebound --env-file deploy/development.env -f docker-compose.yml)

began=$SECONDS
deploy/containers/engine.sh start
trap 'log "tearing down"; "${COMPOSE[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
      deploy/containers/engine.sh stop' EXIT
deploy/containers/engine.sh images
built=$SECONDS
"${COMPOSE[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true  # what an interrupted run left
log "compose up"
"${COMPOSE[@]}" up --detach --no-build --quiet-pull 2>&1 | grep -v "^Creating\|^Starting" || true

# Healthy means what each healthcheck says: Kafka's listener, PostgreSQL's pg_isready, a
# service's /readyz (its consumers assigned, its database reachable).
deadline=$((SECONDS + 240))
for name in kafka postgres disruption rebooking compensation notify; do
  until [ "$(docker inspect -f '{{.State.Health.Status}}' "$("${COMPOSE[@]}" ps -q "$name")" 2>/dev/null)" = healthy ]; do
    if [ $SECONDS -ge $deadline ]; then
      log "$name not healthy in time"; "${COMPOSE[@]}" ps >&2; "${COMPOSE[@]}" logs --tail 40 "$name" >&2; exit 1
    fi
    sleep 1
  done
done
up=$SECONDS
log "every service healthy ($((up - built)) s after the images were ready)"
# The network compose made for the project: no address translation to the outside.
docker network inspect -f '{{index .Options "com.docker.network.bridge.enable_ip_masquerade"}}' rebound_rebound \
  | grep -qx false || { log "the project's network masquerades"; exit 1; }

REBOUND_KAFKA_BOOTSTRAP="127.0.0.1:$REBOUND_KAFKA_PORT" \
REBOUND_DATABASE_URL="postgresql://rebound:rebound@127.0.0.1:$REBOUND_PG_PORT/rebound" \
  .venv/bin/python -m bench.small_scenario --disruption-url "http://127.0.0.1:$REBOUND_DISRUPTION_PORT" \
    --notify-url "http://127.0.0.1:$REBOUND_NOTIFY_PORT"
log "passed: images $((built - began)) s, stack up $((up - built)) s, scenario $((SECONDS - up)) s; $((SECONDS - began)) s in all"
