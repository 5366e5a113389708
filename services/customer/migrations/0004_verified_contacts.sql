-- Verified identities (issue 19.3): the contact details the customer proved they own (email, phone).
-- Shown on the profile; the merge rule itself reads the customer's stream, not this column.
alter table customers add column if not exists verified text[] not null default '{}';
