#!/usr/bin/env bash
# Local PostgreSQL without Docker.
#   deploy/local/postgres.sh start|stop|status|clean|check
# Uses a server already listening on 127.0.0.1:$PGPORT when it accepts our credentials; otherwise
# runs a private cluster under $C360_HOME/pg (installing Debian's postgresql package when missing).
# Creates the role $PGUSER/$PGPASSWORD and one database per service, idempotently.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_DIR="$C360_HOME/pg"
DATA="$PG_DIR/data"
SOCK="$PG_DIR/run"
PIDFILE="$RUN_DIR/postgres.pid"
LOG="$LOG_DIR/postgres.log"
PORT="${PGPORT:-5432}"
USER_NAME="${PGUSER:-c360}"
PASSWORD="${PGPASSWORD:-c360}"
DATABASES=(customer ticketing campaigns analytics c360_test)

find_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$dir/pg_ctl" ]] && { echo "$dir"; return 0; }
  done
  command -v pg_ctl >/dev/null && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

install_postgres() {
  say "installing PostgreSQL from Debian's packages"
  local sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null \
    || die "could not install PostgreSQL (apt-get install postgresql failed)"
  # Debian starts its own cluster on 5432; ours takes the port, so stop theirs.
  if command -v pg_ctlcluster >/dev/null; then
    for c in $(ls /etc/postgresql 2>/dev/null); do $sudo pg_ctlcluster "$c" main stop 2>/dev/null || true; done
  fi
}

# as_owner CMD...: run as the postgres OS user when we are root (postgres refuses to run as root).
as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

psql_url() { echo "postgresql://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$1"; }

can_login() { PGCONNECT_TIMEOUT=3 psql "$(psql_url postgres)" -Atqc 'select 1' >/dev/null 2>&1; }

create_databases() {
  local db
  for db in "${DATABASES[@]}"; do
    if [[ -z "$(psql "$(psql_url postgres)" -Atqc "select 1 from pg_database where datname = '$db'")" ]]; then
      psql "$(psql_url postgres)" -qc "create database \"$db\"" >/dev/null
      say "created database $db"
    fi
  done
}

init_cluster() {
  local bin="$1"
  [[ -f "$DATA/PG_VERSION" ]] && return 0
  say "initialising a PostgreSQL cluster in $DATA"
  mkdir -p "$DATA" "$SOCK"
  if [[ "$(id -u)" -eq 0 ]]; then chown -R postgres:postgres "$PG_DIR"; fi
  local pwfile
  pwfile="$(mktemp)"; echo "$PASSWORD" > "$pwfile"; chmod 644 "$pwfile"
  as_owner "$bin/initdb" -D "$DATA" -U "$USER_NAME" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >>"$LOG" 2>&1 \
    || { rm -f "$pwfile"; tail -20 "$LOG" >&2; die "initdb failed (log: $LOG)"; }
  rm -f "$pwfile"
  cat >> "$DATA/postgresql.conf" <<CONF
# --- customer360 local development settings ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 400
shared_buffers = 512MB
effective_cache_size = 4GB
work_mem = 16MB
maintenance_work_mem = 256MB
wal_buffers = 16MB
max_wal_size = 4GB
checkpoint_completion_target = 0.9
log_min_duration_statement = 1000
log_line_prefix = '%m [%p] %d '
CONF
}

start() {
  if pid_alive "$PIDFILE"; then
    say "PostgreSQL already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT"
    create_databases
    return 0
  fi
  if port_in_use "$PORT"; then
    if can_login; then
      say "using the PostgreSQL server already listening on 127.0.0.1:$PORT"
      create_databases
      return 0
    fi
    die "port $PORT is taken by $(port_owner "$PORT" || echo 'another process'), which does not accept $USER_NAME/****; free the port, or set PGPORT/PGUSER/PGPASSWORD to a server we may use"
  fi
  local bin
  bin="$(find_bin)" || { install_postgres; bin="$(find_bin)" || die "PostgreSQL binaries not found after install"; }
  command -v psql >/dev/null || die "psql is missing; install postgresql-client"
  init_cluster "$bin"
  say "starting PostgreSQL on 127.0.0.1:$PORT (log: $LOG)"
  touch "$LOG"; [[ "$(id -u)" -eq 0 ]] && chown postgres "$LOG"
  mkdir -p "$SOCK"; [[ "$(id -u)" -eq 0 ]] && chown postgres:postgres "$SOCK"
  if ! as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null; then
    tail -20 "$LOG" >&2
    die "PostgreSQL did not start (log: $LOG)"
  fi
  head -1 "$DATA/postmaster.pid" > "$PIDFILE"
  for _ in $(seq 1 100); do can_login && break; sleep 0.1; done
  can_login || die "PostgreSQL started but does not accept $USER_NAME (log: $LOG)"
  create_databases
  say "PostgreSQL ready on 127.0.0.1:$PORT"
}

stop() {
  pid_alive "$PIDFILE" || { rm -f "$PIDFILE"; return 0; }
  local bin
  bin="$(find_bin)"
  say "stopping PostgreSQL (pid $(cat "$PIDFILE"))"
  as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null || stop_pidfile "$PIDFILE" postgres
  rm -f "$PIDFILE"
}

status() {
  if pid_alive "$PIDFILE"; then echo "postgres: running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT"
  elif port_in_use "$PORT" && can_login; then echo "postgres: external server on 127.0.0.1:$PORT"
  else echo "postgres: stopped"; fi
}

clean() { stop; rm -rf "$PG_DIR"; say "removed PostgreSQL data"; }

check() {
  pid_alive "$PIDFILE" && return 0
  if port_in_use "$PORT" && ! can_login; then
    die "port $PORT is taken by $(port_owner "$PORT" || echo 'another process'), which does not accept $USER_NAME/****; free the port, or set PGPORT/PGUSER/PGPASSWORD to a server we may use"
  fi
  return 0
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  clean) clean ;;
  check) check ;;
  *) echo "usage: $0 start|stop|status|clean|check" >&2; exit 2 ;;
esac
