-- Platform tables every service database has: event store, outbox, inbox, idempotency keys,
-- per-customer encryption keys (crypto-shredding) and durable timers.

-- The event store. (stream_id, version) is the optimistic-concurrency key: two writers that both
-- expect version N race for the same (stream, N+1) row and exactly one insert survives.
-- tx_id lets readers follow commit order without a table-wide lock (see shared/eventstore.py).
create table if not exists events (
    position        bigint generated always as identity primary key,
    event_id        uuid        not null unique,
    stream_id       text        not null,
    stream_type     text        not null,
    version         integer     not null check (version > 0),
    event_type      text        not null,
    event_version   integer     not null,
    subject         text        not null,
    data            jsonb       not null,
    metadata        jsonb       not null default '{}'::jsonb,
    occurred_at     timestamptz not null,
    recorded_at     timestamptz not null default clock_timestamp(),
    tx_id           xid8        not null default pg_current_xact_id(),
    unique (stream_id, version)
);
create index if not exists events_subject_idx on events (subject, position);
create index if not exists events_tx_order_idx on events (tx_id, position);

-- Transactional outbox: written in the same transaction as the events (or any message a service
-- must publish), drained by the relay. Rows are marked published, then purged after a grace period.
create table if not exists outbox (
    position        bigint generated always as identity primary key,
    topic           text        not null,
    key             bytea,
    headers         jsonb       not null,
    payload         bytea       not null,
    created_at      timestamptz not null default clock_timestamp(),
    published_at    timestamptz
);
create index if not exists outbox_unpublished_idx on outbox (position) where published_at is null;
create index if not exists outbox_published_idx on outbox (published_at) where published_at is not null;

create or replace function outbox_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('outbox', '');
    return null;
end $$;
drop trigger if exists outbox_notify on outbox;
create trigger outbox_notify after insert on outbox for each statement execute function outbox_notify();

-- Inbox: ids of events a consumer has applied, written in the same transaction as the effect.
create table if not exists inbox (
    consumer        text        not null,
    event_id        uuid        not null,
    applied_at      timestamptz not null default clock_timestamp(),
    primary key (consumer, event_id)
);

-- Idempotency keys: the stored answer to a POST, written in the transaction of its effect.
create table if not exists idempotency_keys (
    scope           text        not null,
    key             text        not null,
    fingerprint     text        not null,
    status          integer,
    body            jsonb,
    headers         jsonb,
    created_at      timestamptz not null default clock_timestamp(),
    primary key (scope, key)
);

-- One data key per customer (subject); erasure destroys it (crypto-shredding).
create table if not exists personal_data_keys (
    subject         text        primary key,
    key             bytea,
    created_at      timestamptz not null default clock_timestamp(),
    destroyed_at    timestamptz
);

-- Durable timers: delayed work that must survive restarts and fire exactly once.
create table if not exists timers (
    id              uuid        primary key,
    kind            text        not null,
    due_at          timestamptz not null,
    payload         jsonb       not null default '{}'::jsonb,
    created_at      timestamptz not null default clock_timestamp(),
    fired_at        timestamptz
);
create index if not exists timers_due_idx on timers (due_at) where fired_at is null;
