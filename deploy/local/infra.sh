#!/usr/bin/env bash
# Local Kafka (KRaft) and PostgreSQL for machines without a Docker engine.
#   deploy/local/infra.sh start|stop|status|wait
#   deploy/local/infra.sh start|stop|crash kafka|postgres     (one of them; the fault harness's restarts)
#   deploy/local/infra.sh start|stop|crash broker N           (one broker of a cluster)
#   deploy/local/infra.sh bootstrap|replication               (what clients are given: brokers, copies)
#   deploy/local/infra.sh database-url                        (the admin's connection: every node)
#   deploy/local/infra.sh backup [full|incr]|restore TIME DIR [DATABASE]|restore-stop DIR|archive-now
#   deploy/local/infra.sh primary|patroni-endpoints|switchover|crash pg-postgres N|crash pg-node N|start pg-node N
#                                                             (a PostgreSQL cluster's nodes)
# REBOUND_KAFKA_BROKERS=3 runs a cluster: three KRaft nodes (each broker and controller), every
# topic in three copies with min.insync.replicas=2 and unclean leader election off. Node N listens
# on REBOUND_KAFKA_PORT + 2(N-1), its controller on REBOUND_KAFKA_CONTROLLER_PORT + 2(N-1).
# REBOUND_POSTGRES_NODES=3 runs PostgreSQL as a Patroni cluster of three nodes with a synchronous
# standby (postgres-cluster.sh); the single server stays the default. Either way every completed
# WAL segment is archived by pgBackRest (pgbackrest.sh), and `backup` and `restore` use it.
# Idempotent: `start` reuses whatever already answers on the configured ports.
# Logs: .local/kafka/kafka.log and .local/postgres/postgres.log (under the repository).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${REBOUND_LOCAL_STATE:-$ROOT/.local}"
# shellcheck source=kafka-node.sh
. "$ROOT/deploy/local/kafka-node.sh"
KAFKA_PORT="${REBOUND_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${REBOUND_KAFKA_CONTROLLER_PORT:-19093}"
PG_PORT="${REBOUND_PG_PORT:-15432}"
PG_BIN="${REBOUND_PG_BIN:-/usr/lib/postgresql/15/bin}"
BROKERS="${REBOUND_KAFKA_BROKERS:-1}"
# One node keeps its state where it always has; a cluster's nodes have folders of their own.
if [ "$BROKERS" -eq 1 ]; then KAFKA_DIR="$STATE/kafka"; else KAFKA_DIR="$STATE/kafka-$BROKERS"; fi
REPLICATION=$((BROKERS < 3 ? BROKERS : 3))
PG_DIR="$STATE/postgres"
# shellcheck source=postgres-cluster.sh
. "$ROOT/deploy/local/postgres-cluster.sh"
# shellcheck source=pgbackrest.sh
. "$ROOT/deploy/local/pgbackrest.sh"

log() { echo "[infra] $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_postgres_installed() {
  [ -x "$PG_BIN/postgres" ] && return
  log "installing PostgreSQL 15 from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql-15 >/dev/null
}

ensure_java() {
  command -v java >/dev/null && command -v mvn >/dev/null && return
  log "installing OpenJDK 17 and Maven from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
}

fetch_kafka() {
  [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] && return
  ensure_java
  log "fetching Apache Kafka $KAFKA_VERSION and its dependencies from Maven Central into $KAFKA_LIBS"
  rm -rf "$KAFKA_LIBS.tmp"
  mvn -q -B -Dstyle.color=never -f "$ROOT/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS.tmp"
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
}

as_postgres() { runuser -u postgres -- "$@"; }

