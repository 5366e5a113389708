"""Outbound webhooks (issue 20.3): how fast the delivery worker empties its queue into a real receiver.

``size`` deliveries (an ``OrderPlaced`` payload each, spread over 500 customers so the one-in-flight-
per-customer rule leaves the worker its full concurrency) wait in a scratch database; the real
``DeliveryWorker`` (``HttpSender``, signing, the attempt log, per-customer order, 16 in flight) sends
them to a receiver in its own process (an aiohttp server answering 204), and the run reports:

* deliveries/s from the first send to the last one recorded as delivered;
* p50 and p95 of each attempt's latency as the worker records it in the delivery log;
* the worker's CPU per delivery (this process's CPU time; the receiver's is its own).

The comparison, in the same run: the same bodies POSTed to the same receiver by a bare
``httpx.AsyncClient`` at the same concurrency (no database, no signing): what the HTTP part alone costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import orjson

from bench.report import Figure, Progress, percentile
from bench.setup import Scratch, Size
from services.analytics.adapters import webhooks as store
from services.analytics.adapters.webhooks import HttpSender
from services.analytics.application import webhooks as use
from services.analytics.application.webhooks import DeliveryWorker, SubscriptionSpec
from services.analytics.bootstrap import ROWS_FACTORY
from services.analytics.domain.webhooks import RetryPolicy, webhook_payload
from shared.clock import SystemClock
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.store.uow import UnitOfWork
from shared.testing.platform import free_port

progress = Progress.bar
SIZE = Size(default=3_000, smoke=50, full=20_000, counts="webhook deliveries")
CUSTOMERS = 500
CONCURRENCY = 16
RECEIVER = """
import sys
from aiohttp import web

async def hook(request):
    await request.read()
    return web.Response(status=204)

app = web.Application()
app.router.add_post("/hook", hook)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def _rows(subscription_id: uuid.UUID, size: int, now: datetime) -> list[tuple[object, ...]]:
    customers = [str(uuid.uuid4()) for _ in range(CUSTOMERS)]
    rows: list[tuple[object, ...]] = []
    for n in range(size):
        customer, event_id, at = customers[n % CUSTOMERS], uuid.uuid4(), now - timedelta(seconds=size - n)
        payload = webhook_payload(
            event_id=str(event_id), event_type="OrderPlaced", version=1, source="/customer360/customer",
            subject=customer, time=at.isoformat().replace("+00:00", "Z"), personal_data="withheld",
            data={"order_id": str(uuid.uuid4()), "customer_id": customer, "currency": "EUR",
                  "total": f"{10 + n % 90}.90", "channel": "web",
                  "lines": [{"sku": "K-1", "name": "Kettle", "quantity": 1, "unit_price": "10.90"}]})
        rows.append((uuid.uuid4(), subscription_id, event_id, "OrderPlaced", at, "/customer360/customer", customer,
                     None, orjson.dumps(payload).decode(), now))
    return rows


async def _receiver_ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.post(url, content=b"{}")).status_code == 204:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError("the benchmark's webhook receiver did not start")


async def _bare_posts(url: str, bodies: list[bytes]) -> float:
    """Seconds for a bare client to POST every body, ``CONCURRENCY`` at a time."""
    queue = list(reversed(bodies))
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        async def lane() -> None:
            while queue:
                response = await client.post(url, content=queue.pop(), headers={"content-type": "application/json"})
                assert response.status_code == 204

        began = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
        return time.perf_counter() - began


async def run(size: int) -> list[Figure]:
    """Deliver ``size`` queued deliveries to a real receiver; the bare HTTP client as the comparison."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    receiver = await asyncio.create_subprocess_exec(sys.executable, "-c", RECEIVER, str(port),
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
    try:
        await _receiver_ready(url)
        async with Scratch("analytics") as scratch:
            pool = await create_pool(scratch.dsn, min_size=2, max_size=CONCURRENCY + 4)
            events = EventStore(service="analytics", topic=f"{scratch.prefix}analytics.events")
            sender = HttpSender(timeout=10.0, allow_private=True)
            try:
                now = datetime.now(UTC)
                async with UnitOfWork(pool, events, ROWS_FACTORY) as uow:
                    created = await use.create_subscription(uow, spec=SubscriptionSpec(url, ["OrderPlaced"]),
                                                            now=now, allow_private=True)
                subscription_id = uuid.UUID(created.resource_id)
                rows = _rows(subscription_id, size, now)
                async with pool.acquire() as conn:
                    for first in range(0, size, 1000):
                        await store.insert_deliveries(conn, rows[first:first + 1000])
                worker = DeliveryWorker(pool, sender=sender, policy=RetryPolicy(initial=1.0, max_attempts=3),
                                        disable_after=1000, event_store=events, clock=SystemClock(),
                                        concurrency=CONCURRENCY, poll_seconds=0.2)
                stop = asyncio.Event()
                cpu, began = time.process_time(), time.perf_counter()
                delivering = asyncio.create_task(worker.run(stop, listen_dsn=scratch.dsn))
                bar = progress(total=size, desc="webhook deliveries", unit="delivery")
                delivered = 0
                while delivered < size:
                    await asyncio.sleep(0.2)
                    async with pool.acquire() as conn:
                        now_delivered = await conn.fetchval(
                            "select count(*) from public.webhook_deliveries where status = 'delivered'")
                    bar.update(now_delivered - delivered)
                    delivered = now_delivered
                    if delivering.done():
                        delivering.result()
                        raise RuntimeError("the delivery worker stopped before delivering everything")
                elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
                bar.close()
                stop.set()
                await delivering
                async with pool.acquire() as conn:
                    latencies = [float(r["latency_ms"]) for r in await conn.fetch(
                        "select latency_ms from public.webhook_attempts where status_code = 204")]
                    attempts = await conn.fetchval("select count(*) from public.webhook_attempts")
                assert attempts == size, f"{attempts} attempts for {size} deliveries (a retry means a failure)"
                bare = await _bare_posts(url, [str(r[8]).encode() for r in rows])
            finally:
                await sender.close()
                await pool.close()
    finally:
        receiver.terminate()
        await asyncio.wait_for(receiver.wait(), timeout=10)
    rate = size / elapsed
    return [
        Figure("webhooks", f"deliver {size:,} signed webhooks ({CONCURRENCY} in flight, "
               f"{min(size, CUSTOMERS)} customers)",
               round(rate), "deliveries/s", comparison=f"bare httpx POSTs of the same bodies {size / bare:,.0f}/s",
               ratio=round(rate / (size / bare), 2)),
        Figure("webhooks", "attempt latency p50 (as logged)", round(percentile(latencies, 50), 2), "ms",
               comparison=f"p95 {percentile(latencies, 95):.2f} ms"),
        Figure("webhooks", "attempt latency p95 (as logged)", round(percentile(latencies, 95), 2), "ms"),
        Figure("webhooks", "worker CPU per delivery", round(cpu / size * 1e3, 3), "ms CPU",
               comparison=f"{cpu:.2f} s CPU over {elapsed:.2f} s wall"),
    ]
