-- The 360 state (~5 KB of JSONB per customer) is stored compressed, and every projector batch rewrites
-- the states it touched: with PostgreSQL's default ``pglz`` that was 155 us of server CPU per row
-- updated (``state || delta`` decompresses the old value and compresses the new one). ``lz4``
-- compresses and decompresses several times faster: the 360 replay's server CPU went from 75.5 to 61
-- us per event (issue 17). A server built without lz4 keeps pglz: same rows, slower writes.
-- ``toast_tuple_target`` keeps a compressed state (~3 KB) in its row instead of the TOAST table: a
-- read or rewrite no longer goes through the TOAST index and chunks (replay, alternated: server CPU
-- 80.4 and 81.0 us per event inline, 85.9 and 83.4 out of line).
alter function analytics_create_read_model(text) rename to analytics_create_read_model_0007;

create function analytics_create_read_model(target text) returns void
language plpgsql as $fn$
begin
    perform analytics_create_read_model_0007(target);
    execute format('alter table %I.customer_views set (toast_tuple_target = 8160)', target);
    begin
        execute format('alter table %I.customer_views alter column state set compression lz4', target);
    exception when feature_not_supported then
        raise notice 'this PostgreSQL server has no lz4: % keeps pglz for the 360 states', target;
    end;
end
$fn$;

select analytics_create_read_model('analytics');
