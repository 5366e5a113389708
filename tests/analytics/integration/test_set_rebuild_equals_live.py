"""The set-based rebuild gives the live projection's read model, table by table.

Hypothesis generates histories of a few customers with orders (some cancelled), complaints,
surveys, offers and hold-outs, merges, unmerges (chains too) and erasures (of survivors and of
merged duplicates), drawn as the customer service accepts them: a log it refuses to write (merging a
duplicate that has duplicates of its own, or an erased one) is not a history to agree on. The live
projector applies them as the topics deliver them, in random batches
with random redeliveries, then the sweep runs; the set-based rebuild folds the same log once and
loads it with COPY into another schema (``setrebuild.SetRebuild``, fed the same records in other
random batches, exactly what ``rebuild`` runs between reading the topics and the swap). Every table
must hold the same rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from services.analytics.application.sweep import sweep
from services.analytics.config import AnalyticsSettings, with_search_path
from services.analytics.consumers.projector import AnalyticsProjector
from services.analytics.domain.model import Fact
from services.analytics.setrebuild import SetRebuild
from shared.consuming.consumer import RawRecord, apply_records
from shared.contracts.customer import CustomersMerged, CustomersUnmerged
from shared.store.db import connect, create_pool
from tests.analytics.builders import (
    at,
    complaint_filed,
    erased,
    fact,
    held_out,
    offer_sent,
    order_placed,
    order_status,
    registered,
    survey_answered,
    ticket_opened,
    ticket_resolved,
)
from tests.analytics.integration.support import records

SWEPT_AT = at(400)

TABLES = {
    "customer_views": "select customer_id, state, merged_into, status, lifecycle_stage, churn_band, churn_score,"
    " value_tier, clv, segments, name_search, acquisition_channel, customer_since, dissolved_at, dissolutions,"
    " last_event_at, signal_version from customer_views order by customer_id",
    "customer_events": "select * from customer_events order by event_id",
    "customer_aliases": "select * from customer_aliases order by duplicate_id",
    "survey_answers": "select * from survey_answers order by event_id",
    "ticket_facts": "select * from ticket_facts order by ticket_id",
    "campaign_stats": "select * from campaign_stats order by campaign_id",
    "campaign_days": "select * from campaign_days order by campaign_id, day",
    "campaign_holdouts": "select * from campaign_holdouts order by customer_id, campaign_id",
    "co_purchases": "select * from co_purchases where customers <> 0 order by sku_a, sku_b",
    "inbox": "select consumer, event_id from inbox order by event_id",
}


@dataclass
class _Identity:
    """Who is merged into whom and who is erased, to draw only what the customer service accepts."""

    merged_into: dict[str, str] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)

    def active(self, customer: str) -> bool:
        return customer not in self.erased and customer not in self.merged_into

    def may_merge(self, survivor: str, duplicate: str) -> bool:
        """A survivor that exists; a duplicate active and without duplicates of its own (chains still form
        when the survivor itself was merged away)."""
        return (survivor != duplicate and survivor not in self.erased and self.active(duplicate)
                and duplicate not in self.merged_into.values())

    def may_unmerge(self, survivor: str, duplicate: str) -> bool:
        return self.merged_into.get(duplicate) == survivor  # an erased duplicate may be unmerged too


@st.composite
def histories(draw: st.DrawFn) -> list[Fact]:
    """A few customers' lives, and the merges, unmerges and erasures between them, in time order."""
    # unique as UUIDs: distinct integers may share one version-4 UUID (it overwrites six bits)
    people = [str(u) for u in draw(st.lists(st.uuids(version=4), min_size=2, max_size=4, unique=True))]
    facts: list[Fact] = []
    for n, cid in enumerate(people):
        start = draw(st.integers(0, 30))
        facts.append(registered(cid, at(start), name=f"Person {n}", email=f"p{n}@example.com"))
        for k in range(draw(st.integers(0, 3))):
            order = str(uuid.uuid4())
            when = at(start + 1 + k * draw(st.integers(1, 60)))
            facts.append(order_placed(cid, when, order_id=order, sku=draw(st.sampled_from(["A", "B", "C", "D"])),
                                      total=f"{draw(st.integers(10, 9000))}.00"))
            if draw(st.booleans()) and draw(st.booleans()):
                facts.append(order_status("OrderCancelled", cid, order, when + timedelta(hours=3),
                                          total=Decimal("1"), currency="EUR"))
        if draw(st.booleans()):
            ticket = str(uuid.uuid4())
            facts += [ticket_opened(cid, ticket, at(start + 5)), complaint_filed(cid, ticket, at(start + 5))]
            if draw(st.booleans()):
                facts.append(ticket_resolved(cid, ticket, at(start + 6)))
        if draw(st.booleans()):
            facts.append(survey_answered(cid, draw(st.integers(0, 10)), at(start + draw(st.integers(1, 90)))))
        if draw(st.booleans()):
            facts.append(offer_sent(cid, at(start + 2), campaign_id="cmp-1"))
        if draw(st.booleans()):
            facts.append(held_out(cid, at(start + 3), campaign_id="cmp-2"))
    # identity changes and erasures after everyone's registration, one a day, as the customer service
    # allows them (Customer.merge/unmerge/ensure_active): a log it would refuse to write is not a history
    identity = _Identity()
    day = 100
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["merge", "merge", "unmerge", "erase"]))
        a, b = draw(st.sampled_from(people)), draw(st.sampled_from(people))
        day += 1
        if kind == "erase" and a not in identity.erased:
            identity.erased.add(a)
            facts.append(erased(a, at(day)))
        elif kind == "merge" and identity.may_merge(a, b):
            identity.merged_into[b] = a
            facts.append(fact(CustomersMerged(customer_id=a, duplicate_id=b, merged_at=at(day)), at(day)))
        elif kind == "unmerge" and identity.may_unmerge(a, b):
            del identity.merged_into[b]
            facts.append(fact(CustomersUnmerged(customer_id=a, duplicate_id=b, unmerged_at=at(day)), at(day)))
        buyer = draw(st.sampled_from(people))
        if draw(st.booleans()) and identity.active(buyer):  # a late order, after the identity change
            facts.append(order_placed(buyer, at(day, hours=1), order_id=str(uuid.uuid4()),
                                      sku=draw(st.sampled_from(["A", "B", "E"]))))
    facts.sort(key=lambda f: (f.at, f.event_id))
    return facts


