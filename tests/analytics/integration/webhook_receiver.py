"""A real HTTP receiver for webhook tests: an aiohttp server on 127.0.0.1 that fails, stalls and recovers.

Each path has a script of behaviours consumed one request at a time (``"fail"`` answers 500,
``"gone"`` 410, ``"slow"`` answers 200 only after ``slow_seconds`` — past the sender's timeout),
then the path's default (``"ok"`` unless set). Every request is recorded with its headers, body and
arrival time, so tests can verify signatures, ordering and retries.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    base_url: str = ""
    slow_seconds: float = 2.0
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    defaults: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def script(self, path: str, *behaviours: str, then: str | None = None, subject: str | None = None) -> None:
        self.scripts[f"{path}#{subject}" if subject else path].extend(behaviours)
        if then is not None:
            self.defaults[path] = then

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def delivered(self, path: str) -> list[Received]:
        """Requests answered 2xx, in arrival order."""
        return [r for r in self.at(path) if 200 <= r.status < 300]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        path = request.path
        try:
            subject = str(orjson.loads(body).get("subject", ""))
        except orjson.JSONDecodeError:
            subject = ""
        # A script for one customer's line (``path#subject``) wins over the path's own.
        key = f"{path}#{subject}" if self.scripts.get(f"{path}#{subject}") else path
        behaviour = self.scripts[key].popleft() if self.scripts[key] else self.defaults.get(path, "ok")
        status = {"ok": 200, "fail": 500, "gone": 410, "slow": 200}[behaviour]
        record = Received(path, {k.lower(): v for k, v in request.headers.items()}, body, status, time.monotonic())
        if behaviour == "slow":
            record.status = 599  # the sender gave up before the answer: never counted as delivered
            self.requests.append(record)
            await asyncio.sleep(self.slow_seconds)
            return web.Response(status=200)
        self.requests.append(record)
        return web.Response(status=status, text="ok" if status == 200 else "no")


@asynccontextmanager
async def running_receiver(slow_seconds: float = 2.0) -> AsyncIterator[Receiver]:
    receiver = Receiver(slow_seconds=slow_seconds)
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.base_url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
