"""Rebuild the analytics read models from the topics, beside the live ones, then swap atomically.

Run it with ``c360 rebuild analytics`` or ``python -m services.analytics.rebuild`` (``--no-swap`` to
only build, ``--method set|replay``, ``--workers N`` fold processes, ``--batch N``).

1. A fresh schema ``analytics_rebuild_<time>`` gets the read-model tables from the same definition
   the migration uses (``analytics_create_read_model``).
2. Every domain topic is read from the beginning up to the end offsets taken at the start (an
   aiokafka consumer without a group, in large fetches) and, by default, folded set-wise
   (``setrebuild``: each customer once, loaded with ``COPY``); ``--method replay`` applies them
   through the same projector as the live one instead. Both decode with the consumer kit and
   publish no signals (they were published when the changes happened). A tqdm bar shows events/s
   and the ETA.
2b. The time-based rules are evaluated at the clock's ``now`` over the rebuilt views (the sweep,
   signals off): the live sweep already moved quiet customers (into dissolution, say) and announced
   it; a rebuilt view that had not would make the next live sweep announce the same change again.
3. The swap, in one transaction: lock the live tables (waiting for in-flight projector batches),
   apply what reached the topics since step 2, rename ``analytics`` away and the rebuilt schema to
   ``analytics``, drop the old one, and ``NOTIFY analytics_read_model_swapped`` so API processes
   drop their pooled connections (whose prepared statements still point at the old tables).
   Projector workers should be restarted after a swap; their next batches are deduplicated by the
   rebuilt schema's own inbox, so nothing is applied twice or lost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from tqdm import tqdm

from services.analytics.application.projector import SIGNAL_STREAM_TYPE, signal_stream
from services.analytics.application.sweep import sweep
from services.analytics.bootstrap import event_store
from services.analytics.config import READ_MODEL_SCHEMA, SWAP_CHANNEL, AnalyticsSettings, with_search_path
from services.analytics.consumers.projector import CONSUMED_TOPICS, AnalyticsProjector
from services.analytics.setrebuild import SetRebuild
from shared.consuming.consumer import BatchProcessor, RawRecord
from shared.outbox.topics import describe_partitions
from shared.privacy.keyaccess import key_provider_for
from shared.store.db import connect, create_pool


@dataclass(frozen=True, slots=True)
class RebuildReport:
    schema: str
    events: int
    seconds: float
    dead_lettered: int
    swapped: bool
    swept: int = 0
    """Rebuilt views the time-based rules changed at the rebuild's ``now``."""

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class TopicReader:
    """Reads topics from the beginning up to given end offsets, in large fetches (aiokafka, no group).

    kafka-python's consumer cost 95 µs of CPU per event here (the rebuild's bottleneck at 100k
    events); aiokafka parses record batches in C and fetched the same log at 9 µs per event with
    fetches of up to ``fetch_max_bytes``. Records past the snapshot's end offsets are held back for
    the next snapshot (the catch-up), never dropped.
    """

    def __init__(self, bootstrap: str, topics: Sequence[str], *, fetch_max_bytes: int = 64 * 1024 * 1024) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap.split(","),
            enable_auto_commit=False,
            group_id=None,
            fetch_max_bytes=fetch_max_bytes,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            auto_offset_reset="earliest",
        )
        self.partitions: list[TopicPartition] = []
        self.next: dict[TopicPartition, int] = {}
        self.targets: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        await self.consumer.start()
        counts = await asyncio.to_thread(lambda: [describe_partitions(self.bootstrap, t) for t in self.topics])
        self.partitions = [TopicPartition(t, p) for t, n in zip(self.topics, counts, strict=True) for p in range(n)]
        if not self.partitions:
            return
        self.consumer.assign(self.partitions)
        self.next = dict(await self.consumer.beginning_offsets(self.partitions))
        for tp, offset in self.next.items():
            self.consumer.seek(tp, offset)

    async def snapshot(self) -> int:
        """Fix the end offsets to read up to; returns how many records remain from the current positions."""
        if not self.partitions:
            return 0
        self.targets = dict(await self.consumer.end_offsets(self.partitions))
        open_ = [tp for tp in self.partitions if self.next[tp] < self.targets[tp]]
        self.consumer.pause(*[tp for tp in self.partitions if tp not in open_])
        self.consumer.resume(*open_)
        return sum(max(end - self.next[tp], 0) for tp, end in self.targets.items())

    def done(self) -> bool:
        return all(self.next[tp] >= end for tp, end in self.targets.items())

    async def poll(self, max_records: int) -> list[RawRecord]:
        """The next records, none beyond the snapshot's end offsets."""
        if self.done():
            return []
        batch = await self.consumer.getmany(timeout_ms=500, max_records=max_records)
        result: list[RawRecord] = []
        for tp, messages in batch.items():
            end = self.targets.get(tp, 0)
            kept = [m for m in messages if m.offset < end]
            if kept:
                self.next[tp] = kept[-1].offset + 1
            if len(kept) < len(messages) or self.next[tp] >= end:
                self.consumer.seek(tp, self.next[tp])  # read the rest after the next snapshot, not never
                self.consumer.pause(tp)
            result.extend(
                RawRecord(m.topic, m.partition, m.offset, m.key, m.value, tuple(m.headers or ())) for m in kept
            )
        return result

    async def close(self) -> None:
        await self.consumer.stop()