async def rows_of(dsn: str) -> dict[str, list[Any]]:
    conn = await connect(dsn)
    try:
        return {name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in TABLES.items()}
    finally:
        await conn.close()


async def new_schema(settings: AnalyticsSettings) -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await connect(settings.database_url)
    try:
        await conn.execute("select analytics_create_read_model($1)", schema)
    finally:
        await conn.close()
    return schema


@hypothesis_settings(
    max_examples=25,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories(), data=st.data())
async def test_the_set_based_rebuild_equals_the_live_projection_table_by_table(
    settings: AnalyticsSettings, pool: asyncpg.Pool, history: list[Fact], data: st.DataObject
) -> None:
    delivered: list[RawRecord] = records(history)
    # redelivery: some records come again later (a restart, a rebalance, the relay republishing)
    for _ in range(data.draw(st.integers(0, 4))):
        again = data.draw(st.sampled_from(delivered))
        delivered.insert(data.draw(st.integers(delivered.index(again), len(delivered))), again)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(delivered) - 1)), max_size=5))))

    live_schema, rebuilt_schema = await new_schema(settings), await new_schema(settings)
    live_dsn = with_search_path(settings.database_url, live_schema)
    rebuilt_dsn = with_search_path(settings.database_url, rebuilt_schema)
    live_pool = await create_pool(live_dsn, min_size=1, max_size=1)
    try:
        live = AnalyticsProjector(rules=settings.rules, store=None)
        for start, end in zip([0, *cuts], [*cuts, len(delivered)], strict=True):
            assert await apply_records(live_pool, live, delivered[start:end]) == []
        await sweep(live_pool, now=SWEPT_AT, rules=settings.rules, store=None)
    finally:
        await live_pool.close()

    async def dead_letter(record: RawRecord, reason: str, detail: str) -> None:
        raise AssertionError(f"{reason}: {detail}")

    fetches = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(delivered) - 1)), max_size=5))))
    conn = await connect(rebuilt_dsn)
    try:
        builder = SetRebuild(conn, rebuilt_schema, consumer=live.name, rules=settings.rules, dead_letter=dead_letter)
        await builder.start()
        for start, end in zip([0, *fetches], [*fetches, len(delivered)], strict=True):
            await builder.add(delivered[start:end])
        # one process, or two forked ones folding a customer or two at a time
        workers = data.draw(st.sampled_from([1, 2]))
        await builder.finish(SWEPT_AT, workers=workers, chunk=data.draw(st.integers(1, 3)) if workers > 1 else 2000)
    finally:
        await conn.close()

    expected, actual = await rows_of(live_dsn), await rows_of(rebuilt_dsn)
    for table in TABLES:
        missing = [r for r in expected[table] if r not in actual[table]]
        extra = [r for r in actual[table] if r not in expected[table]]
        assert actual[table] == expected[table], f"{table}: live only {missing}, rebuild only {extra}"
    assert len(actual["customer_events"]) == len(history)
    assert len(actual["customer_views"]) >= 2
