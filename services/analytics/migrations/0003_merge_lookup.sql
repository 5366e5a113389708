-- Time travel asks which merges concerned a customer up to an instant. The merges in which the
-- customer was the survivor are found by origin; those in which it was the duplicate are stored
-- under the survivor, so they need the duplicate's id indexed (a handful of rows: a partial index).
--
-- ``analytics_create_read_model`` stays the ONE definition the rebuild uses: the 0001 body keeps
-- creating the tables, and the new definition adds this index after it.
alter function analytics_create_read_model(text) rename to analytics_create_read_model_0001;

create function analytics_create_read_model(target text) returns void
language plpgsql as $fn$
begin
    perform analytics_create_read_model_0001(target);
    execute format($ddl$
        create index if not exists customer_events_merge_duplicate_idx
            on %1$I.customer_events ((data->>'duplicate_id'))
            where event_type in ('CustomersMerged', 'CustomersUnmerged');
    $ddl$, target);
end
$fn$;

select analytics_create_read_model('analytics');
