-- Business-hours calendars for SLA clocks (issue 19.1). Their events live in the event store
-- (streams 'calendar:<name>' and 'sla-calendars'); these tables are the read side the handlers
-- lock: opening or resuming a ticket reads its calendar FOR SHARE, so a calendar change (which
-- updates the row, then re-plans the open tickets on it) never misses a ticket opened meanwhile.
create table if not exists sla_calendars (
    name        text        primary key,
    definition  jsonb       not null,
    version     integer     not null,
    updated_at  timestamptz not null default clock_timestamp()
);

-- Which calendar each SLA tier counts on; null is 24/7. One row per tier from the start, so there is
-- always a row to lock.
create table if not exists sla_tier_calendars (
    tier        text        primary key,
    calendar    text        references sla_calendars (name),
    updated_at  timestamptz not null default clock_timestamp()
);
insert into sla_tier_calendars (tier) values ('standard'), ('dedicated_assistance') on conflict do nothing;

alter table tickets add column if not exists sla_calendar text;

-- Re-planning finds the unfinished tickets on a calendar, or of a tier.
create index if not exists tickets_open_calendar_idx on tickets (sla_calendar)
    where sla_calendar is not null and status not in ('resolved', 'closed');
create index if not exists tickets_open_tier_idx on tickets (customer_tier)
    where status not in ('resolved', 'closed');
