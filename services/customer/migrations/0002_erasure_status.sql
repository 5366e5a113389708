-- Erasure with proof: one row per (erased customer, service). The DELETE inserts the customer
-- service's own row as done and every other acknowledging service's row as pending, in the erasure's
-- transaction; the erasure-acks worker marks a row done when that service's CustomerDataErased arrives.
-- Nothing personal is stored here: ids, times and counts.

create table if not exists erasure_status (
    customer_id     uuid        not null,
    service         text        not null,
    status          text        not null check (status in ('pending', 'done')),
    requested_at    timestamptz not null,
    finished_at     timestamptz,
    details         jsonb       not null default '{}'::jsonb,
    ack_event_id    uuid,
    primary key (customer_id, service)
);
