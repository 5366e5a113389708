"""Open-loop HTTP load at a fixed rate: request ``n`` is sent at ``start + n / rate`` whatever the
latency of the others (a closed loop would slow down with the server and hide its queueing).

The generator shares the two cores with the server it measures, so its own cost per request must
stay small and, above all, must not grow with the backlog: httpx's connection pool re-scans every
queued request on each change (py-spy of the reads benchmark: 65% of the generator's samples in
``httpcore ... _assign_requests_to_connections``), so once a few hundred requests queued, the
generator fell behind, reported p50 latencies of seconds while the API sat idle, and never caught
up. ``rate_client`` is an aiohttp session (already installed with Faust), whose pool hands out
connections from a queue in constant time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
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
        except (httpx.HTTPError, aiohttp.ClientError, AssertionError, TimeoutError):
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


def rate_client(base_url: str, token: str, *, connections: int = 64, timeout: float = 10.0) -> aiohttp.ClientSession:
    """A keep-alive session for ``fixed_rate`` with at most ``connections`` open to ``base_url``."""
    return aiohttp.ClientSession(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"},
        connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections),
        timeout=aiohttp.ClientTimeout(total=timeout),
    )
