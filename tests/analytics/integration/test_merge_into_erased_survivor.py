"""A customer merged into a survivor after the survivor's erasure keeps its personal fields, live and rebuilt.

Erasing a survivor forgets the duplicates merged into it then (the customer service destroys their keys
with its own); a later merge does not destroy the duplicate's key. The live projector used to redact every
duplicate the erased survivor had at the end of the batch, so a merge arriving in the erasure's batch (or
any later batch touching the survivor) nulled the duplicate's stored fields for good, and an unmerge in a
later batch refolded its view from them: name, email, search name and ticket subject None, where the set
rebuild (one pass, final aliases) had them. The batches are the ones Hypothesis found: records 0-7, 8-19
(with a redelivered order and erasure), 20-21.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.analytics.application.sweep import sweep
from services.analytics.config import AnalyticsSettings, with_search_path
from services.analytics.consumers.projector import AnalyticsProjector
from services.analytics.domain.model import Fact
from services.analytics.setrebuild import SetRebuild
from shared.consuming.consumer import RawRecord, apply_records
from shared.contracts.customer import CustomersMerged, CustomersUnmerged
from shared.store.db import connect, create_pool
from tests.analytics.builders import at, complaint_filed, erased, fact, order_placed, registered, ticket_opened
from tests.analytics.integration.support import records

SWEPT_AT = at(400)
VIEW = "select state, name_search from customer_views where customer_id = $1"


async def _schema(settings: AnalyticsSettings) -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await connect(settings.database_url)
    try:
        await conn.execute("select analytics_create_read_model($1)", schema)
    finally:
        await conn.close()
    return schema


async def _live(settings: AnalyticsSettings, batches: list[list[RawRecord]]) -> str:
    schema = await _schema(settings)
    dsn = with_search_path(settings.database_url, schema)
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        projector = AnalyticsProjector(rules=settings.rules, store=None)
        for batch in batches:
            assert await apply_records(pool, projector, batch) == []
        await sweep(pool, now=SWEPT_AT, rules=settings.rules, store=None)
    finally:
        await pool.close()
    return dsn


async def _rebuilt(settings: AnalyticsSettings, delivered: list[RawRecord]) -> str:
    schema = await _schema(settings)
    dsn = with_search_path(settings.database_url, schema)

    async def dead_letter(record: RawRecord, reason: str, detail: str) -> None:
        raise AssertionError(f"{reason}: {detail}")

    conn = await connect(dsn)
    try:
        builder = SetRebuild(conn, schema, consumer=AnalyticsProjector(rules=settings.rules, store=None).name,
                             rules=settings.rules, dead_letter=dead_letter)
        await builder.start()
        await builder.add(delivered)
        await builder.finish(SWEPT_AT)
    finally:
        await conn.close()
    return dsn


async def _seen(dsn: str, customer: str) -> tuple[Any, ...]:
    """The customer's opened fields as the view and its stored registration hold them."""
    conn = await connect(dsn)
    try:
        row = await conn.fetchrow(VIEW, customer)
        stored = await conn.fetchval(
            "select data->>'name' from customer_events where origin = $1 and event_type = 'CustomerRegistered'",
            customer)
    finally:
        await conn.close()
    assert row is not None
    state = row["state"]
    subjects = sorted(str(t["subject"]) for t in state["tickets"].values())
    return state["profile"]["name"], state["profile"]["email"], row["name_search"], subjects, stored


def _history(survivor: str, duplicate: str, *, unmerge: bool) -> list[Fact]:
    ticket = str(uuid.uuid4())
    facts = [
        registered(duplicate, at(0), name="Person 0", email="p0@example.com"),
        order_placed(duplicate, at(1), order_id=str(uuid.uuid4())),
        ticket_opened(duplicate, ticket, at(5)),
        complaint_filed(duplicate, ticket, at(5)),
        registered(survivor, at(23), name="Person 1", email="p1@example.com"),
        order_placed(survivor, at(24), order_id=str(uuid.uuid4())),
        order_placed(duplicate, at(53), order_id=str(uuid.uuid4())),
        erased(survivor, at(97)),
        erased(survivor, at(98)),
        fact(CustomersMerged(customer_id=survivor, duplicate_id=duplicate, merged_at=at(99)), at(99)),
        order_placed(duplicate, at(99, hours=1), order_id=str(uuid.uuid4())),
    ]
    if unmerge:
        facts.append(fact(CustomersUnmerged(customer_id=survivor, duplicate_id=duplicate, unmerged_at=at(100)),
                          at(100)))
    return facts


async def test_an_unmerge_after_a_merge_into_an_erased_survivor_leaves_the_duplicate_opened(
    settings: AnalyticsSettings, pool: asyncpg.Pool
) -> None:
    survivor, duplicate = str(uuid.uuid4()), str(uuid.uuid4())
    delivered = records(_history(survivor, duplicate, unmerge=True))
    # erasure, redelivered erasure and the merge in one batch; the unmerge in the next
    batches = [delivered[:6], [*delivered[6:9], delivered[6], delivered[7], *delivered[9:11]], delivered[11:]]
    live, rebuilt = await _live(settings, batches), await _rebuilt(settings, delivered)

    opened = ("Person 0", "p0@example.com", "person 0", ["Late delivery"], "Person 0")
    assert await _seen(live, duplicate) == opened
    assert await _seen(rebuilt, duplicate) == opened


async def test_a_duplicate_merged_into_an_erased_survivor_keeps_its_stored_fields_in_both_paths(
    settings: AnalyticsSettings, pool: asyncpg.Pool
) -> None:
    survivor, duplicate = str(uuid.uuid4()), str(uuid.uuid4())
    delivered = records(_history(survivor, duplicate, unmerge=False))
    # the merge and the duplicate's next order a batch after the erasure (the survivor's view is erased then)
    live, rebuilt = await _live(settings, [delivered[:9], delivered[9:]]), await _rebuilt(settings, delivered)

    stored = ("select origin::text, data->>'name' from customer_events"
              " where event_type = 'CustomerRegistered' order by origin")
    live_conn, rebuilt_conn = await connect(live), await connect(rebuilt)
    try:
        expected = sorted([(duplicate, "Person 0"), (survivor, None)])
        assert [tuple(r) for r in await live_conn.fetch(stored)] == expected
        assert [tuple(r) for r in await rebuilt_conn.fetch(stored)] == expected
    finally:
        await live_conn.close()
        await rebuilt_conn.close()


async def test_a_duplicate_merged_before_the_survivors_erasure_is_still_forgotten(
    settings: AnalyticsSettings, pool: asyncpg.Pool
) -> None:
    survivor, duplicate = str(uuid.uuid4()), str(uuid.uuid4())
    history = [
        registered(duplicate, at(0), name="Person 0", email="p0@example.com"),
        registered(survivor, at(1), name="Person 1", email="p1@example.com"),
        fact(CustomersMerged(customer_id=survivor, duplicate_id=duplicate, merged_at=at(2)), at(2)),
        erased(survivor, at(3)),
    ]
    delivered = records(history)
    live, rebuilt = await _live(settings, [delivered[:3], delivered[3:]]), await _rebuilt(settings, delivered)

    for dsn in (live, rebuilt):
        conn = await connect(dsn)
        try:
            names = await conn.fetch("select data->>'name' as n from customer_events"
                                     " where event_type = 'CustomerRegistered'")
        finally:
            await conn.close()
        assert [r["n"] for r in names] == [None, None]
