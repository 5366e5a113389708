-- Service follow-ups (issue 21.3, docs/service-messages.md): a resolved complaint, a delivered order,
-- a paid refund each give the customer one short message in plain words. One row per triggering
-- event (its ce_id is the key), so a redelivered or replayed TicketResolved gives one message; a row
-- deferred by quiet hours is decided again by its timer and becomes sent (or withheld) in place.
create table if not exists service_messages (
    triggering_event_id text        primary key,
    message_id          text        not null unique,
    customer_id         text        not null,
    kind                text        not null check (kind in ('complaint_resolved', 'order_delivered', 'refund_paid')),
    status              text        not null check (status in ('sent', 'deferred', 'withheld')),
    channel             text,
    reason              text,
    detail              text,
    text                text        not null,
    variables           jsonb       not null default '{}'::jsonb,
    templates_version   integer     not null,
    decided_at          timestamptz not null,
    first_decided_at    timestamptz not null,
    deferred_until      timestamptz,
    sent_at             timestamptz
);

create index if not exists service_messages_customer on service_messages (customer_id, decided_at);

-- The customer's separate opt-out of service follow-ups (Consents.service_followups, default on).
alter table customer_replica add column if not exists service_followups boolean not null default true;
