-- Notes on customers and the follow-ups they ask for (issue 21.1), written inline in the unit of work.
-- customer_notes.text is personal (the event log keeps it sealed under the customer's key); erasure
-- deletes the customer's notes in the same transaction as CustomerErased. follow_ups hold no personal
-- text (an owner, a state, a due moment) and stay for the record; lists leave out erased customers'.

create table if not exists customer_notes (
    id          uuid        primary key,
    customer_id uuid        not null,
    text        text        not null,
    author      text        not null,
    written_at  timestamptz not null
);
-- A customer's notes, newest first, keyset-paginated on (written_at, id).
create index if not exists customer_notes_customer_idx on customer_notes (customer_id, written_at desc, id desc);

create table if not exists follow_ups (
    id           uuid        primary key,
    customer_id  uuid        not null,
    note_id      uuid        not null,
    owner        text        not null,
    state        text        not null check (state in ('open', 'snoozed', 'done', 'cancelled')),
    due_at       timestamptz not null,
    scheduled_by text        not null,
    scheduled_at timestamptz not null,
    updated_at   timestamptz not null,
    version      integer     not null
);
-- Someone's follow-ups in a state, due first, keyset-paginated on (due_at, id).
create index if not exists follow_ups_owner_idx on follow_ups (owner, state, due_at, id);
create index if not exists follow_ups_customer_idx on follow_ups (customer_id);
create index if not exists follow_ups_note_idx on follow_ups (note_id);
