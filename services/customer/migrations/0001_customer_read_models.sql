-- Read models of the customer service, written inline in the unit of work (same transaction as the
-- events). Personal columns here are plain text because erasure deletes/blanks them in the same
-- transaction as CustomerErased; the event log keeps them only encrypted (crypto-shredding).

create extension if not exists pg_trgm;

create table if not exists customers (
    id                  uuid        primary key,
    status              text        not null default 'active' check (status in ('active', 'erased')),
    merged_into         uuid        references customers (id),
    -- personal (blanked on erasure)
    name                text,
    email               text,
    phone               text,
    birth_date          date,
    address             text,
    name_key            text,
    email_canonical     text,
    -- not personal
    timezone            text,
    relationship_type   text        not null,
    acquisition_channel text,
    referred_by         uuid,
    acquisition_cost    numeric(18, 2),
    consents            jsonb       not null default '{}'::jsonb,
    interests           text[]      not null default '{}',
    account_manager_id  text,
    version             integer     not null,
    registered_at       timestamptz not null,
    updated_at          timestamptz not null,
    erased_at           timestamptz
);
-- Identity: one customer per normalised email and per E.164 phone. A concurrent duplicate
-- registration loses on these indexes and becomes a 409, never a 500.
create unique index if not exists customers_email_uq on customers (email) where email is not null;
create unique index if not exists customers_phone_uq on customers (phone) where phone is not null;
-- Duplicate candidates and search.
create index if not exists customers_email_canonical_idx on customers (email_canonical) where status = 'active';
create index if not exists customers_birth_date_idx on customers (birth_date) where status = 'active';
create index if not exists customers_name_trgm_idx on customers using gin (name_key gin_trgm_ops);
create index if not exists customers_merged_into_idx on customers (merged_into) where merged_into is not null;

create table if not exists orders (
    id                      uuid        primary key,
    customer_id             uuid        not null,
    status                  text        not null,
    lines                   jsonb       not null,
    total                   numeric(18, 2) not null,
    cost                    numeric(18, 2),
    margin                  numeric(18, 2),
    currency                text        not null,
    channel                 text        not null,
    offer_code              text,
    promised_delivery_date  date,
    placed_at               timestamptz not null,
    shipped_at              timestamptz,
    delivered_at            timestamptz,
    cancelled_at            timestamptz,
    returned_at             timestamptz,
    version                 integer     not null,
    updated_at              timestamptz not null
);
-- Newest first per customer, keyset-paginated on (placed_at, id).
create index if not exists orders_customer_idx on orders (customer_id, placed_at desc, id desc);

create table if not exists invoices (
    id              uuid        primary key,
    order_id        uuid        not null unique,
    customer_id     uuid        not null,
    amount          numeric(18, 2) not null,
    paid            numeric(18, 2) not null default 0,
    currency        text        not null,
    due_date        date        not null,
    issued_at       timestamptz not null,
    overdue_at      timestamptz,
    version         integer     not null
);
create index if not exists invoices_customer_idx on invoices (customer_id);
-- What the overdue scheduler scans: open invoices not yet reported, by due date.
create index if not exists invoices_overdue_scan_idx on invoices (due_date)
    where overdue_at is null and paid < amount;

create table if not exists payments (
    id              uuid        primary key,
    invoice_id      uuid        not null references invoices (id),
    customer_id     uuid        not null,
    amount          numeric(18, 2) not null,
    method          text        not null,
    paid_at         timestamptz not null
);
create index if not exists payments_invoice_idx on payments (invoice_id);
create index if not exists payments_customer_idx on payments (customer_id);
