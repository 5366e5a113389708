"""A ``ProjectionWorker`` process for the batch transport's kill tests.

    python -m tests.shared.batch_worker --dsn ... --bootstrap ... --prefix ... [--hold-customer c9]

It sums ``ThingHappened`` amounts per customer (``totals``), so any event applied twice or lost shows
as a wrong total. ``--slow`` makes every batch take that long (batches in flight during a
rebalance); ``--hold-customer`` blocks, inside the batch's transaction, the first batch that
carries that customer, after printing ``holding`` (the test kills the process there);
``--commit-interval`` delays offset commits (the test kills the process between the batch's
transaction and the commit). On SIGTERM it prints its processor's counters as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

import asyncpg
import orjson

from shared.consuming.consumer import ReceivedEvent
from shared.consuming.streams import ProjectionWorker
from shared.settings import PlatformSettings
from tests.shared.sample_events import TEST_CATALOG


class SlowTotals:
    """Sums amounts per customer, optionally slowly, optionally holding one customer's batch."""

    name = "totals"

    def __init__(self, slow: float = 0.0, hold_customer: str | None = None) -> None:
        self.slow = slow
        self.hold_customer = hold_customer

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        await conn.executemany(
            """insert into totals (customer_id, total, events) values ($1, $2, 1)
               on conflict (customer_id) do update set total = totals.total + excluded.total,
               events = totals.events + 1""",
            [(e.subject, e.event.amount) for e in events],  # type: ignore[attr-defined]
        )
        if self.hold_customer and any(e.subject == self.hold_customer for e in events):
            print("holding", flush=True)
            await asyncio.Event().wait()  # killed here, inside the transaction
        if self.slow:
            await asyncio.sleep(self.slow)


async def main(args: argparse.Namespace) -> None:
    settings = PlatformSettings(environment="test", kafka_bootstrap_servers=args.bootstrap,
                                kafka_topic_prefix=args.prefix)
    worker = ProjectionWorker(settings=settings, dsn=args.dsn, topics=[args.topic], catalog=TEST_CATALOG,
                              projector=SlowTotals(args.slow, args.hold_customer), batch_size=args.batch_size,
                              commit_interval=args.commit_interval, commit_every=args.commit_every)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await worker.start()
    print("started", flush=True)
    try:
        await stop.wait()
    finally:
        stats = worker.processor.stats if worker.processor else None
        with contextlib.suppress(Exception):
            await worker.stop()
        print(orjson.dumps({"applied": stats.applied if stats else 0,
                            "duplicates": stats.duplicates if stats else 0}).decode(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--topic", default="things")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--hold-customer")
    parser.add_argument("--commit-interval", type=float, default=1.0)
    parser.add_argument("--commit-every", type=int)
    asyncio.run(main(parser.parse_args(sys.argv[1:])))
