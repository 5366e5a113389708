"""A/B of the 360 projector's client CPU: the same recorded batches replayed through two versions of the code.

Why: the projection benchmark reads Kafka, and the batches the batch transport hands the worker differ
from run to run (how far each topic's partitions got), so the number of late facts, and of customers
refolded, moves the figures as much as a code change does; on a shared machine the wall rate moves
2-3x more. Recording one run's batches and replaying them through ``BatchProcessor`` +
``AnalyticsProjector`` (no Kafka, a fresh database each time) leaves only the code as the difference.

    python -m bench.replay360 record /tmp/batches.pickle --size 20000   # one real worker, batches kept
    python -m bench.replay360 replay /tmp/batches.pickle                # prints CPU µs/event and a digest
    python -m bench.replay360 record /tmp/fetched.pickle --as-fetched   # the catch-up not aligned by time

For an A/B, replay the same file from a git worktree of the other commit
(``PYTHONPATH=/tmp/base python -m bench.replay360 replay ...``), alternating the two several times.
The first batch is not measured (start-up, empty cache), like the projection benchmark. The digest
is an md5 over every view row, so equal digests prove both versions wrote the same read model.
``server_cpu`` is the CPU of the one PostgreSQL backend the replay's pool holds (``/proc``; local
server only), i.e. the server's part of every statement the worker sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import projection as p
from bench.setup import Scratch
from bench.workload import analytics_topics, produce, workload
from services.analytics.consumers.projector import CONSUMED_TOPICS
from shared.consuming.consumer import BatchProcessor, RawRecord
from shared.ops.gctuning import GcPauses, tune_for_long_running_process
from shared.settings import PlatformSettings
from shared.store.db import create_pool

Recorded = tuple[str, int, int, bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]
"""A record without its topic prefix: (topic, partition, offset, key, value, headers)."""


class RecordingWorker(p.GroupWorker):
    """The bench's 360 worker, keeping every batch it is handed."""

    def __init__(self, *, prefix: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefix = prefix
        self.batches: list[list[Recorded]] = []

    async def handle(self, records: Sequence[RawRecord]) -> None:
        self.batches.append([(r.topic.removeprefix(self.prefix), r.partition, r.offset, r.key, r.value,
                              tuple(r.headers)) for r in records])
        await super().handle(records)


async def record(size: int, *, align_by_time: bool = True) -> list[list[Recorded]]:
    async with Scratch("analytics") as scratch:
        analytics_topics(scratch)
        load = workload(size, prefix=scratch.prefix)
        await asyncio.to_thread(produce, scratch.bootstrap, load.records)
        settings = PlatformSettings(kafka_bootstrap_servers=scratch.bootstrap, kafka_topic_prefix=scratch.prefix)
        pool = await create_pool(p.read_model_dsn(scratch.dsn), min_size=1, max_size=2)
        worker = RecordingWorker(prefix=scratch.prefix, group=f"{scratch.prefix}record-{uuid.uuid4().hex[:6]}",
                                 settings=settings, dsn=p.read_model_dsn(scratch.dsn),
                                 projector=p.projector(scratch.prefix), topics=list(CONSUMED_TOPICS),
                                 batch_size=p.BATCH_SIZE, transport="batch", align_by_time=align_by_time)
        await worker.start()
        try:
            await p.measure_applied(pool, len(load), "record")
        finally:
            await worker.stop()
            await pool.close()
    print(f"recorded {len(worker.batches)} batches, {sum(map(len, worker.batches))} records")
    return worker.batches


def _backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a local PostgreSQL backend, from ``/proc`` (0 when not readable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def replay(batches: list[list[Recorded]]) -> None:
    tune_for_long_running_process()
    async with Scratch("analytics") as scratch:
        # one connection, so its backend's CPU is the server's part of every statement the worker sent
        pool = await create_pool(p.read_model_dsn(scratch.dsn), min_size=1, max_size=1)
        backend = int(await pool.fetchval("select pg_backend_pid()"))

        async def dead_letter(record: RawRecord, reason: str, detail: str) -> None:
            raise RuntimeError(f"unexpected dead letter: {reason} {detail}")

        processor = BatchProcessor(pool=pool, projector=p.projector(scratch.prefix), dead_letter=dead_letter)
        pauses, measured = GcPauses(), 0
        skip = 1 if len(batches) > 1 else 0  # a single batch is measured whole
        cpu0, wall0, server0 = time.process_time(), time.perf_counter(), _backend_cpu(backend)
        with pauses:
            for index, batch in enumerate(batches):
                if index == skip:
                    cpu0, wall0, server0 = time.process_time(), time.perf_counter(), _backend_cpu(backend)
                    pauses.reset()
                await processor.process([RawRecord(scratch.prefix + t, part, off, k, v, h)
                                         for t, part, off, k, v, h in batch])
                measured += len(batch) if index >= skip else 0
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            server = _backend_cpu(backend) - server0
        digest = await pool.fetchval(
            "select md5(string_agg(customer_id::text || state::text || coalesce(churn_score::text, '')"
            " || array_to_string(segments, ','), '|' order by customer_id)) from customer_views")
        await pool.close()
    print(f"RESULT events={measured} cpu={cpu / measured * 1e6:.1f}us/event rate={measured / wall:.0f}/s "
          f"server_cpu={server / measured * 1e6:.1f}us/event "
          f"gc={pauses.collections} gc_ms={pauses.total_ms:.0f} gc_gen={pauses.by_generation} digest={digest}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replay360", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["record", "replay"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--size", type=int, default=20_000, help="events to record (record only)")
    parser.add_argument("--as-fetched", action="store_true",
                        help="record the batches as fetched, without aligning the topics by event time (record only)")
    args = parser.parse_args()
    if args.action == "record":
        args.path.write_bytes(pickle.dumps(asyncio.run(record(args.size, align_by_time=not args.as_fetched))))
    else:
        asyncio.run(replay(pickle.loads(args.path.read_bytes())))  # a file ``record`` wrote


if __name__ == "__main__":
    main()
