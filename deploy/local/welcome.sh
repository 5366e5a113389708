#!/usr/bin/env bash
# Printed at the end of 'make up': where to look, and a ready-made admin token.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
token="$("$REPO_ROOT/.venv/bin/c360" token --sub local-admin)"
cat <<TXT

  Customer 360 is running.

    customer API      http://127.0.0.1:8001/docs
    ticketing API     http://127.0.0.1:8002/docs
    campaigns API     http://127.0.0.1:8003/docs
    analytics API     http://127.0.0.1:8004/docs
    console           http://127.0.0.1:8004/console
    Kafka             127.0.0.1:9092      PostgreSQL  127.0.0.1:5432 (c360/c360)
    logs              $LOG_DIR

  Admin token (12 h):
    $token

  Sign in to the console with a demo person of the local OpenID provider (http://127.0.0.1:${C360_OIDC_PORT:-8090}):
    username   password           groups (docs/authentication.md maps them to scopes)
$("$REPO_ROOT/deploy/local/oidc.sh" users)

  Stop with 'make down'; 'make clean' also deletes local data.
TXT
