"""Loading a ``PopulationPlan`` into the running services, through their HTTP APIs only.

Months run in order (so the event history reads in the simulated order); within a month every
customer's story runs concurrently, bounded by one semaphore over all HTTP calls. Every create carries
an ``Idempotency-Key`` derived from the seed and the plan's own keys, so re-running the same command
after a crash replays the first answers instead of creating anything twice; state changes that
take no key (ship, deliver, cancel, return, answering a survey) answer 409 when they were already
done, which the loader takes as "already done".

The services stamp events with their own clock, so the simulated months shape the *order* of
events, the invoices' due dates (late and overdue payments) and the orders' promised dates, not
the event timestamps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import httpx

from demo.plan import CustomerPlan, Line, OrderPlan, PopulationPlan, SurveyPlan, TicketPlan

log = logging.getLogger("demo")

DEFAULT_URLS: Final = {
    "customer": "http://127.0.0.1:8001",
    "ticketing": "http://127.0.0.1:8002",
    "campaigns": "http://127.0.0.1:8003",
    "analytics": "http://127.0.0.1:8004",
}
RETRYABLE: Final = frozenset({502, 503, 504})


class DemoError(RuntimeError):
    """A call the demo cannot do without (the services answered with an unexpected error)."""


class Progress:
    """What the loader reports progress to (a tqdm bar in the CLI, nothing in tests)."""

    def update(self, n: int = 1) -> None:
        """Count ``n`` finished calls."""


@dataclass
class Api:
    """An authenticated client for the four services with bounded concurrency and retries."""

    client: httpx.AsyncClient
    urls: Mapping[str, str]
    token: str
    concurrency: int = 16
    progress: Progress = field(default_factory=Progress)
    attempts: int = 5

    def __post_init__(self) -> None:
        self._gate = asyncio.Semaphore(self.concurrency)

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        body: Any = None,
        key: str | None = None,
        params: Mapping[str, Any] | None = None,
        done_on_conflict: bool = False,
    ) -> dict[str, Any] | None:
        """One call; ``None`` for a 409 when ``done_on_conflict`` (the step was already done)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        url = f"{self.urls[service].rstrip('/')}/v1/{path}"
        delay = 0.2
        for attempt in range(self.attempts):
            try:
                async with self._gate:
                    answer = await self.client.request(method, url, json=body, headers=headers, params=params)
            except httpx.TransportError as exc:
                if attempt == self.attempts - 1:
                    raise DemoError(f"{service} did not answer {method} {path}: {exc}") from exc
                await asyncio.sleep(delay)
                delay *= 2
                continue
            if answer.status_code in RETRYABLE and attempt < self.attempts - 1:
                await asyncio.sleep(delay)
                delay *= 2
                continue
            break
        self.progress.update()
        if answer.status_code == 409 and done_on_conflict:
            return None
        if answer.status_code >= 400:
            raise DemoError(f"{method} {service} {path}: {answer.status_code} {answer.text[:300]}")
        if answer.status_code == 204 or not answer.content:
            return {}
        result: dict[str, Any] = answer.json()
        return result


@dataclass
class Loaded:
    """Server-side ids of what the loader created, by plan key (the live mode builds on them)."""

    customers: dict[str, str] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)
    pending_orders: dict[str, tuple[str, str]] = field(default_factory=dict)
    """order id -> (customer id, status) for orders still placed or shipped."""
    tickets: dict[str, str] = field(default_factory=dict)
    campaigns: dict[str, str] = field(default_factory=dict)


