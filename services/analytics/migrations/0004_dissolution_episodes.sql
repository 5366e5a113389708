-- Every dissolution episode of a customer, for the churn KPI: a customer who dissolved in January
-- and came back in March still churned in January, and was not active at February's start.
-- ``dissolved_at`` (the current episode's start) stays for whoever reads it.
alter function analytics_create_read_model(text) rename to analytics_create_read_model_0003;

create function analytics_create_read_model(target text) returns void
language plpgsql as $fn$
begin
    perform analytics_create_read_model_0003(target);
    execute format($ddl$
        alter table %1$I.customer_views
            add column if not exists dissolutions tstzmultirange not null default '{}';
    $ddl$, target);
end
$fn$;

select analytics_create_read_model('analytics');

-- views projected before episodes were kept: their current dissolution is their one known episode
update analytics.customer_views set dissolutions = tstzmultirange(tstzrange(dissolved_at, null))
where dissolved_at is not null and dissolutions = '{}';