def progress_bar(
    total: int, *, enabled: bool = True, file: IO[str] | None = None, desc: str = "rebuild"
) -> tqdm[Any]:
    """The rebuild's progress: events done of ``total``, events/s and the ETA (``elapsed<remaining``)."""
    return tqdm(
        total=total,
        unit=" events",
        unit_scale=True,
        desc=desc,
        disable=not enabled,
        smoothing=0.1,
        file=file,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]",
    )


async def _replay(reader: TopicReader, apply: Callable[[list[RawRecord]], Awaitable[Any]], batch: int,
                  bar: Any) -> int:
    """Read up to the snapshot, handing each fetch to ``apply`` while aiokafka prefetches the next."""
    applied = 0
    while True:
        records = await reader.poll(batch)
        if not records:
            if reader.done():
                return applied
            continue
        await apply(records)
        applied += len(records)
        if bar is not None:
            bar.update(len(records))


async def rebuild(
    settings: AnalyticsSettings,
    *,
    swap: bool = True,
    batch: int = 5000,
    progress: bool = True,
    now: datetime | None = None,
    method: str = "set",
    workers: int | None = None,
) -> RebuildReport:
    """Rebuild every read model from the domain topics into a fresh schema; swap it in when ``swap``.

    ``method`` ``"set"`` (the default) reads the log in large fetches, groups facts by origin as
    it goes, folds each customer once in ``workers`` processes (one per core by default) and loads
    with ``COPY`` (``setrebuild``); ``"replay"`` replays the topics through the live projector batch
    by batch (the first version, kept as the benchmark's comparison). ``now`` is the instant the
    time-based rules are evaluated at (the system clock by default; tests pass their sweep's).
    """
    if method not in ("set", "replay"):
        raise ValueError(f"unknown rebuild method {method!r}")
    started = time.monotonic()
    moment = now or datetime.now(UTC)
    schema = f"analytics_rebuild_{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"
    admin = await connect(settings.database_url)
    try:
        await admin.execute("select analytics_create_read_model($1)", schema)
    finally:
        await admin.close()

    pool = await create_pool(with_search_path(settings.database_url, schema), min_size=1, max_size=2)
    dead: list[tuple[str, str]] = []

    async def dead_letter(record: RawRecord, reason: str, detail: str) -> None:
        dead.append((reason, detail))  # the live worker already dead-lettered these records

    # The same key access as the live projector: a rebuild must show what the live view shows, and
    # an erased customer's destroyed keys keep their data closed in the rebuilt view too.
    keys = key_provider_for(settings, ["customer", "ticketing", "campaigns"], caller="analytics-rebuild")
    live = AnalyticsProjector(rules=settings.rules, store=None)
    processor = BatchProcessor(pool=pool, projector=live, dead_letter=dead_letter, keys=keys)
    topics = [settings.topic(t) for t in CONSUMED_TOPICS]
    reader = TopicReader(settings.kafka_bootstrap_servers, topics)
    try:
        await reader.start()
        total = await reader.snapshot()
        if method == "replay":
            bar = progress_bar(total, enabled=progress)
            applied = await _replay(reader, processor.process, batch, bar)
            swept = await sweep(pool, now=moment, rules=settings.rules, store=None, page=settings.analytics_sweep_batch)
        else:
            processes = workers or os.cpu_count() or 1
            async with pool.acquire() as conn:
                builder = SetRebuild(conn, schema, consumer=live.name, rules=settings.rules,
                                     dead_letter=dead_letter, keys=keys, pool=pool)
                await builder.start()
                bar = progress_bar(total, enabled=progress, desc="rebuild: read")
                applied = await _replay(reader, builder.add, max(batch, 20_000), bar)
                bar.close()
                folding = sum(map(len, builder.grouped.by_origin.values()))  # events with a customer
                fold_bar = progress_bar(folding, enabled=progress, desc="rebuild: fold")
                swept = await builder.finish(moment, workers=processes, progress=fold_bar)
                fold_bar.close()
            bar = progress_bar(0, enabled=progress, desc="rebuild: catch up")
        swapped = False
        if swap:
            applied += await _swap(settings, schema, reader, processor, batch, bar)
            swapped = True
        bar.close()
    finally:
        await reader.close()
        await pool.close()
    return RebuildReport(schema, applied, time.monotonic() - started, len(dead), swapped, swept)


