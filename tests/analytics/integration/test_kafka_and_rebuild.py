"""Real topics: the Faust projector worker end to end, signals on analytics.events, and the rebuild."""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.analytics.application.sweep import sweep
from services.analytics.application.views import render
from services.analytics.bootstrap import event_store, projector_worker
from services.analytics.consumers.projector import AnalyticsProjector
from services.analytics.domain.model import fold
from services.analytics.rebuild import rebuild
from shared.consuming.consumer import apply_records
from shared.contracts.customer import CustomersMerged
from shared.events.envelope import to_kafka
from shared.store.db import create_pool
from shared.testing.clock import FixedClock
from shared.testing.kafka import drain_outbox, make_producer, read_topic
from shared.testing.waiting import eventually
from tests.analytics.builders import (
    at,
    fact,
    generated_history,
    new_customer_id,
    order_placed,
    per_topic_history,
    registered,
)
from tests.analytics.integration.support import analytics_settings, api, envelope_of, records, token


def publish(settings, facts) -> None:
    """Publish facts to their real (prefixed) domain topics, keyed by customer, as the relay would."""
    producer = make_producer(settings.kafka_bootstrap_servers)
    try:
        for fact in facts:
            envelope = envelope_of(fact)
            key, value, headers = to_kafka(envelope)
            producer.send(settings.topic(f"{envelope.type_name.domain}.events"), key=key, value=value, headers=headers)
        producer.flush(30)
    finally:
        producer.close(10)


async def in_thread(function, *args):
    with ThreadPoolExecutor(max_workers=1) as executor:
        return await asyncio.get_running_loop().run_in_executor(executor, function, *args)


async def test_published_events_reach_the_360_and_signals_reach_analytics_events(
    make_database, platform_topics_created
) -> None:
    settings = analytics_settings(platform_topics_created, await make_database("analytics"))
    cid = new_customer_id()
    facts = [registered(cid, at(0)), order_placed(cid, at(1), total="20000.00", margin="12000.00")]
    await in_thread(publish, settings, facts)
    worker = projector_worker(settings, batch_size=100)
    await worker.start()
    try:
        async with api(settings, FixedClock(at(2))) as client:

            async def orders() -> int:
                response = await client.get(f"/v1/customers/{cid}/360", headers=token(settings))
                return response.json()["orders"]["count"] if response.status_code == 200 else -1

            await eventually(orders, until=lambda n: n == 1, timeout=60, message="order visible in the 360")
    finally:
        await worker.stop()
    assert await drain_outbox(settings.database_url, settings) >= 3
    published = await in_thread(
        lambda: read_topic(settings.kafka_bootstrap_servers, settings.topic("analytics.events"), expected=3)
    )
    kinds = sorted(r.headers["ce_type"].split(".")[2] for r in published)
    assert kinds == ["LifecycleStageChanged", "SegmentEntered", "ValueTierChanged"]
    assert {r.key.decode() for r in published} == {cid}
    entered = next(r.value for r in published if "SegmentEntered" in r.headers["ce_type"])
    assert entered["segment"] == "high_value"


async def test_a_history_on_three_real_topics_gives_the_in_order_360_whatever_the_delivery_order(
    make_database, platform_topics_created
) -> None:
    settings = analytics_settings(platform_topics_created, await make_database("analytics"))
    cid = new_customer_id()
    topics = per_topic_history(cid)
    # campaigns.events first: the survey answers reach analytics before the registration does
    for name in ("campaigns", "ticketing", "customer"):
        await in_thread(publish, settings, topics[name])
    everything = [f for facts in topics.values() for f in facts]
    now = at(100)
    worker = projector_worker(settings, batch_size=7)
    await worker.start()
    try:
        async with api(settings, FixedClock(now)) as client:

            async def view() -> dict:
                response = await client.get(f"/v1/customers/{cid}/360", headers=token(settings))
                return response.json() if response.status_code == 200 else {}

            live = await eventually(
                view,
                until=lambda v: v.get("freshness", {}).get("last_event_at") is not None
                and v["orders"]["count"] == 2 and v["feedback"]["survey_count"] == 4
                and v["service"]["sla_breaches"] == 1 and v["profile"]["name"] is not None,
                timeout=60,
                message="every topic's events in the 360",
            )
    finally:
        await worker.stop()
    expected = render(fold(cid, everything, settings.rules), now=now, rules=settings.rules)
    # the API's response model leaves out what it does not document ("known"); co-purchases are global
    assert {k: v for k, v in live.items() if k not in ("recommendations", "as_of")} == {
        k: v for k, v in expected.items() if k not in ("recommendations", "known")
    }


