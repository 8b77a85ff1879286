#!/usr/bin/env bash
# PostgreSQL in a container: a cluster made at the first start (the admin role REBOUND_POSTGRES_USER
# with the password REBOUND_POSTGRES_PASSWORD, owning the database REBOUND_POSTGRES_DB), then the
# server as the container's process.
set -euo pipefail
USER_NAME="${REBOUND_POSTGRES_USER:-rebound}"
DB="${REBOUND_POSTGRES_DB:-rebound}"
if [ ! -f "$PGDATA/PG_VERSION" ]; then
  : "${REBOUND_POSTGRES_PASSWORD:?set REBOUND_POSTGRES_PASSWORD}"
  pwfile="$(mktemp)"; trap 'rm -f "$pwfile"' EXIT
  printf '%s' "$REBOUND_POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" -U "$USER_NAME" --pwfile="$pwfile" --auth-local=peer --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
max_connections = 300
shared_buffers = 256MB
shared_preload_libraries = 'pg_stat_statements'
CONF
  # Passwords over TCP for everyone; the socket only for the container's own account.
  cat > "$PGDATA/pg_hba.conf" <<HBA
local all all peer map=container
host all all 0.0.0.0/0 scram-sha-256
host all all ::/0 scram-sha-256
HBA
  echo "container postgres $USER_NAME" > "$PGDATA/pg_ident.conf"
  # On the socket alone while it is made: nobody can connect before it is ready.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  psql -v ON_ERROR_STOP=1 -q -U "$USER_NAME" -d template1 \
    -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
    -c "CREATE DATABASE \"$DB\" OWNER \"$USER_NAME\""
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA"
