"""A mixed workload through the HTTP APIs that records its own ground truth, and the checks against it.

Each customer story registers a customer, places, ships, delivers, invoices and pays an order, opens a
complaint, answers an NPS survey, and tries two commands the domain must refuse (paying a settled
invoice again, cancelling a delivered order). What the APIs accepted, and what they refused, is
recorded in a ``GroundTruth``; ``verify`` then compares every event store, the outboxes, the topics
and the analytics read models with it.

The client behaves as a careful real client does while the platform is being broken: a transport
error or a 502/503/504 is retried with the same ``Idempotency-Key`` until a deadline, and a 409 on
the retry of a state transition means the first attempt did land (its answer was lost).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from shared.testing.kafka import read_whole_topic
from shared.testing.platform import RunningPlatform

RETRYABLE = frozenset({502, 503, 504})
RETRY_DEADLINE_SECONDS = 90.0


class Refused(Exception):
    """The API answered a 4xx (other than a retried 409) where the story expected success."""


@dataclass
class CustomerTruth:
    """What the platform accepted (and refused) for one customer."""

    customer_id: str
    order_totals: list[Decimal] = field(default_factory=list)
    paid: Decimal = Decimal("0.00")
    invoiced: Decimal = Decimal("0.00")
    complaints: int = 0
    nps: int | None = None
    refused_payment_invoice: str | None = None
    refused_cancel_order: str | None = None


@dataclass
class GroundTruth:
    """Every accepted command's effect, per customer, plus the count of failed stories."""

    customers: dict[str, CustomerTruth] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    calls: int = 0
    retries: int = 0
    server_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[CustomerTruth]:
        """The customers so far (safe while the workload thread is still adding some)."""
        with self.lock:
            return list(self.customers.values())

    def nps_counts(self) -> tuple[int, int, int]:
        """(promoters, passives, detractors) implied by the accepted answers."""
        scores = [c.nps for c in self.snapshot() if c.nps is not None]
        return (sum(s >= 9 for s in scores), sum(7 <= s <= 8 for s in scores), sum(s <= 6 for s in scores))


class Client:
    """An HTTP client that retries like a well-behaved caller and counts what happened."""

    def __init__(self, platform: RunningPlatform, truth: GroundTruth, token: str) -> None:
        self.platform = platform
        self.truth = truth
        self.http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20.0)

    async def call(self, method: str, service: str, path: str, body: Any = None, *, key: str | None = None,
                   expect_refusal: bool = False) -> httpx.Response:
        """Send until a final answer arrives (retrying transport errors and 5xx-unavailable)."""
        headers = {"Idempotency-Key": key} if key else {}
        deadline = time.monotonic() + RETRY_DEADLINE_SECONDS
        delay = 0.2
        retried = False
        while True:
            self.truth.calls += 1
            try:
                answer = await self.http.request(method, self.platform.url(service, path), json=body, headers=headers)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code >= 500 and answer.status_code not in RETRYABLE:
                self.truth.server_errors += 1
            if answer is not None and answer.status_code not in RETRYABLE:
                if answer.status_code == 409 and retried and not expect_refusal:
                    return answer  # the lost first attempt landed; the transition is done
                if answer.status_code >= 400 and not expect_refusal:
                    raise Refused(f"{method} {path} -> {answer.status_code} {answer.text[:300]}")
                return answer
            if time.monotonic() > deadline:
                raise Refused(f"{method} {path}: no answer within {RETRY_DEADLINE_SECONDS}s")
            self.truth.retries += 1
            retried = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def close(self) -> None:
        await self.http.aclose()