async def kpi_tables(pool) -> dict[str, list]:
    """Every KPI read model, in a stable order."""
    return {
        "survey_answers": await pool.fetch("select * from survey_answers order by event_id"),
        "ticket_facts": await pool.fetch("select * from ticket_facts order by ticket_id"),
        "campaign_days": await pool.fetch("select * from campaign_days order by campaign_id, day"),
        "campaign_stats": await pool.fetch("select * from campaign_stats order by campaign_id"),
        "dissolutions": await pool.fetch(
            "select customer_id, dissolutions, dissolved_at from customer_views order by customer_id"
        ),
    }


@pytest.mark.timeout(600)
async def test_rebuild_gives_the_live_view_for_thousands_of_events(make_database, platform_topics_created) -> None:
    settings = analytics_settings(platform_topics_created, await make_database("analytics"))
    history = generated_history(400)
    # ten duplicates merged into survivors: a rebuild batch holds a duplicate's history and its merge
    registered_ids = sorted(f.origin for f in history if f.event_type == "CustomerRegistered")
    history += [
        fact(CustomersMerged(customer_id=survivor, duplicate_id=duplicate, merged_at=at(300)), at(300))
        for survivor, duplicate in zip(registered_ids[0:20:2], registered_ids[1:20:2], strict=True)
    ]
    assert len(history) >= 3000
    await in_thread(publish, settings, history)
    swept_at = at(560)  # after every event: quiet customers dissolve, complaints age out

    # the live projection saw the same events in another order and other batches
    shuffled = records(history)
    random.Random(3).shuffle(shuffled)
    pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=2)
    try:
        live = AnalyticsProjector(rules=settings.rules, store=event_store(settings))
        for start in range(0, len(shuffled), 700):
            assert await apply_records(pool, live, shuffled[start : start + 700]) == []
        # the live sweep moved quiet customers (and said so on analytics.events)
        assert await sweep(pool, now=swept_at, rules=settings.rules, store=event_store(settings)) > 0
        signals_published = await pool.fetchval("select count(*) from public.events")
        before = {
            r["customer_id"]: r["state"]
            for r in await pool.fetch("select customer_id::text, state from customer_views")
        }
        signals_before = dict(await pool.fetch("select customer_id::text, signal_version from customer_views"))
        assert any(signals_before.values())  # the live projector published signals
        kpis_before = await kpi_tables(pool)
        assert all(kpis_before.values())
        co_before = await pool.fetch("select * from co_purchases order by sku_a, sku_b")
    finally:
        await pool.close()

    report = await rebuild(settings, batch=500, progress=False, now=swept_at)
    assert report.swapped and report.dead_lettered == 0
    assert report.events == len(history)
    assert report.swept > 0  # the replay alone would have left the quiet customers where they were

    pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=2)
    try:
        after = {
            r["customer_id"]: r["state"]
            for r in await pool.fetch("select customer_id::text, state from customer_views")
        }
        assert len(after) == 400
        assert after == before
        merged = await pool.fetch("select customer_id::text, merged_into::text from customer_views"
                                  " where merged_into is not null")
        assert len(merged) == 10
        # a sweep after the rebuild finds nothing the live sweep had not already announced
        assert await sweep(pool, now=swept_at, rules=settings.rules, store=event_store(settings)) == 0
        assert await pool.fetchval("select count(*) from public.events") == signals_published
        # The signal streams go on where they are: the next signal appends, it does not conflict.
        assert dict(await pool.fetch("select customer_id::text, signal_version from customer_views")) == signals_before
        assert await kpi_tables(pool) == kpis_before
        co_after = await pool.fetch("select * from co_purchases where customers <> 0 order by sku_a, sku_b")
        assert co_after == [r for r in co_before if r["customers"] != 0]
        assert await pool.fetchval("select count(*) from customer_events") == len(history)
        schemas = await pool.fetch("select nspname from pg_namespace where nspname like 'analytics%'")
        assert [r["nspname"] for r in schemas] == ["analytics"]
        # the load switched autovacuum off for the rebuilt tables; the live ones have it back
        switched_off = await pool.fetch(
            """select c.relname from pg_class c left join pg_class t on t.oid = c.reltoastrelid
               join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = 'analytics' and c.relkind = 'r'
                 and exists (select from unnest(coalesce(c.reloptions, '{}') || coalesce(t.reloptions, '{}')) o
                             where o like '%autovacuum%')""")
        assert switched_off == []
        # the table's own storage setting came through the rebuild (migration 0013)
        assert await pool.fetchval("select reloptions from pg_class where oid = 'customer_views'::regclass") \
            == ["toast_tuple_target=8160"]
    finally:
        await pool.close()
