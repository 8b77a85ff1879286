#!/usr/bin/env bash
# Prometheus (Debian's package) beside the local services, scraping them with the alert rules of
# deploy/prometheus/. Listens on 127.0.0.1:9090 only.
#   deploy/local/prometheus.sh start|stop
# Its copy of the configuration, the monitoring key it scrapes with (the first key that may read
# metrics: REBOUND_API_KEYS, by default the development one) and its data: .local/prometheus/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${REBOUND_LOCAL_STATE:-$ROOT/.local}/prometheus"
PORT="${REBOUND_PROMETHEUS_PORT:-9090}"

running() { [ -f "$STATE/prometheus.pid" ] && kill -0 "$(cat "$STATE/prometheus.pid")" 2>/dev/null; }

start() {
  command -v prometheus >/dev/null || { echo "[prometheus] not installed: run make promtool" >&2; exit 1; }
  if running; then echo "[prometheus] already running on http://127.0.0.1:$PORT"; return; fi
  mkdir -p "$STATE/data"
  cp "$ROOT"/deploy/prometheus/prometheus.yml "$ROOT"/deploy/prometheus/alerts.yml "$STATE/"
  "$ROOT/.venv/bin/python" -c 'import sys; from shared.settings import Settings
keys = Settings(environment="development").access().keys_for("monitoring")
sys.exit("REBOUND_API_KEYS holds no key that may read metrics") if not keys else print(keys[0])' > "$STATE/monitoring.key"
  chmod 600 "$STATE/monitoring.key"
  nohup prometheus --config.file="$STATE/prometheus.yml" --storage.tsdb.path="$STATE/data" \
    --web.listen-address="127.0.0.1:$PORT" >>"$STATE/prometheus.log" 2>&1 &
  echo $! > "$STATE/prometheus.pid"
  local deadline=$((SECONDS + 30))
  until "$ROOT/.venv/bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/-/ready', timeout=2)" 2>/dev/null; do
    running || { echo "[prometheus] exited; see $STATE/prometheus.log" >&2; exit 1; }
    [ $SECONDS -lt $deadline ] || { echo "[prometheus] not ready; see $STATE/prometheus.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "[prometheus] ready on http://127.0.0.1:$PORT (alerts: /alerts; log: $STATE/prometheus.log)"
}

stop() {
  if running; then kill "$(cat "$STATE/prometheus.pid")"; echo "[prometheus] stopped"; fi
  rm -f "$STATE/prometheus.pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
