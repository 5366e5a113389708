-- The bulk import's own tables (issue 18, ADR 0009), in every service that imports records: before
-- they lived in each of them as an identical migration (customer 0003, ticketing 0002, campaigns 0003,
-- kept applied where they ran; "if not exists" makes this one a no-op there).

-- One row per imported record, keyed by (kind, source_id), written in the same transaction as the
-- record's events. A re-run finds the row and creates nothing; a changed record (another fingerprint)
-- appends only the events that move it to its new state.
create table if not exists import_ledger (
    kind            text        not null,
    source_id       text        not null,
    entity_id       uuid        not null,
    customer_id     uuid,
    fingerprint     text        not null,
    outcome         text        not null check (outcome in ('created', 'linked')),
    imported_at     timestamptz not null default clock_timestamp(),
    updated_at      timestamptz not null default clock_timestamp(),
    primary key (kind, source_id)
);
create index if not exists import_ledger_entity_idx on import_ledger (entity_id);

-- Import jobs submitted over HTTP (POST /v1/imports): progress and result, polled by GET.
create table if not exists import_jobs (
    id              uuid        primary key,
    status          text        not null check (status in ('running', 'succeeded', 'failed')),
    submitted_by    text,
    summary         jsonb       not null default '{}'::jsonb,
    rejects         jsonb       not null default '[]'::jsonb,
    created_at      timestamptz not null default clock_timestamp(),
    updated_at      timestamptz not null default clock_timestamp()
);