class Loader:
    """Turns a plan into API calls."""

    def __init__(self, api: Api, plan: PopulationPlan, *, today: date | None = None) -> None:
        self.api = api
        self.plan = plan
        self.today = today or datetime.now(UTC).date()
        self.loaded = Loaded()
        self.transfer_reasons: list[str] = ["wrong_skill"]
        self.root_causes: list[str] = ["other"]

    def key(self, *parts: str) -> str:
        return ":".join(("demo", str(self.plan.seed), *parts))

    async def load(self, campaigns: Mapping[str, Mapping[str, Any]]) -> Loaded:
        """Activate the ready-made campaigns, then play every month of the plan."""
        await self.read_ticket_settings()
        await self.activate_campaigns(campaigns)
        for month in range(self.plan.months):
            stories = [self.customer_month(c, month) for c in self.plan.customers if c.joined_month <= month]
            await _all(stories)
        return self.loaded

    async def read_ticket_settings(self) -> None:
        vocabulary = await self.api.call("GET", "ticketing", "ticket-settings")
        if vocabulary:
            self.transfer_reasons = list(vocabulary.get("transfer_reasons") or self.transfer_reasons)
            self.root_causes = list(vocabulary.get("root_causes") or self.root_causes)

    async def activate_campaigns(self, campaigns: Mapping[str, Mapping[str, Any]]) -> None:
        existing: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            page = await self.api.call("GET", "campaigns", "campaigns", params={"limit": 200, **_cursor(cursor)})
            for item in (page or {}).get("items", []):
                existing.setdefault(item["name"], item)
            cursor = (page or {}).get("next_cursor")
            if not cursor:
                break
        for name, document in campaigns.items():
            found = existing.get(str(document["name"]))
            if found is None:
                found = await self.api.call("POST", "campaigns", "campaigns", body=dict(document),
                                            key=self.key("campaign", name))
            assert found is not None
            self.loaded.campaigns[name] = found["id"]
            if found.get("status") in ("draft", "paused"):
                await self.api.call("POST", "campaigns", f"campaigns/{found['id']}/activate", done_on_conflict=True)

    async def customer_month(self, customer: CustomerPlan, month: int) -> None:
        if month == customer.joined_month:
            await self.register(customer)
        customer_id = self.loaded.customers[customer.key]
        for order in (o for o in customer.orders if o.month == month):
            await self.order_story(customer_id, order)
        for ticket in (t for t in customer.tickets if t.month == month):
            await self.ticket_story(customer_id, ticket)
        for survey in (s for s in customer.surveys if s.month == month):
            await self.survey_story(customer_id, survey)

    async def register(self, c: CustomerPlan) -> None:
        body = {
            "name": c.name,
            "email": c.email,
            "phone": c.phone,
            "birth_date": c.birth_date.isoformat(),
            "acquisition_channel": c.acquisition_channel,
            "acquisition_cost": str(c.acquisition_cost),
            "relationship_type": c.relationship_type,
            "consents": c.consents,
            "interests": list(c.interests),
            "timezone": "Europe/Istanbul",
        }
        try:
            created = await self.api.call("POST", "customer", "customers", body=body, key=self.key(c.key, "register"))
            assert created is not None
            customer_id = str(created["id"])
        except DemoError as exc:
            # Registered by an earlier run whose idempotency record is gone: find them by email.
            if " 409 " not in str(exc):
                raise
            found = await self.api.call("GET", "customer", "customers", params={"email": c.email})
            items = (found or {}).get("items") or []
            if not items:
                raise
            customer_id = str(items[0]["id"])
        self.loaded.customers[c.key] = customer_id
        if c.account_manager:
            await self.api.call("PUT", "customer", f"customers/{customer_id}/account-manager",
                                body={"account_manager_id": c.account_manager}, done_on_conflict=True)

    async def order_story(self, customer_id: str, o: OrderPlan) -> None:
        promised = self.today + timedelta(days=5)  # the service refuses promises in the past
        created = await self.api.call("POST", "customer", "orders", key=self.key(o.key, "order"), body={
            "customer_id": customer_id,
            "lines": [_line(line) for line in o.lines],
            "currency": "TRY",
            "channel": o.channel,
            "promised_delivery_date": promised.isoformat(),
        })
        assert created is not None
        order_id = str(created["id"])
        self.loaded.orders[o.key] = order_id
        if o.fate == "placed":
            self.loaded.pending_orders[order_id] = (customer_id, "placed")
            return
        if o.fate == "cancelled":
            await self.api.call("POST", "customer", f"orders/{order_id}/cancel",
                                body={"reason": "customer changed their mind"}, done_on_conflict=True)
            return
        await self.api.call("POST", "customer", f"orders/{order_id}/ship", done_on_conflict=True,
                            body={"carrier": "Demo Kargo", "tracking_number": f"DK{zlib.crc32(o.key.encode()):010d}"})
        if o.fate == "shipped":
            self.loaded.pending_orders[order_id] = (customer_id, "shipped")
            return
        await self.api.call("POST", "customer", f"orders/{order_id}/deliver", done_on_conflict=True)
        due = self.today + timedelta(days=14) if o.payment == "on_time" else o.order_day + timedelta(days=o.due_days)
        invoice = await self.api.call("POST", "customer", "invoices", key=self.key(o.key, "invoice"),
                                      body={"order_id": order_id, "due_date": due.isoformat()})
        assert invoice is not None
        amount = Decimal(str(invoice["amount"]))
        if o.payment != "overdue" and amount > 0:
            paid = (amount / 2).quantize(Decimal("0.01")) if o.payment == "partial" else amount
            await self.api.call("POST", "customer", "payments", key=self.key(o.key, "payment"),
                                body={"invoice_id": invoice["id"], "amount": str(paid), "method": o.method})
        if o.fate == "returned":
            await self.api.call("POST", "customer", f"orders/{order_id}/return",
                                body={"reason": "did not meet expectations"}, done_on_conflict=True)

    async def ticket_story(self, customer_id: str, t: TicketPlan) -> None:
        body: dict[str, Any] = {
            "customer_id": customer_id,
            "kind": t.kind,
            "channel": t.channel,
            "subject": t.subject,
            "description": f"{t.subject}. Reported on the {t.channel} channel.",
            "priority": t.priority,
            "category": t.category,
        }
        if t.agent:
            body["agent_id"] = t.agent
        ticket = await self.api.call("POST", "ticketing", "tickets", body=body, key=self.key(t.key, "open"))
        assert ticket is not None
        ticket_id, owner = str(ticket["id"]), ticket.get("owner_id")
        self.loaded.tickets[t.key] = ticket_id
        for n, agent in enumerate(t.transfers):
            if agent == owner:
                continue
            if owner is None:
                await self.api.call("POST", "ticketing", f"tickets/{ticket_id}/assign", body={"agent_id": agent},
                                    key=self.key(t.key, f"assign{n}"), done_on_conflict=True)
            else:
                reason = self.transfer_reasons[(len(t.key) + n) % len(self.transfer_reasons)]
                await self.api.call("POST", "ticketing", f"tickets/{ticket_id}/transfer",
                                    key=self.key(t.key, f"move{n}"),
                                    body={"to_agent_id": agent, "reason": reason, "note": "needs a specialist"},
                                    done_on_conflict=True)
            owner = agent
        if t.answered:
            await self.api.call("POST", "ticketing", f"tickets/{ticket_id}/comments", key=self.key(t.key, "reply"),
                                body={"body": "Thank you, we are on it and will keep you posted.",
                                      "visibility": "public", **({"author_id": owner} if owner else {})},
                                done_on_conflict=True)
        if t.resolved:
            cause = t.root_cause if t.root_cause in self.root_causes else self.root_causes[-1]
            await self.api.call("POST", "ticketing", f"tickets/{ticket_id}/resolve", key=self.key(t.key, "resolve"),
                                body={"resolution": "Solved with the customer.", "root_cause": cause},
                                done_on_conflict=True)

    async def survey_story(self, customer_id: str, s: SurveyPlan) -> None:
        body: dict[str, Any] = {"customer_id": customer_id, "kind": s.kind}
        if s.kind == "csat":
            ticket_id = self.loaded.tickets.get(s.key.removesuffix("-csat"))
            if ticket_id:
                body["ticket_id"] = ticket_id
        survey = await self.api.call("POST", "campaigns", "surveys", body=body, key=self.key(s.key, "send"))
        assert survey is not None
        answer: dict[str, Any] = {"token": survey["response_token"], "score": s.score}
        if s.comment:
            answer["comment"] = s.comment
        await self.api.call("POST", "campaigns", f"surveys/{survey['id']}/responses", body=answer,
                            done_on_conflict=True)


