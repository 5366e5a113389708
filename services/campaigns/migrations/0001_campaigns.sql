-- Campaigns service: campaign read model, budgets, decisions (exactly once per trigger), offers,
-- conversions for uplift, surveys, and the customer replica the engine decides on.

create table if not exists campaigns (
    id                  uuid        primary key,
    name                text        not null,
    objective           text        not null,
    status              text        not null,
    trigger_event_type  text,
    schedule            text,
    definition          jsonb       not null,
    version             integer     not null,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
-- The engine asks "which active campaigns does this event type trigger?" for every event.
create index if not exists campaigns_active_trigger_idx on campaigns (trigger_event_type) where status = 'active';

-- One row per campaign; the engine locks it (select ... for update) in every decision transaction,
-- which is what keeps budget and caps right when two consumers decide for the same campaign.
create table if not exists campaign_budgets (
    campaign_id         uuid        primary key references campaigns (id),
    total               numeric(18, 2),
    spent               numeric(18, 2) not null default 0,
    exhausted_at        timestamptz
);

-- Exactly one decision per (campaign, customer, triggering event), whatever Kafka redelivers.
create table if not exists decisions (
    campaign_id         uuid        not null,
    customer_id         text        not null,
    triggering_event_id text        not null,
    outcome             text        not null check (outcome in ('sent', 'held_out', 'suppressed', 'deferred')),
    reason              text,
    channel             text,
    cost                numeric(18, 2) not null default 0,
    promotional         boolean     not null default true,
    decided_at          timestamptz not null,
    primary key (campaign_id, customer_id, triggering_event_id)
);
create index if not exists decisions_customer_idx on decisions (customer_id, decided_at);
create index if not exists decisions_campaign_outcome_idx on decisions (campaign_id, outcome, reason);

create table if not exists offers (
    code                text        primary key,
    campaign_id         uuid        not null,
    customer_id         text        not null,
    product_key         text        not null,
    channel             text        not null,
    issued_at           timestamptz not null,
    valid_until         timestamptz not null,
    redeemed_at         timestamptz,
    order_id            text,
    total               numeric(18, 2),
    margin              numeric(18, 2)
);
-- "Does this customer hold a live offer for this product?" (channel integration).
create index if not exists offers_live_idx on offers (customer_id, product_key, valid_until) where redeemed_at is null;
create index if not exists offers_campaign_idx on offers (campaign_id) where redeemed_at is not null;

create table if not exists invalid_redemptions (
    order_id            text        primary key,
    offer_code          text        not null,
    customer_id         text        not null,
    campaign_id         uuid,
    reason              text        not null,
    recorded_at         timestamptz not null
);

-- A treated or held-out customer who ordered within the attribution window: one per campaign.
create table if not exists conversions (
    campaign_id         uuid        not null,
    customer_id         text        not null,
    grp                 text        not null check (grp in ('sent', 'held_out')),
    order_id            text        not null,
    total               numeric(18, 2) not null,
    converted_at        timestamptz not null,
    primary key (campaign_id, customer_id)
);
create index if not exists conversions_campaign_idx on conversions (campaign_id, grp);

create table if not exists surveys (
    id                  uuid        primary key,
    customer_id         text        not null,
    kind                text        not null,
    token_hash          text        not null,
    ticket_id           text,
    campaign_id         uuid,
    channel             text,
    sent_at             timestamptz not null,
    expires_at          timestamptz not null,
    answered_at         timestamptz,
    score               integer
);
create index if not exists surveys_customer_idx on surveys (customer_id);

-- What the engine knows about each customer, built only from the events it consumes.
create table if not exists customer_replica (
    customer_id         text        primary key,
    registered          boolean     not null default false,
    erased              boolean     not null default false,
    merged_into         text,
    consents            text[]      not null default '{}',
    orders_count        integer     not null default 0,
    orders_total        numeric(18, 2) not null default 0,
    last_order_total    numeric(18, 2),
    last_order_at       timestamptz,
    open_complaints     text[]      not null default '{}',
    last_sla_breach_at  timestamptz,
    last_detractor_at   timestamptz,
    segments            text[]      not null default '{}',
    lifecycle_stage     text,
    churn_band          text,
    value_tier          text,
    relationship_type   text,
    interests           text[]      not null default '{}',
    birthday            date,
    timezone            text,
    updated_at          timestamptz not null default now()
);
create index if not exists customer_replica_birthday_idx
    on customer_replica ((extract(month from birthday)), (extract(day from birthday))) where birthday is not null;
create index if not exists customer_replica_last_order_idx on customer_replica (last_order_at) where not erased;
