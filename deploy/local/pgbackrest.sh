# Backups that restore: Debian's pgBackRest, with every WAL segment archived as PostgreSQL
# completes it (archive_command) into a local repository, and full or incremental backups taken
# from the primary. A restore replays the archive to a point in time into a fresh data directory.
# Sourced by infra.sh (needs STATE, PG_PORT, PG_BIN, PG_DIR, PG_NODES, log, as_postgres,
# pg_node_dir, pg_node_port).
#
# One repository per topology: $STATE/pgbackrest-1 for the single server, -3 for the cluster
# (stanza `rebound`). The restored copy is started on REBOUND_PG_PORT + 50, never archiving.
BACKUP_DIR="$STATE/pgbackrest-$PG_NODES"
BACKUP_CONF="$BACKUP_DIR/pgbackrest.conf"
BACKUP_REPO="$BACKUP_DIR/repo"
RESTORED_PORT=$((PG_PORT + 50))

ensure_pgbackrest_installed() {
  command -v pgbackrest >/dev/null && return
  log "installing pgBackRest from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends pgbackrest >/dev/null
}

# What PostgreSQL runs for each completed WAL segment; $1 the node's data directory (of several,
# the one pgBackRest is to read the segment's system from).
archive_command() { echo "pgbackrest --config=$BACKUP_CONF --stanza=rebound${1:+ --pg1-path=$1} archive-push %p"; }

# The repository's settings, and every node pgBackRest may find the primary on.
backup_configure() {
  mkdir -p "$BACKUP_REPO" "$BACKUP_DIR/log" "$BACKUP_DIR/lock" "$BACKUP_DIR/spool"
  {
    cat <<CONF
[global]
repo1-path=$BACKUP_REPO
repo1-retention-full=2
log-path=$BACKUP_DIR/log
lock-path=$BACKUP_DIR/lock
spool-path=$BACKUP_DIR/spool
log-level-console=warn
log-level-file=info
compress-type=lz4
start-fast=y
process-max=2

[rebound]
CONF
    if [ "$PG_NODES" -eq 1 ]; then
      printf 'pg1-path=%s\npg1-port=%s\npg1-socket-path=%s\n' "$PG_DIR/data" "$PG_PORT" "$PG_DIR"
    else
      local n
      for n in $(seq "$PG_NODES"); do
        printf 'pg%s-path=%s\npg%s-port=%s\npg%s-socket-path=%s\n' "$n" "$(pg_node_dir "$n")/data" \
          "$n" "$(pg_node_port "$n")" "$n" "$(pg_node_dir "$n")"
      done
    fi
  } > "$BACKUP_CONF"
  chown -R postgres:postgres "$BACKUP_DIR"
}

pgbackrest_() { as_postgres pgbackrest --config="$BACKUP_CONF" --stanza=rebound "$@"; }

# The stanza once (idempotent), then `check`: a WAL segment switched and seen in the archive.
backup_stanza() {
  pgbackrest_ stanza-create >/dev/null 2>&1 || pgbackrest_ stanza-upgrade >/dev/null
  pgbackrest_ check >/dev/null || { log "WAL archiving to $BACKUP_REPO does not work; see $BACKUP_DIR/log"; exit 1; }
}

backup_repository_present() {
  [ -f "$BACKUP_CONF" ] && [ -d "$BACKUP_REPO/archive/rebound" ] && return
  log "the backup repository $BACKUP_REPO is missing (or has no stanza rebound): 'make infra' creates it"
  exit 1
}

# An incremental backup on the last full one (the first is full); then `check`, so the WAL written
# up to now is in the archive too.
backup() {
  backup_repository_present
  pgbackrest_ --type="${1:-incr}" backup
  pgbackrest_ check >/dev/null
  pgbackrest_ info | sed -n '/backup:/p' | tail -1 >&2
}

# The archive up to now made safe (a WAL switch, then seen archived): what a restore to a moment
# just passed needs.
backup_archive_now() { backup_repository_present; pgbackrest_ check >/dev/null; }

# Restore the backup before $1 (a PostgreSQL timestamp) and replay the archive up to it, into the
# fresh directory $2, then start it on RESTORED_PORT and promote it at the target. $3: only this
# database (and the system ones) is restored; the others are left empty, as pgBackRest's
# --db-include does. Prints the restored copy's admin connection.
restore() {
  local target="$1" dir="$2" database="${3:-}"
  backup_repository_present
  [ -n "$target" ] && [ -n "$dir" ] || { log "usage: infra.sh restore TIME DIR [DATABASE]"; exit 2; }
  if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then log "$dir is not empty: a restore needs a fresh directory"; exit 1; fi
  mkdir -p "$dir/data"
  chown -R postgres:postgres "$dir"
  chmod 700 "$dir/data"
  pgbackrest_ --pg1-path="$dir/data" --type=time --target="$target" --target-action=promote \
    ${database:+--db-include="$database"} restore
  # Its own port and socket; it archives nothing into the repository it came from, and waits for
  # no standby; a cluster node's settings name its own files, these the copy's.
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 300 \
    -o "-p $RESTORED_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c archive_mode=off \
-c synchronous_standby_names= -c hba_file=$dir/data/pg_hba.conf -c ident_file=$dir/data/pg_ident.conf \
-c shared_buffers=128MB" start >/dev/null \
    || { log "the restored copy did not start; its log ($dir/postgres.log) ends:"; tail -20 "$dir/postgres.log" >&2; exit 1; }
  # Promoted at the target: until then it is in recovery.
  local deadline=$((SECONDS + 300))
  until [ "$(as_postgres psql -h "$dir" -p "$RESTORED_PORT" -U postgres -At -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
    [ $SECONDS -lt $deadline ] || { log "the restored copy did not reach $target; see $dir/postgres.log"; exit 1; }
    sleep 0.2
  done
  log "restored to $target in $dir, running on $RESTORED_PORT"
  echo "postgresql://rebound:rebound@127.0.0.1:$RESTORED_PORT/${database:-rebound}"
}

restore_stop() {  # $1 the restored copy's directory
  [ -f "$1/data/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null
  return 0
}