def _line(line: Line) -> dict[str, Any]:
    return {"sku": line.sku, "name": line.name, "category": line.category, "quantity": line.quantity,
            "unit_price": str(line.unit_price), "unit_cost": str(line.unit_cost)}


def _cursor(cursor: str | None) -> dict[str, str]:
    return {"cursor": cursor} if cursor else {}


async def _all(stories: Iterable[Any]) -> None:
    results = await asyncio.gather(*stories, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors[:5]:
        log.error("demo step failed: %s", error)
    if errors:
        raise DemoError(f"{len(errors)} customer stories failed; first: {errors[0]}")


async def live(loader: Loader, *, interval: float, stop: asyncio.Event, rng: random.Random) -> int:
    """Keep a gentle stream of activity going until ``stop`` is set; returns how many actions ran."""
    from demo.catalog import PRODUCTS

    people = list(loader.loaded.customers.values())
    if not people:
        return 0
    actions = 0
    while not stop.is_set():
        customer_id = rng.choice(people)
        roll = rng.random()
        try:
            if roll < 0.4:
                product = rng.choice(PRODUCTS)
                order = await loader.api.call("POST", "customer", "orders", key=f"demo-live:{uuid.uuid4()}", body={
                    "customer_id": customer_id, "currency": "TRY", "channel": "web",
                    "lines": [{"sku": product.sku, "name": product.name, "category": product.category,
                               "quantity": 1, "unit_price": str(product.price), "unit_cost": str(product.cost)}],
                })
                if order:
                    loader.loaded.pending_orders[str(order["id"])] = (customer_id, "placed")
            elif roll < 0.65 and loader.loaded.pending_orders:
                order_id, (owner, status) = rng.choice(sorted(loader.loaded.pending_orders.items()))
                step = "ship" if status == "placed" else "deliver"
                await loader.api.call("POST", "customer", f"orders/{order_id}/{step}", done_on_conflict=True)
                if step == "ship":
                    loader.loaded.pending_orders[order_id] = (owner, "shipped")
                else:
                    del loader.loaded.pending_orders[order_id]
            elif roll < 0.8:
                await loader.api.call("POST", "ticketing", "tickets", key=f"demo-live:{uuid.uuid4()}", body={
                    "customer_id": customer_id, "kind": "complaint", "channel": "phone", "priority": "high",
                    "subject": "Delivery is late again", "description": "The customer called about a late parcel.",
                    "category": "delivery", "agent_id": "agent-ayla",
                })
            else:
                survey = await loader.api.call("POST", "campaigns", "surveys", key=f"demo-live:{uuid.uuid4()}",
                                               body={"customer_id": customer_id, "kind": "nps"})
                if survey:
                    await loader.api.call("POST", "campaigns", f"surveys/{survey['id']}/responses",
                                          body={"token": survey["response_token"], "score": rng.randint(0, 10)},
                                          done_on_conflict=True)
            actions += 1
        except DemoError as exc:
            log.warning("live step failed: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval * (0.5 + rng.random()))
    return actions
