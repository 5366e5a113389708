-- Replenishment alerts (issue 21.2; docs/analytics-rules.md#account-managers-alerts): per customer and
-- product, how many orders held it and when the first and last were. The sweep alerts the account
-- manager when a product bought regularly is overdue. Written by the alerts consumer (in ``public``
-- beside alert_subjects, for the same reason: alerts are never recomputed by a rebuild). An erasure
-- deletes the customer's rows.
create table if not exists public.alert_purchases (
    customer_id     uuid        not null,
    sku             text        not null,
    purchases       integer     not null,
    first_at        timestamptz not null,
    last_at         timestamptz not null,
    last_event_id   uuid        not null,
    primary key (customer_id, sku)
);
