"""Real topics: orders on customer.events lead to one RecommendationsChanged on analytics.events, once."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.analytics.bootstrap import event_store, projector_worker
from services.analytics.config import AnalyticsSettings
from services.analytics.consumers.projector import AnalyticsProjector
from shared.consuming.consumer import apply_records
from shared.contracts.customer import CustomersMerged
from shared.store.db import create_pool
from shared.testing.kafka import ConsumedRecord, drain_outbox, end_offsets, read_topic
from shared.testing.waiting import eventually
from tests.analytics.builders import at, erased, fact, new_customer_id, order_placed, registered
from tests.analytics.integration.support import analytics_settings, records
from tests.analytics.integration.test_kafka_and_rebuild import in_thread, publish


async def orders_of(pool: asyncpg.Pool, customer_id: str) -> int:
    state = await pool.fetchval("select state from customer_views where customer_id = $1", customer_id)
    return int(state["n_orders"]) if state else 0


async def recommendation_signals(settings: AnalyticsSettings) -> list[ConsumedRecord]:
    await drain_outbox(settings.database_url, settings)
    topic = settings.topic("analytics.events")

    def read() -> list[ConsumedRecord]:
        return read_topic(settings.kafka_bootstrap_servers, topic,
                          expected=end_offsets(settings.kafka_bootstrap_servers, topic))

    records = await in_thread(read)
    return [r for r in records if ".RecommendationsChanged." in r.headers["ce_type"]]


async def test_an_order_publishes_the_customers_recommendations_once_and_redelivery_adds_nothing(
    make_database, platform_topics_created
) -> None:
    settings = analytics_settings(platform_topics_created, await make_database("analytics"))
    # Two customers bought A and B together: nothing is left to recommend to them.
    pairs = [new_customer_id(), new_customer_id()]
    await in_thread(publish, settings, [order_placed(c, at(1), sku="A", also=("B",)) for c in pairs])
    buyer, loner = new_customer_id(), new_customer_id()
    first_order = order_placed(buyer, at(2), sku="A")
    pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=2)
    worker = projector_worker(settings, batch_size=100)
    await worker.start()
    try:
        for customer in pairs:
            await eventually(lambda c=customer: orders_of(pool, c), until=lambda n: n == 1, timeout=60,
                             message="co-purchases of A and B projected")
        # Now the buyer of A alone (B is recommended), and a buyer of a product nobody else has.
        await in_thread(publish, settings, [registered(buyer, at(0)), first_order,
                                            order_placed(loner, at(2), sku="Z")])
        await eventually(lambda: orders_of(pool, buyer), until=lambda n: n == 1, timeout=60,
                         message="the buyer's order projected")
        await eventually(lambda: orders_of(pool, loner), until=lambda n: n == 1, timeout=60,
                         message="the loner's order projected")

        # Kafka redelivers the first order; the buyer then buys Z, which changes nothing to recommend.
        second_order = order_placed(buyer, at(3), sku="Z")
        await in_thread(publish, settings, [first_order, second_order])
        await eventually(lambda: orders_of(pool, buyer), until=lambda n: n == 2, timeout=60,
                         message="the buyer's second order projected")
    finally:
        await worker.stop()
        await pool.close()

    signals = await recommendation_signals(settings)
    assert [(r.key.decode() if r.key else None, r.value["customer_id"]) for r in signals] == [(buyer, buyer)]
    (signal,) = signals
    assert signal.value["recommendations"] == [{"sku": "B", "score": 2, "because_of": "A"}]
    assert signal.value["previous_skus"] == []
    assert signal.value["rule"] == "recommendations.co_purchase"
    assert signal.value["provenance"] == [first_order.event_id]


async def published_lists(pool: asyncpg.Pool, customer_id: str) -> list[dict[str, Any]]:
    """The RecommendationsChanged data appended for the customer, in order."""
    rows = await pool.fetch(
        "select data from public.events where subject = $1 and event_type = 'RecommendationsChanged'"
        " order by position",
        customer_id,
    )
    return [row["data"] for row in rows]


async def test_a_merge_recomputes_the_survivors_list_and_erasure_forgets_it(
    make_database, platform_settings
) -> None:
    settings = analytics_settings(platform_settings, await make_database("analytics"))
    projector = AnalyticsProjector(rules=settings.rules, store=event_store(settings))
    pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=2)
    try:
        owner, survivor, duplicate = new_customer_id(), new_customer_id(), new_customer_id()
        await apply_records(pool, projector, records([order_placed(owner, at(1), sku="A", also=("B",))]))
        await apply_records(pool, projector, records([order_placed(survivor, at(2), sku="A"),
                                                      order_placed(duplicate, at(2), sku="B")]))
        assert [[p["sku"] for p in d["recommendations"]] for d in await published_lists(pool, survivor)] == [["B"]]

        # The duplicate bought B: merged, the survivor owns A and B and has nothing left to recommend.
        merge = fact(CustomersMerged(customer_id=survivor, duplicate_id=duplicate, merged_at=at(3)), at(3))
        await apply_records(pool, projector, records([merge]))
        lists = await published_lists(pool, survivor)
        assert [(d["recommendations"], d["previous_skus"]) for d in lists[1:]] == [([], ["B"])]

        remembered = "select count(*) from public.published_recommendations where customer_id = any($1::uuid[])"
        assert await pool.fetchval(remembered, [survivor, duplicate]) == 2
        await apply_records(pool, projector, records([erased(survivor, at(4))]))
        assert await pool.fetchval(remembered, [survivor, duplicate]) == 0
    finally:
        await pool.close()
