-- Ticketing read models: the tickets (the agent's queue) and the replica of what ticketing needs
-- to know about customers (built from customer.events).

create table if not exists tickets (
    id                  uuid        primary key,
    customer_id         uuid        not null,
    kind                text        not null,
    channel             text        not null,
    priority            text        not null,
    category            text,
    order_id            uuid,
    status              text        not null,
    owner_id            text,
    opened_by           text,
    transfer_count      integer     not null default 0,
    escalation_level    integer     not null default 0,
    reopen_count        integer     not null default 0,
    customer_verified   boolean     not null default true,
    customer_tier       text        not null,
    -- personal free text: nulled when the customer is erased
    subject             text,
    description         text,
    resolution          text,
    root_cause          text,
    first_response_due  timestamptz not null,
    resolution_due      timestamptz not null,
    first_responded_at  timestamptz,
    breached            boolean     not null default false,
    -- when this ticket breaches next; 'infinity' when nothing can breach (paused, resolved)
    queue_due           timestamptz not null default 'infinity',
    opened_at           timestamptz not null,
    resolved_at         timestamptz,
    closed_at           timestamptz,
    version             integer     not null,
    updated_at          timestamptz not null default clock_timestamp()
);

-- The queue: what breaches next comes first, keyset-paginated on (queue_due, id).
create index if not exists tickets_queue_idx on tickets (queue_due, id);
create index if not exists tickets_customer_queue_idx on tickets (customer_id, queue_due, id);
create index if not exists tickets_owner_queue_idx on tickets (owner_id, queue_due, id) where owner_id is not null;
create index if not exists tickets_status_queue_idx on tickets (status, queue_due, id);
create index if not exists tickets_opened_idx on tickets (opened_at desc, id desc);
-- The sweeps: tickets whose customer was never seen (ADR 0003).
create index if not exists tickets_unverified_idx on tickets (customer_id, opened_at)
    where not customer_verified and status <> 'closed';

create table if not exists customer_replica (
    customer_id         uuid        primary key,
    relationship_type   text,
    account_manager_id  text,
    status              text        not null default 'active' check (status in ('active', 'merged', 'erased')),
    merged_into         uuid,
    registered_at       timestamptz,
    updated_at          timestamptz not null default clock_timestamp()
);
create index if not exists customer_replica_merged_into_idx on customer_replica (merged_into)
    where merged_into is not null;
