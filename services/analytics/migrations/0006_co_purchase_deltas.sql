-- Co-purchase counts without hot rows: every projector batch added ±1 onto shared
-- ``co_purchases`` rows, so two workers whose customers bought the same popular pair waited on
-- each other's row locks until commit. Workers now only INSERT into ``co_purchase_deltas``; a single
-- compactor (an advisory lock) folds them into ``co_purchase_totals``; ``co_purchases`` is the sum
-- of both, a view with the table's columns, so every reader keeps reading what it read.
alter function analytics_create_read_model(text) rename to analytics_create_read_model_0005;

create function analytics_create_read_model(target text) returns void
language plpgsql as $fn$
begin
    perform analytics_create_read_model_0005(target);
    if exists (select 1 from pg_tables where schemaname = target and tablename = 'co_purchases') then
        execute format('alter table %I.co_purchases rename to co_purchase_totals', target);
    end if;
    execute format($ddl$
        create table if not exists %1$I.co_purchase_deltas (
            sku_a       text    not null,
            sku_b       text    not null,
            customers   integer not null
        );
        create index if not exists co_purchase_deltas_sku_idx on %1$I.co_purchase_deltas (sku_a);
        create or replace view %1$I.co_purchases as
            select sku_a, sku_b, sum(customers)::integer as customers
            from (select sku_a, sku_b, customers from %1$I.co_purchase_totals
                  union all
                  select sku_a, sku_b, customers from %1$I.co_purchase_deltas) as c
            group by sku_a, sku_b;
    $ddl$, target);
end
$fn$;

select analytics_create_read_model('analytics');
