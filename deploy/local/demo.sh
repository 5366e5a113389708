#!/usr/bin/env bash
# Demo data for 'make up': loaded once through the services' HTTP APIs (a progress bar shows it),
# then a gentle live stream of activity in the background so the console moves.
#   DEMO_CUSTOMERS (300), DEMO_MONTHS (6), DEMO_SEED (42), DEMO_LIVE (1; 0 to disable)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY="$(venv_python)"
MARKER="$C360_HOME/demo-loaded"
LIVE_PID="$RUN_DIR/proc-demo-live.pid"
ARGS=(--customers "${DEMO_CUSTOMERS:-300}" --months "${DEMO_MONTHS:-6}" --seed "${DEMO_SEED:-42}")

if [[ ! -f "$MARKER" ]]; then
  say "loading demo data through the APIs (first run only)"
  # The demo replays months of history in simulated time; the schedulers run on the real clock and
  # would flag invoices overdue or tickets breached before their replayed payment or answer arrives.
  # Pause them during the load; 'platform.sh start' brings back the ones paused here afterwards.
  paused=0
  for worker in customer-scheduler ticketing-scheduler; do
    if pid_alive "$RUN_DIR/proc-$worker.pid"; then stop_pidfile "$RUN_DIR/proc-$worker.pid" "$worker"; paused=1; fi
  done
  (cd "$REPO_ROOT" && "$PY" -m demo "${ARGS[@]}") || die "the demo could not be loaded; see the service logs in $LOG_DIR"
  date -u +%FT%TZ > "$MARKER"
  if (( paused )); then "$REPO_ROOT/deploy/local/platform.sh" start >/dev/null; fi
fi

if [[ "${DEMO_LIVE:-1}" != "0" ]] && ! pid_alive "$LIVE_PID"; then
  # exec: the pid written is the live demo's own, so 'make down' stops it (not a shell around it).
  (cd "$REPO_ROOT" && exec setsid "$PY" -m demo "${ARGS[@]}" --live --no-progress >>"$LOG_DIR/demo-live.log" 2>&1 < /dev/null) &
  echo $! > "$LIVE_PID"
  say "live demo activity started (log: $LOG_DIR/demo-live.log; DEMO_LIVE=0 disables it)"
fi
