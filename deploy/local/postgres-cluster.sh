# A PostgreSQL cluster of three nodes that survives losing its primary: Debian's Patroni manages
# Debian's PostgreSQL 15 on each, with a three-member etcd (Debian's etcd-server) as the store
# they elect a leader in. Sourced by infra.sh (needs ROOT, STATE, PG_PORT, PG_BIN, log,
# port_open, as_postgres, ensure_postgres_installed, prepare_roles, backup_* from pgbackrest.sh).
#
# Synchronous mode: a commit is acknowledged once a second node has it, and Patroni promotes only
# that synchronous standby, so a failover never loses what a service was told was committed. With
# three nodes one can be lost without refusing writes: the other replica becomes the synchronous one.
#
# Node N (1-3), all from REBOUND_PG_PORT (P, 15432 by default):
#   PostgreSQL on P + N - 1, Patroni's REST API on P + 10 + N - 1,
#   etcd member N: clients on P + 20 + 2(N - 1), peers on the port after.
# State: $STATE/postgres-3/{etcd-N,node-N}; logs: node-N/patroni.log, etcd-N/etcd.log.
PG_NODES="${REBOUND_POSTGRES_NODES:-1}"
CLUSTER_DIR="$STATE/postgres-$PG_NODES"
# Patroni's own roles: development passwords, as the local scripts' other roles have.
REPLICATION_PASSWORD="dev-only-replication"
REWIND_PASSWORD="dev-only-rewind"
SUPERUSER_PASSWORD="dev-only-postgres"

pg_node_port() { echo $((PG_PORT + $1 - 1)); }
patroni_port() { echo $((PG_PORT + 10 + $1 - 1)); }
etcd_client_port() { echo $((PG_PORT + 20 + 2 * ($1 - 1))); }
etcd_peer_port() { echo $((PG_PORT + 21 + 2 * ($1 - 1))); }
pg_node_dir() { echo "$CLUSTER_DIR/node-$1"; }

pg_hosts() {  # every node, as clients list them
  local n hosts=()
  for n in $(seq "$PG_NODES"); do hosts+=("127.0.0.1:$(pg_node_port "$n")"); done
  (IFS=,; echo "${hosts[*]}")
}

# The admin's connection: every node listed, and only the primary accepted (libpq's and asyncpg's
# target_session_attrs), so nothing that connects needs to know which node that is.
database_url() {
  if [ "$PG_NODES" -eq 1 ]; then echo "postgresql://rebound:rebound@127.0.0.1:$PG_PORT/rebound"
  else echo "postgresql://rebound:rebound@$(pg_hosts)/rebound?target_session_attrs=read-write"; fi
}

ensure_cluster_installed() {
  command -v patroni >/dev/null && command -v etcd >/dev/null && command -v curl >/dev/null && return
  log "installing Patroni, etcd and curl from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends patroni python3-etcd etcd-server curl >/dev/null
}

etcd_members() {
  local n m=()
  for n in $(seq "$PG_NODES"); do m+=("etcd-$n=http://127.0.0.1:$(etcd_peer_port "$n")"); done
  (IFS=,; echo "${m[*]}")
}

etcd_endpoints() {
  local n e=()
  for n in $(seq "$PG_NODES"); do e+=("127.0.0.1:$(etcd_client_port "$n")"); done
  (IFS=,; echo "${e[*]}")
}

start_etcd_member() {  # $1 the member's number
  local dir="$CLUSTER_DIR/etcd-$1" client peer
  client="$(etcd_client_port "$1")" peer="$(etcd_peer_port "$1")"
  port_open "$client" && return
  mkdir -p "$dir"
  local state=new; [ -d "$dir/data/member" ] && state=existing
  setsid etcd --name "etcd-$1" --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$(etcd_members)" --initial-cluster-state "$state" \
    --initial-cluster-token "rebound-$PG_PORT" >>"$dir/etcd.log" 2>&1 < /dev/null &
  echo $! > "$dir/etcd.pid"
}

# etcd answers only once a majority of its members do: a clear error naming the silent ones.
wait_etcd_quorum() {
  local deadline=$((SECONDS + 60)) n silent
  until curl -sf -m 2 "http://127.0.0.1:$(etcd_client_port 1)/health" | grep -q '"health":"true"'; do
    if [ $SECONDS -ge $deadline ]; then
      silent=""; for n in $(seq "$PG_NODES"); do port_open "$(etcd_client_port "$n")" || silent+=" etcd-$n"; done
      log "etcd has no quorum after 60 s; not answering:${silent:- none (see $CLUSTER_DIR/etcd-*/etcd.log)}"
      exit 1
    fi
    sleep 0.2
  done
}

