#!/usr/bin/env bash
# Runs the four services and the sandbox providers (SMS and email; payments) in the background, on this machine.
#   deploy/local/services.sh start|stop|status
# Logs: .local/logs/<name>.log (JSON lines). A second `start` leaves running ones alone.
# REBOUND_REPLICAS=3 runs three processes of each service, in their services' consumer groups:
# replica N of a service listens on its port + 10(N-1) (disruption 8001, 8011, 8021).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${REBOUND_LOCAL_STATE:-$ROOT/.local}"
LOGS="$STATE/logs"
PY="$ROOT/.venv/bin/python"
export REBOUND_ENVIRONMENT="${REBOUND_ENVIRONMENT:-development}"  # the local stack runs on development secrets
# Every broker of the local Kafka (one, or REBOUND_KAFKA_BROKERS), and as many copies of each topic.
export REBOUND_KAFKA_BOOTSTRAP="${REBOUND_KAFKA_BOOTSTRAP:-$("$ROOT/deploy/local/infra.sh" bootstrap)}"
export REBOUND_TOPIC_REPLICATION="${REBOUND_TOPIC_REPLICATION:-$("$ROOT/deploy/local/infra.sh" replication)}"
# The admin's connection (every node of a PostgreSQL cluster, the primary chosen on connecting):
# each service connects as its own role (deploy/postgres_access.py).
export REBOUND_DATABASE_URL="${REBOUND_DATABASE_URL:-$("$ROOT/deploy/local/infra.sh" database-url)}"
export REBOUND_SANDBOX_DIR="${REBOUND_SANDBOX_DIR:-$STATE/sandbox}"
export REBOUND_EMAIL_LOOKUP_URL="${REBOUND_EMAIL_LOOKUP_URL:-http://127.0.0.1:8090/v1/mail}"  # the sandbox email provider's lookup

# name module port
UNITS=(
  "sandbox services.notify.sandbox 8090"
  "payments services.compensation.sandbox 8091"
)
for replica in $(seq "${REBOUND_REPLICAS:-1}"); do
  suffix=""; [ "$replica" -eq 1 ] || suffix="-$replica"
  for service in "disruption 8001" "rebooking 8002" "compensation 8003" "notify 8004"; do
    read -r name port <<<"$service"
    UNITS+=("$name$suffix services.$name $((port + 10 * (replica - 1)))")
  done
done

running() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

start() {
  mkdir -p "$LOGS"
  cd "$ROOT"
  # Each service's own role and schema (REBOUND_DATABASE_URL is the admin's connection).
  "$PY" -m deploy.postgres_access
  for unit in "${UNITS[@]}"; do
    read -r name module port <<<"$unit"
    if running "$name"; then echo "[services] $name already running"; continue; fi
    local own=()
    case "$name" in sandbox|payments) ;; *)
      own=("REBOUND_HTTP_PORT=$port" "REBOUND_DATABASE_URL=$("$PY" -c 'import sys; from deploy.postgres_access import service_url
print(service_url(*sys.argv[1:]))' "$REBOUND_DATABASE_URL" "${name%-*}")") ;;
    esac
    nohup env "${own[@]}" "$PY" -m "$module" >>"$LOGS/$name.log" 2>&1 &
    echo $! > "$STATE/$name.pid"
  done
  for unit in "${UNITS[@]}"; do
    read -r name module port <<<"$unit"
    local path=/readyz; [ "$name" = sandbox ] && path=/v1/sms; [ "$name" = payments ] && path=/v1/payouts
    local deadline=$((SECONDS + 90))
    until "$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port$path', timeout=2)" 2>/dev/null; do
      running "$name" || { echo "[services] $name exited; see $LOGS/$name.log" >&2; tail -20 "$LOGS/$name.log" >&2; exit 1; }
      [ $SECONDS -lt $deadline ] || { echo "[services] $name not ready; see $LOGS/$name.log" >&2; exit 1; }
      sleep 0.5
    done
    echo "[services] $name ready on http://127.0.0.1:$port (log: $LOGS/$name.log)"
  done
}

stop() {  # every process started here, however many replicas it was started with
  local pidfile name
  for pidfile in "$STATE"/{sandbox,payments,disruption,rebooking,compensation,notify}{,-[0-9]*}.pid; do
    [ -f "$pidfile" ] || continue
    name="$(basename "$pidfile" .pid)"
    if running "$name"; then kill "$(cat "$pidfile")"; echo "[services] $name stopped"; fi
    rm -f "$pidfile"
  done
}

status() {
  for unit in "${UNITS[@]}"; do
    read -r name _ port <<<"$unit"
    running "$name" && echo "$name: running on :$port" || echo "$name: stopped"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