start_postgres() {
  if [ "$PG_NODES" -gt 1 ]; then start_pg_cluster; return; fi
  if [ -f "$STATE/postgres-3/node-1/patroni.pid" ] && kill -0 "$(cat "$STATE/postgres-3/node-1/patroni.pid")" 2>/dev/null; then
    log "the PostgreSQL cluster runs on $PG_PORT: stop it first (REBOUND_POSTGRES_NODES=3 deploy/local/infra.sh stop)"
    exit 1
  fi
  if port_open "$PG_PORT"; then log "PostgreSQL already answers on $PG_PORT"; return; fi
  ensure_postgres_installed
  ensure_pgbackrest_installed
  mkdir -p "$PG_DIR"
  chown postgres:postgres "$PG_DIR"
  # postgres must be able to reach its data directory through the repository's parents.
  local d="$PG_DIR"; while [ "$d" != "/" ]; do d="$(dirname "$d")"; chmod o+x "$d" 2>/dev/null || true; done
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    log "initialising a PostgreSQL cluster in $PG_DIR/data"
    as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR'
max_connections = 300
shared_buffers = 256MB
fsync = on
synchronous_commit = on
# Statement statistics, which the benchmark reports its database work from (bench/run.py).
shared_preload_libraries = 'pg_stat_statements'
CONF
  fi
  # Every completed WAL segment archived (pgbackrest.sh): also for a server this script made
  # before it said so.
  backup_configure
  cat > "$PG_DIR/data/rebound-archive.conf" <<CONF
archive_mode = on
archive_command = '$(archive_command)'
archive_timeout = 60
CONF
  grep -q "rebound-archive.conf" "$PG_DIR/data/postgresql.conf" \
    || echo "include_if_exists = 'rebound-archive.conf'" >> "$PG_DIR/data/postgresql.conf"
  chown postgres:postgres "$PG_DIR/data/rebound-archive.conf"
  # Passwords (SCRAM-SHA-256) over TCP for everyone, the superuser only through the socket as the
  # postgres account: also for a cluster this script made before it said so.
  cat > "$PG_DIR/data/pg_hba.conf" <<HBA
local all postgres peer
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
HBA
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -o "-p $PG_PORT" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" reload >/dev/null
  prepare_roles "$PG_DIR" "$PG_PORT"
  backup_stanza
  log "PostgreSQL started on $PG_PORT (log: $PG_DIR/postgres.log)"
}

# The admin role and the services' roles, the database, and the statement statistics, through
# the superuser's socket in $1 on port $2 (the primary's).
prepare_roles() {
  local sql=(psql -h "$1" -p "$2" -U postgres -v ON_ERROR_STOP=1 -q)
  # The admin role (owns the databases, prepares them: deploy/postgres_access.py) and one role per
  # service with the development passwords; production gives each its own.
  as_postgres "${sql[@]}" <<'SQL' || return 1
SET password_encryption = 'scram-sha-256';
SELECT 'CREATE ROLE rebound LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rebound')
\gexec
ALTER ROLE rebound CREATEDB PASSWORD 'rebound';
SELECT format('CREATE ROLE %I LOGIN', 'rebound_' || s) FROM unnest(ARRAY['disruption', 'rebooking', 'compensation', 'notify']) s
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rebound_' || s)
\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', 'rebound_' || s, 'dev-only-' || s || '-db'),
       format('GRANT %I TO rebound', 'rebound_' || s)
  FROM unnest(ARRAY['disruption', 'rebooking', 'compensation', 'notify']) s
\gexec
SELECT 'CREATE DATABASE rebound OWNER rebound' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'rebound')
\gexec
GRANT pg_read_all_stats TO rebound;
SQL
  # In the template, so every database made for a test or a benchmark run has the view.
  as_postgres "${sql[@]}" -d template1 -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' || return 1
}

node_dir() { if [ "$BROKERS" -eq 1 ]; then echo "$KAFKA_DIR"; else echo "$KAFKA_DIR/node-$1"; fi; }
node_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
node_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }

bootstrap() {
  local n servers=()
  for n in $(seq "$BROKERS"); do servers+=("127.0.0.1:$(node_port "$n")"); done
  (IFS=,; echo "${servers[*]}")
}

voters() {
  [ "$BROKERS" -eq 1 ] && return
  local n v=()
  for n in $(seq "$BROKERS"); do v+=("$n@127.0.0.1:$(node_controller_port "$n")"); done
  (IFS=,; echo "${v[*]}")
}

start_node() {  # $1 the node's number
  local dir port controller
  dir="$(node_dir "$1")" port="$(node_port "$1")" controller="$(node_controller_port "$1")"
  if port_open "$port"; then log "Kafka already answers on $port"; return; fi
  fetch_kafka
  mkdir -p "$dir"
  { kafka_node_properties "$dir" "$controller" 12 "$1" "$(voters)" "$REPLICATION"
    cat <<PROPS
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
PROPS
  } > "$dir/server.properties"
  if [ ! -f "$dir/data/meta.properties" ]; then
    log "formatting Kafka storage in $dir/data"
    # Every node of a cluster is formatted with the same cluster id.
    if [ "$BROKERS" -gt 1 ]; then
      [ -f "$KAFKA_DIR/cluster.id" ] || kafka_random_id > "$KAFKA_DIR/cluster.id"
      export KAFKA_CLUSTER_ID; KAFKA_CLUSTER_ID="$(cat "$KAFKA_DIR/cluster.id")"
    fi
  fi
  kafka_launch "$dir" 512m
  log "Kafka $KAFKA_VERSION node $1 of $BROKERS starting on $port (log: $dir/kafka.log)"
}

