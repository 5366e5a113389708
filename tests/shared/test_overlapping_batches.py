"""Two batches in flight: the next one is decoded while the previous one applies, and they apply in order.

The batch transport hands a catch-up's next fetch over before the previous batch has returned
(``shared.consuming.batch_transport.IN_FLIGHT``); the consumer kit decodes it meanwhile and applies the
batches one at a time, in the order they arrived. Real PostgreSQL for the kit; the real broker for
the transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from shared.consuming.batch_transport import BatchConsumer
from shared.consuming.consumer import BatchProcessor, RawRecord, ReceivedEvent
from shared.consuming.streams import ProjectionWorker
from shared.settings import PlatformSettings
from shared.store.db import create_pool
from shared.testing.waiting import eventually
from tests.shared.sample_events import TEST_CATALOG
from tests.shared.test_batch_transport import produce_things, things, wait_until_committed_to_the_end
from tests.shared.test_consumer import TotalsProjector, thing, totals, totals_table


class HeldApplies(TotalsProjector):
    """Applies like ``TotalsProjector``, remembering the order; holds a batch whose first subject is held."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.held: dict[str, asyncio.Event] = {}
        self.entered: dict[str, asyncio.Event] = {}

    def hold(self, subject: str) -> asyncio.Event:
        self.entered[subject] = asyncio.Event()
        self.held[subject] = asyncio.Event()
        return self.held[subject]

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        first = events[0].subject
        if first in self.held:
            self.entered[first].set()
            await self.held[first].wait()
        await super().apply(conn, events)
        self.applied.append(first)


async def _dead_letter(record: RawRecord, reason: str, detail: str) -> None:
    raise AssertionError(f"nothing here is poison: {reason} {detail}")


@dataclass
class Held:
    """A processor over the totals table whose projector holds the batches of subject ``a``."""

    pool: asyncpg.Pool
    projector: HeldApplies
    processor: BatchProcessor
    release: asyncio.Event


@pytest.fixture
async def held(fresh_dsn: str) -> AsyncIterator[Held]:
    pool = await create_pool(fresh_dsn)
    await totals_table(pool)
    projector = HeldApplies()
    processor = BatchProcessor(pool=pool, projector=projector, dead_letter=_dead_letter, catalog=TEST_CATALOG)
    release = projector.hold("a")
    try:
        yield Held(pool, projector, processor, release)
    finally:
        release.set()
        await pool.close()


async def test_a_batch_that_arrives_while_another_applies_is_decoded_at_once_and_applied_after_it(
    held: Held,
) -> None:
    projector, processor = held.projector, held.processor
    decoded: list[str] = []
    decode = processor._decode

    async def watched_decode(records: Sequence[RawRecord]) -> list[tuple[RawRecord, ReceivedEvent]]:
        result = await decode(records)
        decoded.append(result[0][1].subject)
        return result

    async def decoded_so_far() -> list[str]:
        return list(decoded)

    processor._decode = watched_decode  # type: ignore[method-assign]
    first = asyncio.create_task(processor.process([thing("a", "1.00"), thing("a", "2.00")]))
    await asyncio.wait_for(projector.entered["a"].wait(), timeout=10)
    second = asyncio.create_task(processor.process([thing("b", "5.00")]))
    await eventually(decoded_so_far, until=lambda d: d == ["a", "b"], timeout=10,
                     message="the second batch to be decoded while the first applies")
    assert projector.applied == [], "the second batch waits for its turn"
    held.release.set()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
    assert projector.applied == ["a", "b"]
    assert await totals(held.pool) == {"a": (3, 2), "b": (5, 1)}
    assert processor.stats.applied == 3 and processor.stats.batches == 2


async def test_a_batch_cancelled_while_waiting_its_turn_does_not_let_the_next_one_jump_the_queue(
    held: Held,
) -> None:
    projector, processor = held.projector, held.processor
    first = asyncio.create_task(processor.process([thing("a", "1.00")]))
    await asyncio.wait_for(projector.entered["a"].wait(), timeout=10)
    waiting = asyncio.create_task(processor.process([thing("b", "2.00")]))
    await asyncio.sleep(0)  # let it decode and queue behind the first
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    third = asyncio.create_task(processor.process([thing("c", "3.00")]))
    done, _ = await asyncio.wait({third}, timeout=0.5)
    assert not done and projector.applied == [], "the third waits for the first, not the cancelled second"
    held.release.set()
    await asyncio.wait_for(asyncio.gather(first, third), timeout=10)
    assert projector.applied == ["a", "c"]
    assert await totals(held.pool) == {"a": (1, 1), "c": (3, 1)}


async def test_a_catch_up_hands_the_next_fetch_over_while_the_previous_batch_applies_and_loses_nothing(
    fresh_dsn: str, platform_settings: PlatformSettings, make_topics: Callable[..., list[str]], kafka_bootstrap: str
) -> None:
    topic, _ = make_topics("things", "things.dlq", partitions=2)
    expected = await asyncio.to_thread(produce_things, kafka_bootstrap, topic, things(600))
    pool = await create_pool(fresh_dsn)
    await totals_table(pool)
    handed: list[int] = []
    returned: list[int] = []
    overlaps: list[int] = []

    class Watched(ProjectionWorker):
        async def handle(self, records: Sequence[RawRecord]) -> None:
            number = len(handed)
            handed.append(number)
            in_flight = len(handed) - len(returned)
            if in_flight > 1:
                overlaps.append(in_flight)
            await super().handle(records)
            returned.append(number)

    class SlowTotals(TotalsProjector):
        async def apply(self, conn: asyncpg.Connection, events: Sequence[Any]) -> None:
            await super().apply(conn, events)
            await asyncio.sleep(0.05)  # a batch that takes a while: the next fetch is there meanwhile

    worker = Watched(settings=platform_settings, dsn=fresh_dsn, projector=SlowTotals(), topics=["things"],
                     catalog=TEST_CATALOG, batch_size=50)
    await worker.start()
    try:
        assert isinstance(worker.app.consumer, BatchConsumer)
        await eventually(lambda: totals(pool), until=lambda t: t == expected, timeout=60)
        await wait_until_committed_to_the_end(kafka_bootstrap, worker.group_id, topic)
        assert overlaps, "no fetch was handed over while the previous batch was still applying"
        assert max(overlaps) <= 2, "at most two batches in flight"
        assert worker.processor is not None
        assert worker.processor.stats.applied == 600 and worker.processor.stats.duplicates == 0
    finally:
        await worker.stop()
        await pool.close()
