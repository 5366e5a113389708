-- Export jobs survive the death of the API process running them (issue 20.1): a running export is
-- leased by one process (lease_owner until lease_until, renewed while it runs). A job whose lease
-- ran out lost its process; any API replica adopts it (one wins: the adoption is one conditional
-- update) and restarts it from scratch, since every part is an idempotent read. runs counts the
-- starts, so a job that keeps killing its process ends failed instead of looping.

alter table customer_exports add column if not exists lease_owner text;
alter table customer_exports add column if not exists lease_until timestamptz;
alter table customer_exports add column if not exists runs integer not null default 1;
update customer_exports set lease_until = updated_at where status = 'running' and lease_until is null;
create index if not exists customer_exports_leases_idx on customer_exports (lease_until) where status = 'running';
