#!/usr/bin/env bash
# The local OpenID Connect provider (deploy/local/oidc/provider.mjs) with the demo people of
# deploy/local/oidc/users.json, so a newcomer signs in to the console with a name and a password.
#   deploy/local/oidc.sh start|stop|status|users
# Needs Node.js and npm (oidc-provider is installed by deploy/tools/npm/install.sh). Its pid file is
# $C360_HOME/run/proc-oidc-provider.pid, so 'platform.sh stop' (make down) stops it with the rest;
# its signing keys persist in $C360_HOME/oidc-keys.json (delete the file to rotate them).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT="${C360_OIDC_PORT:-8090}"
PIDFILE="$RUN_DIR/proc-oidc-provider.pid"
ISSUER="http://127.0.0.1:$PORT"

start() {
  if pid_alive "$PIDFILE"; then say "OpenID provider already running on $ISSUER"; return 0; fi
  command -v node >/dev/null 2>&1 || { warn "node is not installed: no local OpenID provider (paste a token instead)"; return 0; }
  if port_in_use "$PORT"; then die "port $PORT is taken by $(port_owner "$PORT"); set C360_OIDC_PORT"; fi
  "$REPO_ROOT/deploy/tools/npm/install.sh" || die "could not install oidc-provider (npm)"
  C360_OIDC_PORT="$PORT" C360_OIDC_KEYS="$C360_HOME/oidc-keys.json" \
    C360_NPM_TOOLS="$("$REPO_ROOT/deploy/tools/npm/install.sh" --print)" \
    setsid node "$REPO_ROOT/deploy/local/oidc/provider.mjs" >>"$LOG_DIR/oidc-provider.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 150); do
    if curl -fsS "$ISSUER/.well-known/openid-configuration" >/dev/null 2>&1; then
      say "OpenID provider ready on $ISSUER"; return 0
    fi
    pid_alive "$PIDFILE" || break
    sleep 0.2
  done
  tail -5 "$LOG_DIR/oidc-provider.log" >&2 || true
  die "the OpenID provider did not start; see $LOG_DIR/oidc-provider.log"
}

users() {  # the demo people, for welcome.sh
  "$(venv_python)" - "$REPO_ROOT/deploy/local/oidc/users.json" <<'PY'
import json, sys
for user in json.load(open(sys.argv[1]))["users"]:
    print(f"    {user['username']:<10} {user['password']:<18} {', '.join(user['groups'])}")
PY
}

case "${1:-}" in
  start) start ;;
  stop) stop_pidfile "$PIDFILE" "oidc-provider" ;;
  status) if pid_alive "$PIDFILE"; then echo "oidc-provider: running on $ISSUER"; else echo "oidc-provider: stopped"; fi ;;
  users) users ;;
  *) echo "usage: $0 start|stop|status|users" >&2; exit 2 ;;
esac