async def _swap(
    settings: AnalyticsSettings,
    schema: str,
    reader: TopicReader,
    processor: BatchProcessor,
    batch: int,
    bar: Any,
) -> int:
    """Catch up under the live tables' locks, then rename the schemas in the same transaction."""
    conn: asyncpg.Connection = await connect(settings.database_url)
    try:
        async with conn.transaction():
            tables = await conn.fetch(
                "select tablename from pg_tables where schemaname = $1 order by tablename", READ_MODEL_SCHEMA
            )
            if tables:
                names = ", ".join(f'{READ_MODEL_SCHEMA}."{t["tablename"]}"' for t in tables)
                await conn.execute(f"lock table {names} in exclusive mode")
            remaining = await reader.snapshot()
            if bar is not None and remaining:
                bar.total += remaining
            caught_up = await _replay(reader, processor.process, batch, bar)
            # The replay publishes no signals, so its views count none; the live signal streams go on
            # from where they are, or the next signal of every customer would conflict.
            heads = await event_store(settings).stream_heads(conn, SIGNAL_STREAM_TYPE)
            await conn.execute(
                f"""update "{schema}".customer_views v set signal_version = s.version
                    from unnest($1::text[], $2::int[]) as s(stream_id, version)
                    where s.stream_id = $3 || v.customer_id::text""",
                list(heads), list(heads.values()), signal_stream(""),
            )
            retired = f"analytics_retired_{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"
            exists = await conn.fetchval("select count(*) from pg_namespace where nspname = $1", READ_MODEL_SCHEMA)
            if exists:
                await conn.execute(f'alter schema {READ_MODEL_SCHEMA} rename to "{retired}"')
            await conn.execute(f'alter schema "{schema}" rename to {READ_MODEL_SCHEMA}')
            if exists:
                await conn.execute(f'drop schema "{retired}" cascade')
            await conn.execute("select pg_notify($1, $2)", SWAP_CHANNEL, schema)
        return caught_up
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m services.analytics.rebuild [--no-swap] [--batch N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-swap", action="store_true", help="build the new schema but keep the live one")
    parser.add_argument("--batch", type=int, default=5000, help="events per projector batch")
    parser.add_argument("--workers", type=int, default=None,
                        help="fold processes of the set method (default: one per core)")
    parser.add_argument("--method", choices=("set", "replay"), default="set",
                        help="set: fold each customer once and COPY (default); replay: through the live projector")
    args = parser.parse_args(argv)
    report = asyncio.run(rebuild(AnalyticsSettings(), swap=not args.no_swap, batch=args.batch, method=args.method,
                                 workers=args.workers))
    print(
        f"rebuilt {report.events} events in {report.seconds:.1f}s ({report.events_per_second:,.0f} events/s) "
        f"into {report.schema}; time-based rules changed {report.swept} views; dead-lettered {report.dead_lettered}; "
        + ("swapped in as the live read model; restart the projector workers." if report.swapped else "not swapped.")
    )


if __name__ == "__main__":
    main()
