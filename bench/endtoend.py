"""End to end: commands through the HTTP APIs at a steady rate → visible in ``GET /v1/customers/{id}/360``.

The whole platform runs as real processes on ports 18001-18004 (``c360 api`` for the four services,
an outbox relay per service, and the workers the path needs: ticketing's customer replica, the
campaigns engine and the analytics projector), with fresh databases and a unique topic prefix.

Customers are registered first (each with one order and its invoice, so payments have something
to pay). Then, at a steady rate for ``size`` seconds, a mix like real traffic: 40% orders, 25%
tickets, 20% NPS surveys (sent and answered: the answer is the timed command), 15% payments. Each
command goes to an idle customer (one command in flight per customer, so "visible" is well
defined: the 360's order count, open tickets, survey count or amount paid reaches what it must),
and the 360 is polled every 20 ms from the HTTP 201 until the change shows: latencies are rounded
up to that poll. The peak RSS of every process over the run is the memory figure.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from bench.loadgen import fixed_rate
from bench.processes import Processes, start_platform
from bench.report import Figure, median, percentile
from bench.setup import Scratch, Size

SIZE = Size(default=20, smoke=2, full=60, counts="seconds of steady command traffic")
RATE = {"smoke": 5.0, "default": 50.0, "full": 500.0}
PORTS = {"customer": 18001, "ticketing": 18002, "campaigns": 18003, "analytics": 18004}
MIX = (("order", 40), ("ticket", 25), ("survey", 20), ("payment", 15))
POLL = 0.02
VISIBLE_WITHIN = 60.0


@dataclass
class Customer:
    id: str
    invoice_id: str
    orders: int = 1
    open_tickets: int = 0
    surveys: int = 0
    paid: Decimal = Decimal(0)


def _line() -> dict[str, Any]:
    return {"sku": "SKU-BENCH-1", "name": "Bench kettle", "category": "kitchen", "quantity": 1,
            "unit_price": "1000.00", "unit_cost": "600.00"}


class Driver:
    def __init__(self, clients: dict[str, httpx.AsyncClient]) -> None:
        self.http = clients
        self.latencies: dict[str, list[float]] = {kind: [] for kind, _ in MIX}
        self.errors: list[str] = []

    async def post(self, service: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http[service].post(f"/v1/{path}", json=body)
        if response.status_code not in (200, 201):
            raise AssertionError(f"POST {service} {path}: {response.status_code} {response.text[:200]}")
        data: dict[str, Any] = response.json()
        return data

    async def view(self, customer: Customer) -> dict[str, Any]:
        response = await self.http["analytics"].get(f"/v1/customers/{customer.id}/360")
        return response.json() if response.status_code == 200 else {}

    async def register(self, n: int) -> Customer:
        created = await self.post("customer", "customers", {
            "name": f"Bench Customer {n}", "email": f"bench{n}-{random.getrandbits(32):x}@example.com",
            "acquisition_channel": "web", "acquisition_cost": "50.00", "relationship_type": "transactional",
            "consents": {"email": True}, "interests": ["kitchen"], "timezone": "Europe/Istanbul"})
        order = await self.place_order(str(created["id"]))
        invoice = await self.post("customer", "invoices", {
            "order_id": order["id"], "due_date": (date.today() + timedelta(days=30)).isoformat()})
        return Customer(str(created["id"]), str(invoice["id"]))

    async def place_order(self, customer_id: str) -> dict[str, Any]:
        return await self.post("customer", "orders", {
            "customer_id": customer_id, "lines": [_line()], "currency": "TRY", "channel": "web",
            "promised_delivery_date": (date.today() + timedelta(days=5)).isoformat()})

    async def until_visible(self, customer: Customer, seen: Any) -> None:
        deadline = time.perf_counter() + VISIBLE_WITHIN
        while True:
            view = await self.view(customer)
            if view and seen(view):
                return
            if time.perf_counter() > deadline:
                raise TimeoutError(f"not visible after {VISIBLE_WITHIN:.0f}s for {customer.id}")
            await asyncio.sleep(POLL)

    async def command(self, kind: str, c: Customer) -> None:
        if kind == "order":
            await self.place_order(c.id)
            c.orders += 1
            target: Any = c.orders
            seen: Any = lambda v: v["orders"]["count"] >= target  # noqa: E731
        elif kind == "ticket":
            await self.post("ticketing", "tickets", {
                "customer_id": c.id, "kind": "question", "channel": "phone", "subject": "Where is my order?",
                "description": "Asked on the phone.", "priority": "normal"})
            c.open_tickets += 1
            target = c.open_tickets
            seen = lambda v: v["service"]["open_tickets"] >= target  # noqa: E731
        elif kind == "survey":
            survey = await self.post("campaigns", "surveys", {"customer_id": c.id, "kind": "nps"})
            await self.post("campaigns", f"surveys/{survey['id']}/responses",
                            {"token": survey["response_token"], "score": random.randint(0, 10)})
            c.surveys += 1
            target = c.surveys
            seen = lambda v: v["feedback"]["survey_count"] >= target  # noqa: E731
        else:
            await self.post("customer", "payments", {"invoice_id": c.invoice_id, "amount": "1.00", "method": "card"})
            c.paid += 1
            target = c.paid
            seen = lambda v: Decimal(v["payments"]["paid"]) >= target  # noqa: E731
        accepted = time.perf_counter()
        await self.until_visible(c, seen)
        self.latencies[kind].append((time.perf_counter() - accepted) * 1000)


async def run(size: int, rate: float | None = None) -> list[Figure]:
    rate = rate or (RATE["full"] if size >= 60 else RATE["smoke"] if size <= 2 else RATE["default"])
    count = int(rate * size)
    prefix = f"bench{random.getrandbits(32):08x}."
    scratches = {name: Scratch(name) for name in PORTS}
    for scratch in scratches.values():
        await scratch.__aenter__()
    processes: Processes | None = None
    try:
        platform = start_platform(scratches, prefix, ports=PORTS, partitions=6, label="e2e")
        processes, urls, token = platform.processes, platform.urls, platform.token
        await asyncio.to_thread(processes.wait_ready, urls)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        clients = {name: httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"},
                                           timeout=30.0, limits=limits) for name, url in urls.items()}
        try:
            driver = Driver(clients)
            customers = await asyncio.gather(*(driver.register(n) for n in range(max(5, int(rate)))))
            await asyncio.gather(*(driver.until_visible(c, lambda v: v["orders"]["count"] >= 1) for c in customers))
            idle: asyncio.Queue[Customer] = asyncio.Queue()
            for c in customers:
                idle.put_nowait(c)
            kinds = list(itertools.chain.from_iterable([kind] * weight for kind, weight in MIX))
            rng = random.Random(13)

            async def call(n: int) -> None:
                customer = await idle.get()
                try:
                    await driver.command(rng.choice(kinds), customer)
                except (AssertionError, TimeoutError, httpx.HTTPError) as exc:
                    driver.errors.append(repr(exc)[:300])
                finally:
                    idle.put_nowait(customer)

            elapsed, _ = await fixed_rate(rate, count, call, desc=f"commands @{rate:,.0f}/s")
            peaks = processes.peak_rss_mb()
        finally:
            for client in clients.values():
                await client.aclose()
    finally:
        if processes is not None:
            processes.stop()
        for scratch in scratches.values():
            await scratch.__aexit__(None, None, None)
    every = [ms for values in driver.latencies.values() for ms in values]
    figures = [
        Figure("endtoend", f"HTTP 201 → visible in /360, p50 ({count:,} commands)", median(every), "ms", target=50,
               op="<=", comparison=f"asked {rate:,.0f}/s, achieved {count / elapsed:,.1f}/s"),
        Figure("endtoend", "HTTP 201 → visible in /360, p99", percentile(every, 99), "ms", target=250, op="<="),
        Figure("endtoend", "  errors (4xx/5xx or never visible)", float(len(driver.errors)), "count", target=0,
               op="<=", comparison=driver.errors[0][:40] if driver.errors else ""),
    ]
    for kind, values in driver.latencies.items():
        if values:
            figures.append(Figure("endtoend", f"  {kind} p50 / p99", median(values), "ms",
                                  comparison=f"p99 {percentile(values, 99):,.0f} ms, n={len(values)}"))
    for name, peak in sorted(peaks.items()):
        figures.append(Figure("memory", f"peak RSS {name.removeprefix('e2e-')}", peak, "MiB"))
    return figures
