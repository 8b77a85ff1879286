#!/usr/bin/env bash
# A Docker engine for `make containers` and `make test-containers`, and the images they run.
#   deploy/containers/engine.sh start     a running engine, or dockerd started here (Debian's
#                                          docker.io, docker-compose and debootstrap installed if
#                                          missing); prints nothing
#   deploy/containers/engine.sh images    the Debian base (base.sh), then every image built on it
#   deploy/containers/engine.sh stop      dockerd stopped, if `start` started it
# REBOUND_BASE_IMAGE names another base (e.g. debian:bookworm-slim where a registry answers).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${REBOUND_LOCAL_STATE:-$ROOT/.local}/containers"
BASE="${REBOUND_BASE_IMAGE:-rebound/debian:bookworm}"
log() { echo "[containers] $*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

start() {
  if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null || ! command -v debootstrap >/dev/null; then
    log "installing Debian's docker.io, docker-compose and debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null
  fi
  engine_answers && return
  mkdir -p "$STATE"
  log "starting dockerd (log: $STATE/dockerd.log)"
  # A port published without an address is published on loopback, never on the machine's others.
  nohup dockerd --ip 127.0.0.1 >"$STATE/dockerd.log" 2>&1 &
  echo $! > "$STATE/dockerd.pid"
  local deadline=$((SECONDS + 60))
  until engine_answers; do
    [ $SECONDS -lt $deadline ] || { log "dockerd did not answer; see $STATE/dockerd.log"; exit 1; }
    sleep 0.5
  done
}

images() {
  [ "$BASE" != rebound/debian:bookworm ] || "$ROOT/deploy/containers/base.sh" "$BASE"
  # The classic builder: it needs no buildx plugin, and --network host reaches the registries.
  export DOCKER_BUILDKIT=0 REBOUND_BASE_IMAGE="$BASE"
  local image file
  for image in services:deploy/Dockerfile sandbox:deploy/Dockerfile kafka:deploy/containers/kafka.Dockerfile \
               postgres:deploy/containers/postgres.Dockerfile; do
    file="${image#*:}" image="rebound/${image%%:*}:dev"
    local args=(--build-arg "BASE_IMAGE=$BASE")
    [ "$image" = rebound/sandbox:dev ] && args+=(--build-arg "DEPENDENCY_GROUPS=--group sandbox")
    log "building $image ($file, on $BASE)"
    mkdir -p "$STATE"
    docker build --force-rm --network host "${args[@]}" -f "$ROOT/$file" -t "$image" "$ROOT" >"$STATE/build.log" 2>&1 \
      || { tail -30 "$STATE/build.log" >&2; log "building $image failed; see $STATE/build.log"; exit 1; }
  done
}

stop() {
  [ -f "$STATE/dockerd.pid" ] || return 0
  local pid; pid="$(cat "$STATE/dockerd.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    log "dockerd stopped"
  fi
  rm -f "$STATE/dockerd.pid"
}

case "${1:-}" in
  start) start ;;
  images) images ;;
  stop) stop ;;
  *) echo "usage: $0 start|images|stop" >&2; exit 2 ;;
esac