start_kafka() {
  local n
  for n in $(seq "$BROKERS"); do start_node "$n"; done
}

wait_port() {  # $1 port, $2 what answers there, $3 where to look if it does not
  local deadline=$((SECONDS + 120))
  until port_open "$1"; do
    [ $SECONDS -lt $deadline ] || { log "$2 did not answer on $1${3:+; see $3}"; exit 1; }; sleep 0.2
  done
}

wait_kafka() {
  local n
  for n in $(seq "$BROKERS"); do wait_port "$(node_port "$n")" Kafka "$(node_dir "$n")/kafka.log"; done
}

wait_postgres() {
  if [ "$PG_NODES" -gt 1 ]; then wait_primary; else wait_port "$PG_PORT" PostgreSQL "$PG_DIR/postgres.log"; fi
}

wait_ready() {
  wait_postgres
  wait_kafka
  log "ready: Kafka $(bootstrap), PostgreSQL $(pg_hosts)"
}

# SIGTERM is a broker's controlled shutdown (its partitions' leadership moves first); SIGKILL a crash.
stop_node() {  # $1 the node's number, $2 TERM or KILL
  local pidfile; pidfile="$(node_dir "$1")/kafka.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill -"${2:-TERM}" "$(cat "$pidfile")"
    while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.2; done
    log "Kafka node $1 stopped (SIG${2:-TERM})"
  fi
  rm -f "$pidfile"
}

stop_kafka() {  # $1: TERM (a clean shutdown) or KILL (a crash), every node at once
  local n
  for n in $(seq "$BROKERS"); do stop_node "$n" "${1:-TERM}" & done
  wait
}

stop_postgres() {  # $1: fast (a clean shutdown) or immediate (a crash: recovery on the next start)
  if [ "$PG_NODES" -gt 1 ]; then
    stop_pg_cluster "$([ "${1:-fast}" = fast ] && echo TERM || echo KILL)"
    # etcd stays: it is the cluster's memory of who leads, as a machine's would outlive PostgreSQL.
    return
  fi
  if [ -f "$PG_DIR/data/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null; then
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m "${1:-fast}" -w stop >/dev/null && log "PostgreSQL stopped (${1:-fast})"
  fi
}

stop_all() { stop_kafka TERM; stop_postgres fast; [ "$PG_NODES" -eq 1 ] || stop_etcd; }

status() {
  local n
  for n in $(seq "$BROKERS"); do
    port_open "$(node_port "$n")" && echo "kafka: up on 127.0.0.1:$(node_port "$n")" || echo "kafka: down ($(node_port "$n"))"
  done
  if [ "$PG_NODES" -gt 1 ]; then pg_cluster_status
  else port_open "$PG_PORT" && echo "postgres: up on 127.0.0.1:$PG_PORT" || echo "postgres: down"; fi
}

case "${1:-} ${2:-}" in
  "start ") start_postgres; start_kafka; wait_ready ;;
  "start kafka") start_kafka; wait_kafka ;;
  "start broker") start_node "$3"; wait_port "$(node_port "$3")" Kafka "$(node_dir "$3")/kafka.log" ;;
  "stop broker") stop_node "$3" TERM ;;
  "crash broker") stop_node "$3" KILL ;;
  "bootstrap ") bootstrap ;;
  "replication ") echo "$REPLICATION" ;;
  "start postgres") start_postgres; wait_postgres ;;
  "database-url ") database_url ;;
  "backup ") backup incr ;;
  "backup full"|"backup incr") backup "$2" ;;
  "archive-now ") backup_archive_now ;;
  "restore "*) restore "$2" "${3:-}" "${4:-}" ;;
  "restore-stop "*) restore_stop "$2" ;;
  "primary ") pg_primary ;;
  "patroni-endpoints ") patroni_endpoints ;;
  "switchover ") pg_switchover ;;
  "crash pg-postgres") kill_postgres "$3" ;;
  "crash pg-node") stop_pg_node "$3" KILL ;;
  "start pg-node") start_pg_node "$3" ;;
  "wait ") wait_ready ;;
  "stop ") stop_all ;;
  "stop kafka") stop_kafka TERM ;;
  "stop postgres") stop_postgres fast ;;
  "crash kafka") stop_kafka KILL ;;
  "crash postgres") stop_postgres immediate ;;
  "status ") status ;;
  "fetch kafka") fetch_kafka ;;
  *) echo "usage: $0 start|stop|status|wait|bootstrap|replication|database-url|backup|restore|primary|switchover," \
          "or $0 start|stop|crash kafka|postgres|broker N|pg-node N, or $0 crash pg-postgres N" >&2
     exit 2 ;;
esac
