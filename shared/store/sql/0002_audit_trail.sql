-- The audit trail (shared/audit.py) asks "what did this person do": one index on the actor the
-- metadata records, only over events that have one (those a request caused), in the trail's order.
-- Customers are served by events_subject_idx, tickets and campaigns by the (stream_id, version) key.
create index if not exists events_actor_idx on events ((metadata->>'actor'), occurred_at, event_id)
    where metadata ? 'actor';