async def customer_story(client: Client, rng: random.Random) -> None:
    """One customer's life: order to payment, a complaint, an NPS answer, two refused commands."""
    run = uuid.uuid4().hex[:12]
    registered = await client.call("POST", "customer", "/v1/customers", key=f"reg-{run}", body={
        "name": f"Chaos Customer {run}", "email": f"chaos.{run}@example.com", "consents": {"email": True},
    })
    truth = CustomerTruth(customer_id=registered.json()["id"])
    with client.truth.lock:
        client.truth.customers[truth.customer_id] = truth
    price = Decimal(rng.randint(10, 500)) + Decimal("0.50")
    quantity = rng.randint(1, 3)
    order = (await client.call("POST", "customer", "/v1/orders", key=f"ord-{run}", body={
        "customer_id": truth.customer_id, "currency": "TRY", "channel": "web",
        "lines": [{"sku": "CH-1", "name": "Chaos kettle", "category": "home", "quantity": quantity,
                   "unit_price": str(price), "unit_cost": "5.00"}],
    })).json()
    truth.order_totals.append(Decimal(order["total"]))
    await client.call("POST", "customer", f"/v1/orders/{order['id']}/ship",
                      body={"carrier": "Chaos Kargo", "tracking_number": f"CK{run}"})
    await client.call("POST", "customer", f"/v1/orders/{order['id']}/deliver")
    due = (datetime.now(UTC).date() + timedelta(days=14)).isoformat()
    invoice = (await client.call("POST", "customer", "/v1/invoices", key=f"inv-{run}",
                                 body={"order_id": order["id"], "due_date": due})).json()
    truth.invoiced += Decimal(invoice["amount"])
    await client.call("POST", "customer", "/v1/payments", key=f"pay-{run}",
                      body={"invoice_id": invoice["id"], "amount": invoice["amount"], "method": "card"})
    truth.paid += Decimal(invoice["amount"])
    refused = await client.call("POST", "customer", "/v1/payments", key=f"pay2-{run}", expect_refusal=True,
                                body={"invoice_id": invoice["id"], "amount": "1.00", "method": "card"})
    if refused.status_code in (409, 422):
        truth.refused_payment_invoice = invoice["id"]
    else:
        client.truth.unexpected.append(f"overpayment answered {refused.status_code}")
    refused = await client.call("POST", "customer", f"/v1/orders/{order['id']}/cancel", expect_refusal=True,
                                body={"reason": "too late"})
    if refused.status_code == 409:
        truth.refused_cancel_order = order["id"]
    else:
        client.truth.unexpected.append(f"cancelling a delivered order answered {refused.status_code}")
    await client.call("POST", "ticketing", "/v1/tickets", key=f"tkt-{run}", body={
        "customer_id": truth.customer_id, "kind": "complaint", "channel": "phone", "subject": "Late kettle",
        "description": "The kettle came late.", "priority": "normal", "category": "delivery",
    })
    truth.complaints += 1
    survey = (await client.call("POST", "campaigns", "/v1/surveys", key=f"srv-{run}",
                                body={"customer_id": truth.customer_id, "kind": "nps"})).json()
    score = rng.randint(0, 10)
    await client.call("POST", "campaigns", f"/v1/surveys/{survey['id']}/responses",
                      body={"token": survey["response_token"], "score": score})
    truth.nps = score


class Workload:
    """Runs customer stories at a steady concurrency in a background thread until stopped."""

    def __init__(self, platform: RunningPlatform, *, concurrency: int = 4, seed: int = 11,
                 max_customers: int | None = None, truth: GroundTruth | None = None) -> None:
        self.platform = platform
        self.concurrency = concurrency
        self.rng = random.Random(seed)
        self.max_customers = max_customers
        self.truth = truth if truth is not None else GroundTruth()
        self.started = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="workload", daemon=True)

    def start(self) -> Workload:
        self._thread.start()
        return self

    def stop(self, timeout: float = RETRY_DEADLINE_SECONDS + 30) -> GroundTruth:
        """Stop starting stories, let the running ones finish, return the ground truth."""
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the workload did not finish its stories in time")
        return self.truth

    def wait_for_customers(self, n: int, timeout: float = 120.0) -> None:
        """Block until ``n`` customers were registered (so a fault lands mid-load)."""
        deadline = time.monotonic() + timeout
        while len(self.truth.customers) < n:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError(f"the workload registered only {len(self.truth.customers)} customers")
            time.sleep(0.1)

    async def _run(self) -> None:
        client = Client(self.platform, self.truth, self.platform.admin_token)
        try:
            await asyncio.gather(*(self._lane(client) for _ in range(self.concurrency)))
        finally:
            await client.close()

    async def _lane(self, client: Client) -> None:
        while not self._stop.is_set():
            if self.max_customers is not None and self.started >= self.max_customers:
                return
            self.started += 1
            try:
                await customer_story(client, self.rng)
            except Refused as exc:
                self.truth.unexpected.append(str(exc))


