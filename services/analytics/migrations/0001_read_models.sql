-- Analytics read models. They live in their own schema (``analytics``) so a rebuild can fill a
-- fresh copy beside the live one and swap the two by renaming schemas in one transaction.
-- ``analytics_create_read_model(schema)`` is the ONE definition of the tables: the migration and
-- the rebuild both call it. Connections use ``search_path = analytics, public``: the read-model
-- ``inbox`` shadows the platform one, so the projector's deduplication travels with the read model
-- it protects (a rebuilt schema carries the inbox of exactly the events it applied).

create or replace function analytics_create_read_model(target text) returns void
language plpgsql as $fn$
begin
    execute format('create schema if not exists %I', target);
    execute format($ddl$
        create table if not exists %1$I.inbox (
            consumer    text        not null,
            event_id    uuid        not null,
            applied_at  timestamptz not null default clock_timestamp(),
            primary key (consumer, event_id)
        );

        -- The 360 state per customer (JSONB) plus the columns lists filter and sort on.
        create table if not exists %1$I.customer_views (
            customer_id         uuid primary key,
            state               jsonb       not null,
            merged_into         uuid,
            status              text        not null,
            lifecycle_stage     text,
            churn_band          text,
            churn_score         numeric(6, 4),
            value_tier          text,
            clv                 numeric(18, 2) not null default 0,
            segments            text[]      not null default '{}',
            name_search         text,
            acquisition_channel text,
            customer_since      timestamptz,
            dissolved_at        timestamptz,
            last_event_at       timestamptz,
            signal_version      integer     not null default 0,
            updated_at          timestamptz not null default clock_timestamp()
        );
        create index if not exists customer_views_segments_idx on %1$I.customer_views using gin (segments);
        create index if not exists customer_views_stage_idx on %1$I.customer_views (lifecycle_stage, clv desc, customer_id);
        create index if not exists customer_views_band_idx on %1$I.customer_views (churn_band, clv desc, customer_id);
        create index if not exists customer_views_clv_idx on %1$I.customer_views (clv desc, customer_id);
        create index if not exists customer_views_name_idx on %1$I.customer_views (name_search text_pattern_ops);

        -- Every event of every domain per customer: the timeline, and the history a late event
        -- or a time-travel query refolds. customer_id is the owner (the survivor after a merge),
        -- origin the customer the event was published for.
        create table if not exists %1$I.customer_events (
            event_id        uuid        primary key,
            customer_id     uuid        not null,
            origin          uuid        not null,
            event_type      text        not null,
            domain          text        not null,
            occurred_at     timestamptz not null,
            data            jsonb       not null,
            correlation_id  text
        );
        create index if not exists customer_events_timeline_idx
            on %1$I.customer_events (customer_id, occurred_at desc, event_id desc);
        create index if not exists customer_events_type_idx
            on %1$I.customer_events (customer_id, event_type, occurred_at desc, event_id desc);
        create index if not exists customer_events_origin_idx on %1$I.customer_events (origin);

        create table if not exists %1$I.customer_aliases (
            duplicate_id    uuid primary key,
            survivor_id     uuid not null
        );

        -- KPI read models: one row per fact the KPI counts, indexed by time.
        create table if not exists %1$I.survey_answers (
            event_id        uuid primary key,
            customer_id     uuid        not null,
            kind            text        not null,
            score           integer     not null,
            answered_at     timestamptz not null
        );
        create index if not exists survey_answers_time_idx on %1$I.survey_answers (kind, answered_at);

        create table if not exists %1$I.ticket_facts (
            ticket_id               uuid primary key,
            customer_id             uuid,
            kind                    text,
            opened_at               timestamptz,
            resolved_at             timestamptz,
            first_response_seconds  integer,
            resolution_seconds      integer,
            transfers               integer not null default 0,
            sla_breached            boolean not null default false,
            first_contact_resolution boolean,
            root_cause              text
        );
        create index if not exists ticket_facts_opened_idx on %1$I.ticket_facts (opened_at);
        create index if not exists ticket_facts_resolved_idx on %1$I.ticket_facts (resolved_at);

        create table if not exists %1$I.campaign_stats (
            campaign_id         text primary key,
            name                text,
            objective           text,
            sends               integer        not null default 0,
            send_cost           numeric(18, 2) not null default 0,
            held_out            integer        not null default 0,
            redemptions         integer        not null default 0,
            redemption_revenue  numeric(18, 2) not null default 0,
            redemption_margin   numeric(18, 2) not null default 0,
            control_conversions integer        not null default 0,
            first_send_at       timestamptz,
            last_send_at        timestamptz
        );

        create table if not exists %1$I.campaign_holdouts (
            campaign_id     text not null,
            customer_id     uuid not null,
            held_out_at     timestamptz not null,
            converted       boolean not null default false,
            primary key (customer_id, campaign_id)
        );

        -- customers who bought both skus (each unordered pair stored in both directions).
        create table if not exists %1$I.co_purchases (
            sku_a       text not null,
            sku_b       text not null,
            customers   integer not null,
            primary key (sku_a, sku_b)
        );
    $ddl$, target);
end
$fn$;

select analytics_create_read_model('analytics');
