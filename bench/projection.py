"""Consumer kit: events/s from a real topic into a simple read model with one Faust worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import asyncpg
from kafka import KafkaProducer
from tqdm import tqdm

from bench.events import BENCH_CATALOG, an_order
from bench.report import Figure
from bench.setup import Scratch
from shared.consumer import ReceivedEvent
from shared.db import create_pool
from shared.envelope import new_envelope, to_kafka
from shared.settings import PlatformSettings
from shared.streams import ProjectionWorker


class CustomerTotals:
    """Revenue and order count per customer: one set-based upsert per batch."""

    name = "bench-totals"

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        sums: dict[str, list] = {}  # type: ignore[type-arg]
        for e in events:
            entry = sums.setdefault(e.subject, [0, 0])
            entry[0] += e.event.total  # type: ignore[attr-defined]
            entry[1] += 1
        await conn.execute(
            """insert into totals (customer_id, revenue, orders)
               select * from unnest($1::text[], $2::numeric[], $3::int[])
               on conflict (customer_id) do update set revenue = totals.revenue + excluded.revenue,
                   orders = totals.orders + excluded.orders""",
            list(sums), [v[0] for v in sums.values()], [v[1] for v in sums.values()],
        )


def _produce(bootstrap: str, topic: str, events: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, batch_size=256 * 1024)
    for n in range(events):
        customer = f"c{n % 2000}"
        key, value, headers = to_kafka(new_envelope(an_order(customer, n), service="bench", subject=customer))
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()


async def run(size: int) -> list[Figure]:
    events = max(2000, size * 10)
    async with Scratch() as scratch:
        scratch.topic("orders")
        scratch.topic("orders.dlq")
        await asyncio.to_thread(_produce, scratch.bootstrap, f"{scratch.prefix}orders", events)
        pool = await create_pool(scratch.dsn)
        await pool.execute("create table totals (customer_id text primary key, revenue numeric, orders int)")
        settings = PlatformSettings(kafka_bootstrap_servers=scratch.bootstrap, kafka_topic_prefix=scratch.prefix)
        worker = ProjectionWorker(settings=settings, dsn=scratch.dsn, projector=CustomerTotals(), topics=["orders"],
                                  catalog=BENCH_CATALOG, batch_size=2000)
        await worker.start()
        try:
            first = None
            with tqdm(total=events, desc="projection", unit="ev", leave=False) as bar:
                done = 0
                while done < events:
                    applied = int(await pool.fetchval("select coalesce(sum(orders), 0) from totals"))
                    if applied and first is None:
                        first = (time.perf_counter(), applied)
                    bar.update(applied - done)
                    done = applied
                    await asyncio.sleep(0.05)
                finished = time.perf_counter()
            assert first is not None
            rate = (events - first[1]) / max(finished - first[0], 1e-6)
        finally:
            await worker.stop()
            await pool.close()
    return [Figure("projection", "consumer kit → read model, 1 worker", rate, "events/s", target=10_000)]