# --- verification against the ground truth -------------------------------------------------------------


async def _events(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch("select event_id::text as id, event_type, subject, data from events"))
    finally:
        await conn.close()


async def _unpublished(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("select count(*) from outbox where published_at is null"))
    finally:
        await conn.close()


def _type_counts(events: list[asyncpg.Record]) -> dict[str, Counter[str]]:
    per_subject: dict[str, Counter[str]] = {}
    for e in events:
        per_subject.setdefault(e["subject"], Counter())[e["event_type"]] += 1
    return per_subject


def _named(counter: Counter[str], name: str) -> int:
    return sum(n for t, n in counter.items() if name in t)


async def verify_event_stores(platform: RunningPlatform, truth: GroundTruth) -> dict[str, list[asyncpg.Record]]:
    """Every accepted command's events are stored exactly once; refused ones left nothing."""
    stores = {s: await _events(platform.dsns[s]) for s in ("customer", "ticketing", "campaigns")}
    customer = _type_counts(stores["customer"])
    ticketing = _type_counts(stores["ticketing"])
    campaigns = _type_counts(stores["campaigns"])
    for c in truth.snapshot():
        mine = customer.get(c.customer_id, Counter())
        if not c.order_totals:
            continue  # the story stopped after registering (recorded in truth.unexpected)
        assert _named(mine, "CustomerRegistered") == 1, (c.customer_id, mine)
        assert _named(mine, "OrderPlaced") == len(c.order_totals), (c.customer_id, mine)
        assert _named(mine, "PaymentReceived") == (1 if c.paid else 0), (c.customer_id, mine)
        assert _named(mine, "OrderCancelled") == 0, (c.customer_id, mine)
        assert _named(ticketing.get(c.customer_id, Counter()), "TicketOpened") == c.complaints, c.customer_id
        if c.nps is not None:
            assert _named(campaigns.get(c.customer_id, Counter()), "SurveyAnswered") == 1, c.customer_id
    return stores


async def verify_outboxes_drained(platform: RunningPlatform) -> None:
    """Every committed event left the outbox."""
    for service, dsn in platform.dsns.items():
        assert await _unpublished(dsn) == 0, f"{service}'s outbox still holds events"


def verify_topics(platform: RunningPlatform, stores: dict[str, list[asyncpg.Record]]) -> None:
    """Every stored event is on its topic (at least once; consumers deduplicate)."""
    for service, events in stores.items():
        wanted = {e["id"] for e in events}
        records = read_whole_topic(platform.settings.kafka_bootstrap_servers, platform.topic(f"{service}.events"))
        missing = wanted - {r.headers.get("ce_id") for r in records}
        assert not missing, f"{len(missing)} of {service}'s committed events are not on the topic"


