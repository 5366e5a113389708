-- Account managers' alerts (issue 21.2, 21.4; docs/analytics-rules.md#account-managers-alerts).
--
-- In ``public`` like the webhooks and ``published_recommendations``: the alerts are what the platform
-- told account managers (and published on analytics.events), not a read model a rebuild recomputes,
-- so a rebuild (which swaps only the ``analytics`` schema) never touches them and never raises an
-- alert twice. They are written by the ``analytics-alerts`` consumer and the sweep only.
--
-- ``alert_subjects``: what the alerts consumer knows of a customer (account manager, order count and
-- total for "far above their usual size", customer since, and the birth date, personal, opened with
-- the customer's key; an erasure nulls it and sets ``erased``, so an erased customer gets no alerts).
create table if not exists public.alert_subjects (
    customer_id         uuid        primary key,
    account_manager_id  text,
    orders              integer     not null default 0,
    order_total         numeric(18, 2) not null default 0,
    birth_date          date,
    customer_since      timestamptz,
    erased              boolean     not null default false,
    updated_at          timestamptz not null
);

create index if not exists alert_subjects_managed on public.alert_subjects (customer_id)
    where account_manager_id is not null and not erased;

-- One row per alert raised. ``occasion`` (special days: kind and year) makes a reminder once a year;
-- other kinds are deduplicated by ``decided_at`` within the rules' window. ``due_on`` is the special
-- day (personal for a birthday): an erasure nulls it.
create table if not exists public.account_manager_alerts (
    id                  uuid        primary key,
    customer_id         uuid        not null,
    account_manager_id  text        not null,
    kind                text        not null,
    rule                text        not null,
    reason              text        not null,
    provenance          uuid[]      not null default '{}',
    decided_at          timestamptz not null,
    raised_at           timestamptz not null,
    occasion            text,
    due_on              date,
    acknowledged_at     timestamptz,
    acknowledged_by     text,
    unique (customer_id, occasion)
);

create index if not exists account_manager_alerts_inbox
    on public.account_manager_alerts (account_manager_id, raised_at desc, id desc);
create index if not exists account_manager_alerts_dedup
    on public.account_manager_alerts (customer_id, kind, decided_at);
create index if not exists account_manager_alerts_raised on public.account_manager_alerts (raised_at);
