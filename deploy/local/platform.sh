#!/usr/bin/env bash
# Start/stop every service process of the platform in the background (APIs, relays, workers).
#   deploy/local/platform.sh start|stop|status
# The process list comes from 'c360 processes'; pids in $C360_HOME/run/proc-*.pid, logs in
# $C360_HOME/logs/<name>.log.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

C360="$REPO_ROOT/.venv/bin/c360"
# The local run is a demo: analytics judges a six-month history with rules sized for it
# (docs/analytics-rules.md); set ANALYTICS_RULES_FILE to use your own.
export ANALYTICS_RULES_FILE="${ANALYTICS_RULES_FILE:-$REPO_ROOT/demo/analytics-rules.yaml}"
PROCESS_LIST="$RUN_DIR/processes.tsv"
# When the local OpenID provider runs (deploy/local/oidc.sh, docs/authentication.md), people sign in
# with it and the services call each other's key endpoint with its client-credentials tokens (client
# c360-services of deploy/local/oidc/users.json). Set AUTH_OIDC_ISSUER= (empty) to accept only
# pasted HS256 tokens; without the provider the services mint their own, as before.
if pid_alive "$RUN_DIR/proc-oidc-provider.pid"; then
  export AUTH_OIDC_ISSUER="${AUTH_OIDC_ISSUER-http://127.0.0.1:${C360_OIDC_PORT:-8090}}"
  if [[ -n "$AUTH_OIDC_ISSUER" ]]; then
    export SERVICE_OIDC_CLIENT_ID="${SERVICE_OIDC_CLIENT_ID:-c360-services}"
    export SERVICE_OIDC_CLIENT_SECRET="${SERVICE_OIDC_CLIENT_SECRET:-services-demo-secret-0123456789abcdef}"
  fi
fi

# 'c360 processes' imports every service; cache its answer until a bootstrap.py changes.
process_list() {
  local key
  key="$(cat "$REPO_ROOT"/services/*/bootstrap.py "$REPO_ROOT"/shared/cli.py | sha1sum | cut -c1-16)"
  if [[ ! -f "$PROCESS_LIST.$key" ]]; then
    rm -f "$PROCESS_LIST".*
    "$C360" processes > "$PROCESS_LIST.$key.tmp" && mv "$PROCESS_LIST.$key.tmp" "$PROCESS_LIST.$key"
  fi
  cat "$PROCESS_LIST.$key"
}

start() {
  [[ -x "$C360" ]] || die "the virtual environment is missing: run 'make install' first"
  local started=0 name cmd pidfile
  while IFS=$'\t' read -r name cmd; do
    [[ -n "$name" ]] || continue
    pidfile="$RUN_DIR/proc-$name.pid"
    if pid_alive "$pidfile"; then continue; fi
    # shellcheck disable=SC2086 # cmd is a word list from 'c360 processes'
    setsid "$REPO_ROOT/.venv/bin/"$cmd >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
    started=$((started + 1))
  done < <(process_list)
  if (( started )); then say "started $started process(es)"; else say "all platform processes already running"; fi
  wait_apis
}

wait_apis() {
  local port name ok
  for pair in customer:8001 ticketing:8002 campaigns:8003 analytics:8004; do
    name="${pair%%:*}"; port="${pair##*:}"
    pid_alive "$RUN_DIR/proc-$name-api.pid" || continue
    ok=0
    for _ in $(seq 1 300); do
      if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then ok=1; break; fi
      pid_alive "$RUN_DIR/proc-$name-api.pid" || break
      sleep 0.2
    done
    if (( ok )); then say "$name API ready on http://127.0.0.1:$port"
    else warn "$name API is not ready; see $LOG_DIR/$name-api.log"; tail -5 "$LOG_DIR/$name-api.log" >&2 || true; fi
  done
}

stop() {
  local f name
  shopt -s nullglob
  for f in "$RUN_DIR"/proc-*.pid; do
    name="$(basename "$f" .pid)"; name="${name#proc-}"
    stop_pidfile "$f" "$name"
  done
}

status() {
  local f name
  shopt -s nullglob
  for f in "$RUN_DIR"/proc-*.pid; do
    name="$(basename "$f" .pid)"; name="${name#proc-}"
    if pid_alive "$f"; then echo "$name: running (pid $(cat "$f"))"; else echo "$name: stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
