-- The service follow-up templates as data (GET/PUT /v1/service-messages). Their history is the
-- ``service-message-templates`` event stream (ServiceMessageTemplatesChanged); this one row is the
-- current version, written in the same transaction, read by the engine per follow-up. No row:
-- version 0, the defaults in code (services/campaigns/domain/service_messages.py).
create table if not exists service_message_templates (
    id          text        primary key default 'current' check (id = 'current'),
    version     integer     not null check (version > 0),
    templates   jsonb       not null,
    changed_by  text,
    changed_at  timestamptz not null
);
