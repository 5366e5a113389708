#!/usr/bin/env bash
# Topics and database migrations for the local run, skipped when nothing changed since last time.
# A stamp records a hash of the migration files and topic settings; 'make clean' removes the data
# and the stamps together, so a fresh cluster is always provisioned.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

C360="$REPO_ROOT/.venv/bin/c360"
hash_of() { cat "$@" 2>/dev/null | sha1sum | cut -c1-16; }

topics_hash="$(printf '%s|%s|%s' "${KAFKA_BOOTSTRAP_SERVERS:-}" "${KAFKA_TOPIC_PREFIX:-}" "${KAFKA_TOPIC_PARTITIONS:-}" \
  | cat - "$REPO_ROOT/shared/outbox/topics.py" | sha1sum | cut -c1-16)"
topics_stamp="$C360_HOME/kafka/topics-$topics_hash"
if [[ ! -f "$topics_stamp" ]]; then
  "$C360" topics
  mkdir -p "$C360_HOME/kafka"; rm -f "$C360_HOME"/kafka/topics-*; touch "$topics_stamp"
fi

migrations_hash="$(printf '%s' "${POSTGRES_HOST:-}${POSTGRES_PORT:-}${CUSTOMER_DATABASE_URL:-}${TICKETING_DATABASE_URL:-}${CAMPAIGNS_DATABASE_URL:-}${ANALYTICS_DATABASE_URL:-}" \
  | cat - "$REPO_ROOT"/shared/store/sql/*.sql "$REPO_ROOT"/services/*/migrations/*.sql | sha1sum | cut -c1-16)"
migrations_stamp="$C360_HOME/pg/migrated-$migrations_hash"
if [[ ! -f "$migrations_stamp" ]]; then
  "$C360" migrate all
  mkdir -p "$C360_HOME/pg"; rm -f "$C360_HOME"/pg/migrated-*; touch "$migrations_stamp"
  [[ "$(id -u)" -eq 0 && -d "$C360_HOME/pg/data" ]] && chown postgres "$C360_HOME/pg" 2>/dev/null || true
fi
