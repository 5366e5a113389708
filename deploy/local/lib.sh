# Shared helpers for the local infrastructure scripts (sourced, not run).
# Everything lives under $C360_HOME (default: <repo>/.local), which git ignores:
#   run/*.pid   pid files of what we started      logs/*.log   their output
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
C360_HOME="${C360_HOME:-$REPO_ROOT/.local}"
RUN_DIR="$C360_HOME/run"
LOG_DIR="$C360_HOME/logs"
mkdir -p "$RUN_DIR" "$LOG_DIR"

say()  { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die()  { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# pid_alive FILE -> 0 when FILE names a live process.
pid_alive() {
  local file="$1"
  [[ -f "$file" ]] || return 1
  local pid
  pid="$(cat "$file" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# port_owner PORT -> prints "name(pid)" of whatever listens on 127.0.0.1:PORT, empty when free.
port_owner() {
  local port="$1"
  ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:((.*))' | sed -E 's/users:\(\("([^"]+)",pid=([0-9]+).*/\1(pid \2)/' | head -1
}

port_in_use() {
  ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# stop_pidfile FILE NAME: SIGTERM, wait up to 30 s, then SIGKILL. Removes the pid file.
stop_pidfile() {
  local file="$1" name="$2" pid i
  if ! pid_alive "$file"; then rm -f "$file"; return 0; fi
  pid="$(cat "$file")"
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "$name did not stop in 30 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

venv_python() {
  local py="$REPO_ROOT/.venv/bin/python"
  [[ -x "$py" ]] || die "the virtual environment is missing: run 'make install' first"
  echo "$py"
}
