-- What analytics last published as each customer's recommendations (RecommendationsChanged).
--
-- Why here, in ``public`` beside the event store, and not in the customer's view state: the
-- recommendations depend on every customer's purchases at the moment they were computed, so a
-- rebuild (other batches, another order) could not reproduce the list the live projector
-- published, and the rebuilt read model would differ from the live one. This table is the
-- publisher's memory, not part of the read model: a rebuild never touches it (its schema swap
-- renames only ``analytics``), so after a rebuild an unchanged list is still not published again.
create table if not exists public.published_recommendations (
    customer_id     uuid        primary key,
    skus            jsonb       not null,
    published_at    timestamptz not null default clock_timestamp()
);
