"""Open-loop HTTP load at a fixed rate: request ``n`` is sent at ``start + n / rate`` whatever the
latency of the others (a closed loop would slow down with the server and hide its queueing).

The generator shares the two cores with the server it measures, so its own cost per request must
stay small and, above all, must not grow with the backlog: httpx's connection pool re-scans every
queued request on each change (py-spy of the reads benchmark: 65% of the generator's samples in
``httpcore ... _assign_requests_to_connections``), so once a few hundred requests queued, the
generator fell behind, reported p50 latencies of seconds while the API sat idle, and never caught
up. aiohttp, which replaced it, still cost 0.76 ms of CPU per request (``top`` during the reads
benchmark at 500/s: the generator at 38% of a core beside the API's 55%), a third of the machine's
spare time. ``KeepAliveClient`` sends prepared ``GET`` bytes over a fixed set of keep-alive
connections handed out from a queue, and reads each answer by its ``Content-Length``: a fraction of
that, so the cores go to the server being measured, as they would with the load coming from elsewhere.
"""

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
        except (httpx.HTTPError, AssertionError, TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
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


class KeepAliveClient:
    """``GET`` with a bearer token over at most ``connections`` HTTP/1.1 keep-alive connections.

    Only what a benchmark of our own JSON APIs needs: answers with a ``Content-Length`` (Starlette
    always sends one for a JSON body); anything else is a ``ConnectionError``, counted as a failure.
    """

    def __init__(self, host: str, port: int, token: str, *, connections: int = 64, timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = asyncio.Queue()
        for _ in range(connections):
            self._idle.put_nowait(None)  # opened on first use

    async def get(self, path: str) -> tuple[int, bytes]:
        """The status and body of ``GET path``."""
        connection = await self._idle.get()
        try:
            if connection is None:
                connection = await asyncio.open_connection(self.host, self.port)
            reader, writer = connection
            writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self._head)
            async with asyncio.timeout(self.timeout):
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = _content_length(head)
                body = await reader.readexactly(length)
        except BaseException:
            if connection is not None:
                connection[1].close()
            self._idle.put_nowait(None)
            raise
        self._idle.put_nowait(connection)
        return status, body

    async def close(self) -> None:
        while not self._idle.empty():
            connection = self._idle.get_nowait()
            if connection is not None:
                connection[1].close()

    async def __aenter__(self) -> KeepAliveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ConnectionError("an answer without Content-Length")
