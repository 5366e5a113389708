"""Rebuild: replay the domain topics into fresh read models (``services.analytics.rebuild``).

The records (``bench.workload``) are produced to fresh topics once; then, in the same run, the
first version (``method="replay"``: the live projector batch by batch, not swapped in) and the
set-based rebuild (``method="set"``: fold each customer once, COPY, then catch up and swap, as
``c360 rebuild analytics`` does) read them. The target is the issue's: one million events in under
120 s, i.e. at least 8,334 events/s; the time a million would take at each measured rate is
reported beside it, and the client CPU per event of each (this process and its fold processes; the
PostgreSQL server's share is not in it).
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Awaitable

import asyncpg

from bench.report import Figure, Progress
from bench.setup import Scratch, Size
from bench.workload import produce, workload
from services.analytics.config import AnalyticsSettings
from services.analytics.consumers.projector import CONSUMED_TOPICS
from services.analytics.rebuild import RebuildReport, rebuild

SIZE = Size(default=20_000, smoke=300, full=1_000_000, counts="events replayed")
MILLION = 1_000_000


def _cpu_seconds() -> float:
    """CPU of this process and of its reaped children (the set rebuild's fold processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def _with_cpu(run: Awaitable[RebuildReport]) -> tuple[RebuildReport, float]:
    """The report and the client CPU microseconds per event it took."""
    before = _cpu_seconds()
    report = await run
    return report, (_cpu_seconds() - before) / max(report.events, 1) * 1e6


async def _drop_schema(dsn: str, schema: str) -> None:
    """Drop the replay's unswapped schema, so the set rebuild starts from the state the replay started from.

    Why: left in place, the replay's million freshly inserted rows are what autovacuum works on next,
    on the same two cores, while the set rebuild is being timed (a real ``c360 rebuild`` never runs
    right after another build of the same size). Measured at 1,006,499 events: the set rebuild took
    124.5 s after the replay and 100.7 s before it. Dropping takes the tables' lock, which a
    (non-wraparound) autovacuum gives up.
    """
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()


async def run(size: int) -> list[Figure]:
    async with Scratch("analytics") as scratch:
        for name in CONSUMED_TOPICS:
            scratch.topic(name)
        load = workload(size, prefix=scratch.prefix)
        await asyncio.to_thread(produce, scratch.bootstrap, load.records)
        settings = AnalyticsSettings(database_url=scratch.dsn, kafka_bootstrap_servers=scratch.bootstrap,
                                     kafka_topic_prefix=scratch.prefix, environment="test")
        old, old_cpu = await _with_cpu(rebuild(settings, swap=False, progress=Progress.enabled, method="replay"))
        await _drop_schema(scratch.dsn, old.schema)
        new, new_cpu = await _with_cpu(rebuild(settings, swap=True, progress=Progress.enabled, method="set"))
    rate, old_rate = new.events_per_second, old.events_per_second
    return [
        Figure("rebuild", f"set-based rebuild of {new.events:,} events", rate, "events/s", target=MILLION / 120,
               comparison=f"replay through the projector {old_rate:,.0f} events/s", ratio=rate / old_rate),
        Figure("rebuild", "  client CPU per event, set-based", new_cpu, "us", op="<=",
               comparison=f"replay {old_cpu:,.0f} us", ratio=old_cpu / new_cpu if new_cpu else None),
        Figure("rebuild", "  time for 1,000,000 events at that rate", MILLION / rate, "s", target=120, op="<=",
               comparison=f"this run {new.seconds:.1f} s; replay would take {MILLION / old_rate:,.0f} s"),
    ]
