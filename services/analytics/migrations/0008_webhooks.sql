-- Outbound webhooks (docs/webhooks.md, docs/adr/0010-webhooks.md).
--
-- In ``public`` like the event store and ``published_recommendations``: subscriptions, deliveries
-- and their attempts are the platform's memory of what it promised and sent, not a read model, so
-- a rebuild (which swaps only the ``analytics`` schema) never touches them.
--
-- Personal data: a delivery's payload keeps personal fields sealed exactly as the topics carry them
-- (``enc:v1:...`` under the customer's key) and opens them only when it is sent, so an erasure
-- (key destroyed) also reaches deliveries still waiting; for subscriptions without the right they
-- are stored as null from the start.
create table if not exists public.webhook_subscriptions (
    id                     uuid        primary key,
    url                    text        not null,
    description            text        not null default '',
    event_types            text[]      not null,
    filter                 jsonb       not null default '[]',
    personal_data          boolean     not null default false,
    status                 text        not null default 'active' check (status in ('active', 'disabled')),
    secret                 text        not null,
    previous_secret        text,
    previous_secret_until  timestamptz,
    version                integer     not null default 1,
    consecutive_failures   integer     not null default 0,
    disabled_at            timestamptz,
    disabled_reason        text,
    created_at             timestamptz not null,
    updated_at             timestamptz not null
);

create table if not exists public.webhook_deliveries (
    id               uuid        primary key,              -- the webhook-id header: the same on every retry
    seq              bigserial   not null,
    subscription_id  uuid        not null references public.webhook_subscriptions (id) on delete cascade,
    event_id         uuid        not null,
    event_type       text        not null,
    event_time       timestamptz not null,
    source           text        not null,
    ordering_key     text        not null,                 -- the event's subject (customer id): one line per key
    replay_id        uuid,                                 -- null for live routing
    payload          jsonb       not null,
    status           text        not null default 'pending' check (status in ('pending', 'delivered', 'dead')),
    attempts         integer     not null default 0,
    next_attempt_at  timestamptz not null,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz not null,
    delivered_at     timestamptz,
    dead_at          timestamptz
);
-- Live routing records an event once per subscription (the inbox already deduplicates; this holds
-- even if a rebuilt inbox forgot); a replay records it again under its own id.
create unique index if not exists webhook_deliveries_live_once
    on public.webhook_deliveries (subscription_id, event_id) where replay_id is null;
create unique index if not exists webhook_deliveries_replay_once
    on public.webhook_deliveries (subscription_id, replay_id, event_id) where replay_id is not null;
-- The delivery worker's question: the oldest pending delivery of each (subscription, key) line.
create index if not exists webhook_deliveries_pending
    on public.webhook_deliveries (subscription_id, ordering_key, event_time, seq) where status = 'pending';
-- The delivery log, newest first, per subscription and status.
create index if not exists webhook_deliveries_log
    on public.webhook_deliveries (subscription_id, seq desc);
create index if not exists webhook_deliveries_dead
    on public.webhook_deliveries (subscription_id, seq desc) where status = 'dead';

create table if not exists public.webhook_attempts (
    delivery_id      uuid        not null references public.webhook_deliveries (id) on delete cascade,
    attempt          integer     not null,
    subscription_id  uuid        not null,
    attempted_at     timestamptz not null,
    status_code      integer,
    latency_ms       double precision not null,
    error            text,
    primary key (delivery_id, attempt)
);

create table if not exists public.webhook_replays (
    id               uuid        primary key,
    subscription_id  uuid        not null references public.webhook_subscriptions (id) on delete cascade,
    since            timestamptz not null,
    status           text        not null default 'queued' check (status in ('queued', 'running', 'done', 'failed')),
    events_matched   integer     not null default 0,
    events_read      bigint      not null default 0,
    error            text,
    requested_at     timestamptz not null,
    finished_at      timestamptz
);
create index if not exists webhook_replays_queued on public.webhook_replays (requested_at) where status in ('queued', 'running');
