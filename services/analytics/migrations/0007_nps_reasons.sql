-- NPS reasons (issue 19.4): for each answer to "what is the main reason for your score?", the terms
-- it mentions (words and two-word phrases, stop words removed: services/analytics/domain/reasons.py)
-- with the NPS band of the survey's score. Never the text: the reason arrives sealed under the
-- customer's key and only its terms are kept, under the customer's id, so an erasure deletes the
-- customer's rows (and a rebuild after it cannot open the text again).
--
-- ``analytics_create_read_model`` stays the ONE definition the rebuild uses.
alter function analytics_create_read_model(text) rename to analytics_create_read_model_0006;

create function analytics_create_read_model(target text) returns void
language plpgsql as $fn$
begin
    perform analytics_create_read_model_0006(target);
    execute format($ddl$
        create table if not exists %1$I.nps_reasons (
            event_id        uuid        primary key,
            customer_id     uuid        not null,
            answered_at     timestamptz not null,
            category        text        not null check (category in ('promoter', 'passive', 'detractor')),
            terms           text[]      not null
        );
        create index if not exists nps_reasons_time_idx on %1$I.nps_reasons (answered_at);
        create index if not exists nps_reasons_customer_idx on %1$I.nps_reasons (customer_id);
    $ddl$, target);
end
$fn$;

select analytics_create_read_model('analytics');
