"""Memory: the analytics projector's resident memory while it applies N events, as a real process.

The records are the projection benchmarks' (``bench.workload``: about twelve events per customer, so
1,000,000 events are about 83,000 customers), produced before the worker starts; then ONE real
``c360 worker analytics projector`` process applies them, and its resident set (``VmRSS``) is
sampled about once a second together with the number of events applied (the inbox rows).

The question (issue 10, point 8) is whether memory grows in proportion to the events processed.
The criterion, and why it is this one:

* The first quarter of the events is the warm-up: imports done, pools open, the Kafka fetch
  buffers full (the backlog keeps them full: up to 1 MiB per partition, 18 partitions) and the
  bounded caches filled (the analytics time-string caches, ``model.TIME_CACHE_SIZE`` entries each,
  fill within the first few thousand events).
* The RSS is the median of the samples taken between 25% and 35% of the events (the baseline) and
  between 90% and 100% (the end): single samples swing by ±15 MiB as fetch buffers come and go.
* The end may exceed the baseline by at most **10%**. At the ``full`` size (750,000 events after
  the warm-up) on a ~215 MiB process that allows ~3 MiB per 100,000 events: a leak of ~30 bytes
  per event, or of ~350 bytes per customer, fails it. A structure bounded by configuration adds a
  constant once full and passes; anything kept per event or per customer does not. Allocator
  high-water marks rise in steps and level off (pymalloc keeps an arena while one object in it
  lives; glibc's heap is kept small by ``shared.ops.allocator``): see "Memory of the workers" in
  docs/runbook.md for what each structure costs and its bound.
* At the default size (100,000 events) the check is quick rather than conclusive; ``--full`` is
  the size that answers the question. The trend figure (least-squares MiB per 100,000 events over
  every sample after the warm-up) is the number to extrapolate from.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from bench.processes import Processes
from bench.projection import applied, read_model_dsn
from bench.report import Figure, Progress, median
from bench.setup import Scratch, Size
from bench.workload import analytics_topics, produce, workload
from shared.store.db import create_pool

progress = Progress.bar
SIZE = Size(default=100_000, smoke=300, full=1_000_000, counts="events applied by one projector process")
WARM_UP = 0.25
"""Fraction of the events after which the process counts as warmed up (the baseline RSS)."""
GROWTH_TARGET = 10.0
"""Largest acceptable RSS growth (% of the baseline) from ``WARM_UP`` to the last event."""
SAMPLE_EVERY = 1.0
WORKER = "memory-projector"


@dataclass(frozen=True, slots=True)
class Sample:
    """Events applied so far, and the process's resident set then (MiB)."""

    applied: int
    rss: float


async def sample(pool: Any, processes: Processes, total: int, give_up_after: float = 3600) -> list[Sample]:
    """(events applied, RSS) about once a second until every event is applied."""
    samples: list[Sample] = []
    deadline = time.monotonic() + give_up_after
    with progress(total=total, desc="projector process", unit="ev") as bar:
        done = 0
        while done < total:
            processes.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done} of {total} events applied in {give_up_after:.0f}s")
            now = await applied(pool)
            rss = processes.rss_mb().get(WORKER)
            if rss is not None:
                samples.append(Sample(now, rss))
            bar.update(now - done)
            done = now
            if done < total:
                await asyncio.sleep(SAMPLE_EVERY)
    return samples


def window(samples: list[Sample], total: int, low: float, high: float) -> list[Sample]:
    """Samples taken once ``low`` and before ``high`` of the events were applied (never empty)."""
    inside = [s for s in samples if low * total <= s.applied < high * total]
    return inside or [next((s for s in samples if s.applied >= low * total), samples[-1])]


def trend_per_100k(samples: list[Sample]) -> float:
    """Least-squares slope of RSS against events applied, in MiB per 100,000 events (0 if flat in x)."""
    n = len(samples)
    mean_x = sum(s.applied for s in samples) / n
    mean_y = sum(s.rss for s in samples) / n
    spread = sum((s.applied - mean_x) ** 2 for s in samples)
    if spread == 0:
        return 0.0
    return sum((s.applied - mean_x) * (s.rss - mean_y) for s in samples) / spread * 100_000


def figures(samples: list[Sample], total: int, peak: float) -> list[Figure]:
    warm = window(samples, total, WARM_UP, WARM_UP + 0.1)
    last = window(samples, total, 0.9, 1.01)
    base, end = median([s.rss for s in warm]), median([s.rss for s in last])
    growth = (end - base) / base * 100
    after = [s for s in samples if s.applied >= WARM_UP * total] or samples[-1:]
    return [
        Figure("memory", f"projector RSS after {WARM_UP:.0%} of {total:,} events", base, "MiB",
               comparison=f"median of {len(warm)} samples, {WARM_UP:.0%}-{WARM_UP + 0.1:.0%}"),
        Figure("memory", "projector RSS over the last 10% of the events", end, "MiB",
               comparison=f"median of {len(last)} samples; peak {peak:,.1f} MiB"),
        Figure("memory", f"  RSS growth from {WARM_UP:.0%} to the end", growth, "%", target=GROWTH_TARGET,
               op="<=", comparison=f"{end - base:+,.1f} MiB", ratio=end / base),
        Figure("memory", f"  RSS trend after {WARM_UP:.0%}, per 100k events", trend_per_100k(after), "MiB",
               comparison=f"least squares over {len(after)} samples"),
    ]


async def run(size: int) -> list[Figure]:
    async with Scratch("analytics") as scratch:
        analytics_topics(scratch)
        load = workload(size, prefix=scratch.prefix)
        total = len(load)
        await asyncio.to_thread(produce, scratch.bootstrap, load.records)
        del load  # the bench process keeps nothing of the workload while it measures
        processes = Processes({"KAFKA_BOOTSTRAP_SERVERS": scratch.bootstrap, "KAFKA_TOPIC_PREFIX": scratch.prefix,
                               "ANALYTICS_DATABASE_URL": scratch.dsn})
        pool = await create_pool(read_model_dsn(scratch.dsn), min_size=1, max_size=2)
        try:
            processes.start(WORKER, "worker", "analytics", "projector")
            samples = await sample(pool, processes, total)
            peak = processes.peak_rss_mb().get(WORKER, float("nan"))
        finally:
            processes.stop()
            await pool.close()
    return figures(samples, total, peak)
