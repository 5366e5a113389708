-- Alerts held for a customer nobody manages yet (services/analytics/application/alerts.py ``_hold``):
-- the alerts consumer reads the domain topics side by side, so an account manager assigned before a
-- complaint may be read after it. The complaint's alert waits here and goes to the manager when the
-- assignment is read (if the event came at or after the assignment); rows older than the dedup window
-- of event time are dropped as newer ones arrive, and an erasure deletes the customer's rows.
create table if not exists public.alert_pending (
    customer_id     uuid        not null,
    kind            text        not null,
    rule            text        not null,
    reason          text        not null,
    provenance      uuid[]      not null default '{}',
    decided_at      timestamptz not null,
    primary key (customer_id, kind, decided_at)
);
