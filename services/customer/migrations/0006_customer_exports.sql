-- Right of access across services (issue 20.1): one row per export requested with
-- POST /v1/customers/{id}/exports. The job gathers each service's part (parts: per service
-- pending/done/failed) and stores the finished document here until the customer is erased: the
-- erasure deletes the document (the row stays: who asked for an export, when, and how it ended).

create table if not exists customer_exports (
    id              uuid        primary key,
    customer_id     uuid        not null,
    requested_by    text        not null,
    self_service    boolean     not null,
    status          text        not null check (status in ('running', 'done', 'failed', 'erased')),
    parts           jsonb       not null,
    document        jsonb,
    error           text,
    requested_at    timestamptz not null,
    updated_at      timestamptz not null default clock_timestamp(),
    finished_at     timestamptz
);
create index if not exists customer_exports_customer_idx on customer_exports (customer_id, requested_at);