patroni_config() {  # $1 the node's number
  local dir; dir="$(pg_node_dir "$1")"
  cat <<YAML
scope: rebound
name: pg$1
log: {level: WARNING}
restapi:
  listen: 127.0.0.1:$(patroni_port "$1")
  connect_address: 127.0.0.1:$(patroni_port "$1")
etcd3:
  hosts: $(etcd_endpoints)
bootstrap:
  dcs:
    # A leader that stops renewing its lock for ttl seconds is replaced; loop_wait + 2 retry_timeout
    # must stay within ttl (Patroni's rule).
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    # Promote the synchronous standby at once when the primary's PostgreSQL crashes: with
    # synchronous mode no acknowledged commit is lost by it.
    primary_start_timeout: 0
    synchronous_mode: true
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 300
        shared_buffers: 256MB
        wal_log_hints: 'on'
        synchronous_commit: 'on'
        shared_preload_libraries: pg_stat_statements
        archive_mode: 'on'
        archive_timeout: 60
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
    - auth-local: peer
    - auth-host: scram-sha-256
postgresql:
  listen: 127.0.0.1:$(pg_node_port "$1")
  connect_address: 127.0.0.1:$(pg_node_port "$1")
  data_dir: $dir/data
  bin_dir: $PG_BIN
  pgpass: $dir/pgpass
  use_unix_socket: true
  # A new replica copies the primary at once, not after its next spread checkpoint.
  basebackup: [{checkpoint: fast}]
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
  authentication:
    superuser: {username: postgres, password: $SUPERUSER_PASSWORD}
    replication: {username: replicator, password: $REPLICATION_PASSWORD}
    rewind: {username: rewinder, password: $REWIND_PASSWORD}
  parameters:
    unix_socket_directories: '$dir'
    archive_command: '$(archive_command "$dir/data")'
    password_encryption: scram-sha-256
  pg_hba:
    - local all postgres peer
    - local all all scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
    - host replication replicator 127.0.0.1/32 scram-sha-256
YAML
}

