-- Campaign KPIs per UTC day, so /v1/kpis/campaigns counts the sends, hold-outs, redemptions and
-- control conversions that happened in the asked range (campaign_stats keeps the all-time totals,
-- the name and the objective).
alter function analytics_create_read_model(text) rename to analytics_create_read_model_0004;

create function analytics_create_read_model(target text) returns void
language plpgsql as $fn$
begin
    perform analytics_create_read_model_0004(target);
    execute format($ddl$
        create table if not exists %1$I.campaign_days (
            campaign_id         text           not null,
            day                 date           not null,
            sends               integer        not null default 0,
            send_cost           numeric(18, 2) not null default 0,
            held_out            integer        not null default 0,
            redemptions         integer        not null default 0,
            redemption_revenue  numeric(18, 2) not null default 0,
            redemption_margin   numeric(18, 2) not null default 0,
            control_conversions integer        not null default 0,
            primary key (campaign_id, day)
        );
        create index if not exists campaign_days_day_idx on %1$I.campaign_days (day);
    $ddl$, target);
end
$fn$;

select analytics_create_read_model('analytics');

-- campaigns projected before days were kept: their totals on the day of their first send (a
-- rebuild spreads them over their real days)
insert into analytics.campaign_days (campaign_id, day, sends, send_cost, held_out, redemptions, redemption_revenue,
                                     redemption_margin, control_conversions)
select campaign_id, (coalesce(first_send_at, now()) at time zone 'UTC')::date, sends, send_cost, held_out,
       redemptions, redemption_revenue, redemption_margin, control_conversions
from analytics.campaign_stats
where sends + held_out + redemptions + control_conversions > 0
on conflict do nothing;
