-- The marketing policy as data (issue 19.2, docs/marketing-policy.md). The policy's history is the
-- ``marketing-policy`` event stream (MarketingPolicyChanged); this one row is its current version,
-- written in the same transaction, for the engines to read every few seconds. No row: version 0,
-- the deployment's defaults (CAMPAIGNS_FREQUENCY_CAP, CAMPAIGNS_QUIET_HOURS_* ...).
create table if not exists marketing_policy (
    id          text        primary key default 'current' check (id = 'current'),
    version     integer     not null check (version > 0),
    rules       jsonb       not null,
    changed_by  text,
    changed_at  timestamptz not null
);

-- Which policy version each decision used (null: decided before the policy was data).
alter table decisions add column if not exists policy_version integer;
