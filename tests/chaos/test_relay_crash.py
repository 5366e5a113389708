"""Kill -9 the relay in the middle of publishing: nothing is lost, and consumers apply exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal

import asyncpg
import pytest

from shared.consuming.streams import ProjectionWorker
from shared.settings import PlatformSettings
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.testing.kafka import end_offsets, read_topic
from shared.testing.waiting import eventually
from tests.shared.sample_events import TEST_CATALOG, ThingHappened
from tests.shared.test_consumer import TotalsProjector, totals_table

pytestmark = pytest.mark.chaos

CUSTOMERS = 50
EVENTS_PER_CUSTOMER = 200  # 10,000 events: several relay batches


def start_relay(dsn: str, bootstrap: str, batch_size: int = 500) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "shared.outbox.relay", "--dsn", dsn, "--bootstrap", bootstrap,
         "--batch-size", str(batch_size)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "LOG_LEVEL": "WARNING"},
    )


async def published(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("select count(*) from outbox where published_at is not null"))


async def test_relay_killed_mid_batch_loses_nothing_and_consumers_apply_once(
    fresh_dsn: str, kafka_bootstrap: str, make_topics: Callable[..., list[str]], platform_settings: PlatformSettings
) -> None:
    (topic,) = make_topics("things", partitions=3)
    make_topics("things.dlq")
    store = EventStore(service="testing", topic=topic, catalog=TEST_CATALOG)
    pool = await create_pool(fresh_dsn)
    total = CUSTOMERS * EVENTS_PER_CUSTOMER
    try:
        async with pool.acquire() as conn:
            for c in range(CUSTOMERS):
                async with conn.transaction():
                    await store.append(conn, stream_id=f"s{c}", stream_type="thing", expected_version=0,
                                       events=[ThingHappened(customer_id=f"c{c}", amount=Decimal("1.00"))
                                               for _ in range(EVENTS_PER_CUSTOMER)], subject=f"c{c}")
        # Small batches: the relay drains ~40,000 events/s, so large ones would be done before the kill.
        relay = start_relay(fresh_dsn, kafka_bootstrap, batch_size=20)
        await eventually(lambda: published(pool), until=lambda n: n > 0, timeout=60, interval=0.01,
                         message="the relay to publish something")
        relay.send_signal(signal.SIGKILL)
        relay.wait()
        partial = await published(pool)
        assert 0 < partial < total, "the kill must land mid-way for the test to mean anything"

        relay = start_relay(fresh_dsn, kafka_bootstrap)
        try:
            await eventually(lambda: published(pool), until=lambda n: n == total, timeout=120,
                             message="every event published after the restart")
        finally:
            relay.terminate()
            relay.wait(timeout=30)

        # Read everything on the topic (the republished batch makes it more than ``total``).
        on_topic = await asyncio.to_thread(end_offsets, kafka_bootstrap, topic)
        records = await asyncio.to_thread(read_topic, kafka_bootstrap, topic, expected=on_topic, timeout=60)
        assert len(records) == on_topic
        ids = {r.headers["ce_id"] for r in records}
        assert len(ids) == total  # every committed event is on the topic at least once
        assert len(records) >= total

        await totals_table(pool)
        worker = ProjectionWorker(settings=platform_settings, dsn=fresh_dsn, projector=TotalsProjector(),
                                  topics=["things"], catalog=TEST_CATALOG)
        await worker.start()
        try:
            async def applied() -> int:
                return int(await pool.fetchval("select coalesce(sum(events), 0) from totals"))

            await eventually(applied, until=lambda n: n >= total, timeout=120, message="all events applied")
            assert worker.processor is not None
            await eventually(lambda: _consumed(worker), until=lambda n: n >= len(records), timeout=60)
        finally:
            await worker.stop()
        rows = await pool.fetch("select customer_id, total, events from totals")
        assert len(rows) == CUSTOMERS
        assert {(r["total"], r["events"]) for r in rows} == {(Decimal("200.00"), EVENTS_PER_CUSTOMER)}
    finally:
        await pool.close()


async def _consumed(worker: ProjectionWorker) -> int:
    assert worker.processor is not None
    stats = worker.processor.stats
    return stats.applied + stats.duplicates + stats.dead_lettered