def read_model_mismatches(platform: RunningPlatform, truth: GroundTruth, *, latest: int | None = None,
                          kpis: bool = True) -> list[str]:
    """Differences between the analytics read models and the ground truth (empty when equal).

    Only finished stories are compared (they no longer change). While the workload still runs, pass
    ``kpis=False``: the NPS totals always include answers accepted a moment ago and not yet projected,
    so they can only be compared once the load has stopped. ``latest`` limits the check to the most
    recently finished stories (a quick "are the workers applying?" probe).
    """
    problems: list[str] = []
    headers = {"Authorization": f"Bearer {platform.token('analytics:read')}"}
    finished = [c for c in truth.snapshot() if c.order_totals and c.nps is not None]
    if latest is not None:
        finished = finished[-latest:]
    with httpx.Client(headers=headers, timeout=20.0) as http:
        for c in finished:
            answer = http.get(platform.url("analytics", f"/v1/customers/{c.customer_id}/360"))
            if answer.status_code != 200:
                problems.append(f"{c.customer_id}: 360 answered {answer.status_code}")
                continue
            view = answer.json()
            got = (view["orders"]["count"], Decimal(view["orders"]["total_spent"]),
                   Decimal(view["payments"]["paid"]), Decimal(view["payments"]["invoiced"]),
                   view["service"]["complaints_total"], view["feedback"]["last_nps"], view["feedback"]["survey_count"])
            want = (len(c.order_totals), sum(c.order_totals, Decimal("0.00")), c.paid, c.invoiced, c.complaints,
                    c.nps, 1)
            if got != want:
                problems.append(f"{c.customer_id}: 360 has {got}, the ground truth says {want}")
        if not kpis:
            return problems
        now = datetime.now(UTC)
        window = {"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(days=1)).isoformat()}
        nps = http.get(platform.url("analytics", "/v1/kpis/nps"), params=window)
        if nps.status_code != 200:
            problems.append(f"NPS answered {nps.status_code}")
        else:
            body = nps.json()
            got_nps = (body["promoters"], body["passives"], body["detractors"])
            if got_nps != truth.nps_counts():
                problems.append(f"NPS counts {got_nps}, the ground truth says {truth.nps_counts()}")
    return problems


def verify_timelines_exactly_once(platform: RunningPlatform, truth: GroundTruth,
                                  stores: dict[str, list[asyncpg.Record]], sample: int = 10) -> None:
    """For a sample of customers, the timeline holds each source event once and no other copy."""
    headers = {"Authorization": f"Bearer {platform.token('analytics:read')}"}
    source_ids: dict[str, set[str]] = {}
    for events in stores.values():
        for e in events:
            source_ids.setdefault(e["subject"], set()).add(e["id"])
    with httpx.Client(headers=headers, timeout=20.0) as http:
        for c in truth.snapshot()[:sample]:
            ids: list[str] = []
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
                page = http.get(platform.url("analytics", f"/v1/customers/{c.customer_id}/timeline"),
                                params=params).json()
                ids += [item["event_id"] for item in page["items"]]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            assert len(ids) == len(set(ids)), f"{c.customer_id}'s timeline holds an event twice"
            missing = source_ids.get(c.customer_id, set()) - set(ids)
            assert not missing, f"{c.customer_id}'s timeline misses {len(missing)} events"


def _process_report(platform: RunningPlatform) -> str:
    """Which processes died, with the end of their logs: what a failed CI run needs to be diagnosed."""
    dead = [name for name in platform.processes if not platform.alive(name)]
    if not dead:
        return "every process is alive"
    tails = []
    for name in dead:
        log_file = platform.log_dir / f"{name}.log"
        text = log_file.read_text(errors="replace") if log_file.exists() else ""
        tails.append(f"--- {name} ---\n{text[-2000:]}")
    return f"dead: {dead}\n" + "\n".join(tails)


async def verify_all(platform: RunningPlatform, truth: GroundTruth, *, recovery_seconds: float) -> float:
    """Wait (at most ``recovery_seconds``) until the read models equal the ground truth, then check all.

    Returns how long the read models took to converge.
    """
    assert not truth.unexpected, f"stories failed: {truth.unexpected[:5]}"
    assert truth.server_errors == 0, f"{truth.server_errors} answers were 500s"
    started = time.monotonic()
    deadline = started + recovery_seconds
    while True:
        mismatches = await asyncio.to_thread(read_model_mismatches, platform, truth)
        outboxes = [await _unpublished(dsn) for dsn in platform.dsns.values()]
        if not mismatches and not any(outboxes):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"not recovered within {recovery_seconds}s: outboxes {outboxes}, "
                                 f"{len(mismatches)} mismatches, e.g. {mismatches[:3]}; {_process_report(platform)}")
        await asyncio.sleep(1.0)
    converged = time.monotonic() - started
    stores = await verify_event_stores(platform, truth)
    await verify_outboxes_drained(platform)
    await asyncio.to_thread(verify_topics, platform, stores)
    await asyncio.to_thread(verify_timelines_exactly_once, platform, truth, stores)
    return converged
