"""The event store: appends with their outbox rows, units of work, idempotent commands, migrations."""
