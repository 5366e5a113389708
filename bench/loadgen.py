"""Open-loop HTTP load at a fixed rate: request ``n`` is sent at ``start + n / rate`` whatever the
latency of the others (a closed loop would slow down with the server and hide its queueing)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from bench.report import Progress


async def fixed_rate(
    rate: float, count: int, call: Callable[[int], Awaitable[None]], *, desc: str
) -> tuple[float, int]:
    """Run ``call(n)`` for n < count at ``rate`` per second; returns (seconds, calls that raised)."""
    failures = 0
    started = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    bar = Progress.bar(total=count, desc=desc, unit="req")

    async def one(n: int) -> None:
        nonlocal failures
        try:
            await call(n)
        except (httpx.HTTPError, AssertionError, TimeoutError):
            failures += 1
        bar.update(1)

    for n in range(count):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    bar.close()
    return time.perf_counter() - started, failures