patroni_pid() { cat "$(pg_node_dir "$1")/patroni.pid" 2>/dev/null; }
patroni_running() { local pid; pid="$(patroni_pid "$1")" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
postmaster_pid() { head -1 "$(pg_node_dir "$1")/data/postmaster.pid" 2>/dev/null; }

start_pg_node() {  # $1 the node's number
  local dir; dir="$(pg_node_dir "$1")"
  patroni_running "$1" && return
  if port_open "$(pg_node_port "$1")"; then
    log "node-$1 cannot start: port $(pg_node_port "$1") is taken by another PostgreSQL (the single server?" \
        "REBOUND_POSTGRES_NODES=1 deploy/local/infra.sh stop postgres)"
    exit 1
  fi
  mkdir -p "$dir"
  patroni_config "$1" > "$dir/patroni.yml"
  chown -R postgres:postgres "$dir"
  chmod 700 "$dir"
  # Patroni runs as postgres (initdb refuses root), in a session of its own.
  runuser -u postgres -- bash -c 'setsid patroni "$1" >>"$2" 2>&1 < /dev/null & echo $!' _ \
    "$dir/patroni.yml" "$dir/patroni.log" > "$dir/patroni.pid.tmp"
  mv "$dir/patroni.pid.tmp" "$dir/patroni.pid"
}

patroni_get() { curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(patroni_port "$1")/$2"; }

# The node whose PostgreSQL is the primary now (nothing printed: none is).
pg_primary() {
  local n
  for n in $(seq "$PG_NODES"); do
    [ "$(patroni_get "$n" primary)" = 200 ] && { echo "$n"; return; }
  done
  return 0
}

wait_primary() {
  local deadline=$((SECONDS + ${1:-120})) n bad
  until [ -n "$(pg_primary)" ]; do
    if [ $SECONDS -ge $deadline ]; then
      bad=""; for n in $(seq "$PG_NODES"); do patroni_running "$n" || bad+=" node-$n (Patroni not running)"; done
      log "no PostgreSQL primary after ${1:-120} s;${bad:- see $CLUSTER_DIR/node-*/patroni.log}"
      exit 1
    fi
    sleep 0.2
  done
}

# The primary's node, once its PostgreSQL takes writes (Patroni may name it a moment before it
# has left recovery).
primary_taking_writes() {
  local deadline=$((SECONDS + 120)) primary
  until primary="$(pg_primary)" && [ -n "$primary" ] && [ "$(as_postgres psql -h "$(pg_node_dir "$primary")" \
      -p "$(pg_node_port "$primary")" -U postgres -Atqc 'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = t ]; do
    [ $SECONDS -lt $deadline ] || { log "no primary took writes in 120 s; see $CLUSTER_DIR/node-*/patroni.log"; exit 1; }
    sleep 0.2
  done
  echo "$primary"
}

# Each node streaming from the primary (the replicas' REST /replica answers 200).
wait_replicas() {
  local deadline=$((SECONDS + 120)) n
  for n in $(seq "$PG_NODES"); do
    [ "$n" = "$(pg_primary)" ] && continue
    until [ "$(patroni_get "$n" replica)" = 200 ]; do
      [ $SECONDS -lt $deadline ] || { log "node-$n is not a streaming replica after 120 s; see $(pg_node_dir "$n")/patroni.log"; exit 1; }
      sleep 0.2
    done
  done
}

start_pg_cluster() {
  ensure_postgres_installed
  ensure_cluster_installed
  ensure_pgbackrest_installed
  mkdir -p "$CLUSTER_DIR"
  # postgres must be able to reach its data directories through the repository's parents.
  local d="$CLUSTER_DIR"; while [ "$d" != "/" ]; do d="$(dirname "$d")"; chmod o+x "$d" 2>/dev/null || true; done
  local n
  backup_configure
  for n in $(seq "$PG_NODES"); do start_etcd_member "$n"; done
  wait_etcd_quorum
  for n in $(seq "$PG_NODES"); do start_pg_node "$n"; done
  wait_primary 180
  wait_replicas
  # The roles are made on the primary; should it change meanwhile (a failover as the cluster
  # starts), on the next one.
  local primary attempt
  for attempt in 1 2 3; do
    primary="$(primary_taking_writes)"
    prepare_roles "$(pg_node_dir "$primary")" "$(pg_node_port "$primary")" && break
    [ "$attempt" -lt 3 ] || { log "the roles could not be made on node-$primary"; exit 1; }
  done
  backup_stanza
  log "PostgreSQL cluster of $PG_NODES started: primary node-$primary; $(pg_hosts) (logs: $CLUSTER_DIR/node-*/patroni.log)"
}

# SIGTERM: Patroni shuts its PostgreSQL down cleanly and leaves the cluster. KILL: a crash of
# every node, Patroni and PostgreSQL alike.
stop_pg_node() {  # $1 the node's number, $2 TERM or KILL
  local pid postmaster
  pid="$(patroni_pid "$1")" postmaster="$(postmaster_pid "$1")"
  if [ "${2:-TERM}" = KILL ]; then
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    kill_postgres "$1"
  elif [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    # A Patroni busy copying a replica may not heed SIGTERM: after a minute it is a crash.
    local deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "node-$1's Patroni ignored SIGTERM for 60 s: killed"; stop_pg_node "$1" KILL; }
  fi
  while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  while [ -n "$postmaster" ] && kill -0 "$postmaster" 2>/dev/null; do sleep 0.1; done
  rm -f "$(pg_node_dir "$1")/patroni.pid"
}

# The node's PostgreSQL SIGKILLed, its postmaster and every backend: a crash Patroni sees.
kill_postgres() {  # $1 the node's number
  local postmaster; postmaster="$(postmaster_pid "$1")"
  [ -n "$postmaster" ] && kill -0 "$postmaster" 2>/dev/null || return 0
  pkill -KILL -P "$postmaster" 2>/dev/null || true
  kill -KILL "$postmaster" 2>/dev/null || true
  while kill -0 "$postmaster" 2>/dev/null; do sleep 0.1; done
}

stop_etcd() {
  local n pid
  for n in $(seq "$PG_NODES"); do
    pid="$(cat "$CLUSTER_DIR/etcd-$n/etcd.pid" 2>/dev/null)" || continue
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$CLUSTER_DIR/etcd-$n/etcd.pid"
  done
}

stop_pg_cluster() {  # $1 TERM or KILL
  local n
  for n in $(seq "$PG_NODES"); do stop_pg_node "$n" "${1:-TERM}" & done
  wait
  log "PostgreSQL cluster stopped (SIG${1:-TERM})"
}

pg_cluster_status() {
  local n role
  for n in $(seq "$PG_NODES"); do
    if [ "$(patroni_get "$n" primary)" = 200 ]; then role=primary
    elif [ "$(patroni_get "$n" replica)" = 200 ]; then role=replica
    elif patroni_running "$n"; then role=starting; else role=down; fi
    echo "postgres node-$n: $role on 127.0.0.1:$(pg_node_port "$n")"
  done
}

# A planned switchover (Patroni's own, through its REST API via patronictl): Patroni picks the
# synchronous standby.
pg_switchover() {
  local primary; primary="$(pg_primary)"
  [ -n "$primary" ] || { log "no primary to switch over from"; exit 1; }
  patronictl -c "$(pg_node_dir "$primary")/patroni.yml" switchover --leader "pg$primary" --force rebound >/dev/null
}

patroni_endpoints() {  # every node's Patroni REST API
  local n e=()
  for n in $(seq "$PG_NODES"); do e+=("http://127.0.0.1:$(patroni_port "$n")"); done
  (IFS=,; echo "${e[*]}")
}
