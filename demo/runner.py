"""Loading a ``PopulationPlan`` into the running services, through their HTTP APIs only.

History is replayed in simulated time: every call carries ``X-Simulated-Time`` with the moment its
step happens in the plan, and the services (in the local and test environments) use it as their
clock and as the time of the events they append, so the 360 timeline, the KPIs by month and the
service times show the months the plan covers. One customer's steps run one after the other, in
simulated-time order (``CustomerPlan.steps()``); different customers run concurrently, bounded by
one semaphore over all HTTP calls.

Every create carries an ``Idempotency-Key`` derived from the seed and the plan's own keys, so
re-running the same command (same seed, same ``--as-of``) after a crash replays the first answers
instead of creating anything twice; state changes that take no key (ship, deliver, cancel, return,
answering a survey) answer 409 when they were already done, which the loader takes as "already done".
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
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import httpx

from demo.catalog import PRODUCTS
from demo.plan import AGENTS, CustomerPlan, Line, OrderPlan, PopulationPlan, Step, SurveyPlan, TicketPlan

log = logging.getLogger("demo")

DEFAULT_URLS: Final = {
    "customer": "http://127.0.0.1:8001",
    "ticketing": "http://127.0.0.1:8002",
    "campaigns": "http://127.0.0.1:8003",
    "analytics": "http://127.0.0.1:8004",
}
RETRYABLE: Final = frozenset({500, 502, 503, 504})
"""Answers worth repeating. 500 is among them because a failed command rolled back whole (its
idempotency record too), so repeating it is safe, and under the demo's load a transient database
error (a deadlock between concurrent ticket updates, for one) still surfaces as a 500; each such
repeat is logged, and a 500 that persists still fails the step."""
SIMULATED_TIME_HEADER: Final = "X-Simulated-Time"


def rfc3339(moment: datetime) -> str:
    """``2026-03-01T10:00:00Z``: the form ``X-Simulated-Time`` takes."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class DemoError(RuntimeError):
    """A call the demo cannot do without (the services answered with an unexpected error)."""


class Progress:
    """What the loader reports progress to (a tqdm bar in the CLI, nothing in tests)."""

    def update(self, n: int = 1) -> None:
        """Count ``n`` finished steps."""


@dataclass
class Api:
    """An authenticated client for the four services with bounded concurrency and retries."""

    client: httpx.AsyncClient
    urls: Mapping[str, str]
    token: str
    concurrency: int = 16
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
        at: datetime | None = None,
    ) -> dict[str, Any] | None:
        """One call, at simulated moment ``at`` when given; ``None`` for a 409 when ``done_on_conflict``."""
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        if at is not None:
            headers[SIMULATED_TIME_HEADER] = rfc3339(at)
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
                if answer.status_code == 500:
                    log.warning("repeating %s %s %s after a 500: %s", method, service, path, answer.text[:200])
                await asyncio.sleep(delay)
                delay *= 2
                continue
            break
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
    invoices: dict[str, tuple[str, Decimal]] = field(default_factory=dict)
    """order key -> (invoice id, amount)."""
    owners: dict[str, str | None] = field(default_factory=dict)
    """ticket key -> the agent who owns it now."""
    surveys: dict[str, tuple[str, str]] = field(default_factory=dict)
    """survey key -> (survey id, response token)."""


class Loader:
    """Replays a plan as API calls, in simulated time.

    ``progress`` counts steps, one per ready-made campaign made active and one per step of a
    customer's story (whatever number of calls each takes): ``steps(campaigns)`` is the total.
    """

    def __init__(self, api: Api, plan: PopulationPlan, progress: Progress | None = None) -> None:
        self.api = api
        self.plan = plan
        self.progress = progress or Progress()
        self.loaded = Loaded()
        self.transfer_reasons: list[str] = ["wrong_skill"]
        self.root_causes: list[str] = ["other"]
        self._orders = {o.key: o for c in plan.customers for o in c.orders}
        self._tickets = {t.key: t for c in plan.customers for t in c.tickets}
        self._surveys = {s.key: s for c in plan.customers for s in c.surveys}
        self._notes = {n.key: (c, n) for c in plan.customers for n in c.notes}
        self._follow_ups: dict[str, str] = {}
        """note key -> the id of its follow-up, once the note is written."""

    def key(self, *parts: str) -> str:
        return ":".join(("demo", str(self.plan.seed), *parts))

    def steps(self, campaigns: Mapping[str, Mapping[str, Any]]) -> int:
        """How many steps ``load(campaigns)`` reports to ``progress``."""
        return len(campaigns) + self.plan.operations()

    async def load(self, campaigns: Mapping[str, Mapping[str, Any]]) -> Loaded:
        """Activate the ready-made campaigns, then replay every customer's story (customers concurrently)."""
        await self.read_ticket_settings()
        await self.activate_campaigns(campaigns)
        await _all(self.customer_story(c) for c in self.plan.customers)
        return self.loaded

    async def attach(self) -> int:
        """Find the customers an earlier run loaded (by email), without replaying anything; returns how many.

        The live mode builds on an existing population: replaying it would cost thousands of calls,
        and on another day than the first load it would not even match (see ``--as-of``).
        """
        async def find(c: CustomerPlan) -> None:
            page = await self.api.call("GET", "customer", "customers", params={"email": c.email})
            items = (page or {}).get("items") or []
            if items:
                self.loaded.customers[c.key] = str(items[0]["id"])

        await _all(find(c) for c in self.plan.customers)
        return len(self.loaded.customers)

    async def already_loaded(self) -> bool:
        """Whether the plan's first customer exists (an earlier run loaded this demo)."""
        first = self.plan.customers[0]
        page = await self.api.call("GET", "customer", "customers", params={"email": first.email})
        return bool((page or {}).get("items"))

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
            self.progress.update()

    async def customer_story(self, customer: CustomerPlan) -> None:
        """One customer's steps, one after the other, each at its simulated moment."""
        for step in customer.steps():
            await self.play(customer, step)
            self.progress.update()

    async def play(self, customer: CustomerPlan, step: Step) -> None:
        """Dispatch one step to the call that performs it."""
        if step.action == "register":
            await self.register(customer, step.at)
            return
        customer_id = self.loaded.customers[customer.key]
        if step.action == "assign_manager":
            await self.api.call("PUT", "customer", f"customers/{customer_id}/account-manager", at=step.at,
                                body={"account_manager_id": customer.account_manager}, done_on_conflict=True)
        elif step.action in ORDER_ACTIONS:
            await self.order_step(customer_id, self._orders[step.ref], step)
        elif step.action in TICKET_ACTIONS:
            await self.ticket_step(customer_id, self._tickets[step.ref], step)
        elif step.action in NOTE_ACTIONS:
            await self.note_step(customer_id, step)
        else:
            await self.survey_step(customer_id, self._surveys[step.ref], step)

    async def register(self, c: CustomerPlan, at: datetime) -> None:
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
            created = await self.api.call("POST", "customer", "customers", body=body, key=self.key(c.key, "register"),
                                          at=at)
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

    async def note_step(self, customer_id: str, step: Step) -> None:
        """A note on a key account (its follow-up owned by the account manager), or that follow-up done."""
        customer, note = self._notes[step.ref]
        if step.action == "write_note":
            body: dict[str, Any] = {"text": note.text}
            if note.follow_up_due is not None:
                body["follow_up"] = {"due_at": rfc3339(note.follow_up_due), "owner": customer.account_manager}
            written = await self.api.call("POST", "customer", f"customers/{customer_id}/notes", body=body,
                                          key=self.key(note.key, "note"), at=step.at)
            follow_up = (written or {}).get("follow_up")
            if follow_up:
                self._follow_ups[note.key] = str(follow_up["id"])
            return
        follow_up_id = self._follow_ups.get(note.key)
        if follow_up_id is None:
            # Written by an earlier run whose answer is gone: the customer's notes name it.
            page = await self.api.call("GET", "customer", f"customers/{customer_id}/notes", params={"limit": 200})
            found = [n["follow_up"]["id"] for n in (page or {}).get("items", [])
                     if n.get("text") == note.text and n.get("follow_up")]
            if not found:
                raise DemoError(f"the follow-up of note {note.key} was not found")
            follow_up_id = str(found[0])
        await self.api.call("POST", "customer", f"follow-ups/{follow_up_id}/complete", at=step.at,
                            done_on_conflict=True)

    async def order_step(self, customer_id: str, o: OrderPlan, step: Step) -> None:
        at, call = step.at, self.api.call
        if step.action == "place_order":
            created = await call("POST", "customer", "orders", key=self.key(o.key, "order"), at=at, body={
                "customer_id": customer_id,
                "lines": [_line(line) for line in o.lines],
                "currency": "TRY",
                "channel": o.channel,
                "promised_delivery_date": (o.order_day + PROMISED_DELIVERY).isoformat(),
            })
            assert created is not None
            order_id = str(created["id"])
            self.loaded.orders[o.key] = order_id
            if o.fate in ("placed", "shipped"):
                self.loaded.pending_orders[order_id] = (customer_id, o.fate)
            return
        order_id = self.loaded.orders[o.key]
        if step.action == "cancel_order":
            await call("POST", "customer", f"orders/{order_id}/cancel", at=at,
                       body={"reason": "customer changed their mind"}, done_on_conflict=True)
        elif step.action == "ship_order":
            await call("POST", "customer", f"orders/{order_id}/ship", done_on_conflict=True, at=at,
                       body={"carrier": "Demo Kargo", "tracking_number": f"DK{zlib.crc32(o.key.encode()):010d}"})
        elif step.action == "deliver_order":
            await call("POST", "customer", f"orders/{order_id}/deliver", done_on_conflict=True, at=at)
        elif step.action == "issue_invoice":
            assert o.due_date is not None
            invoice = await call("POST", "customer", "invoices", key=self.key(o.key, "invoice"), at=at,
                                 body={"order_id": order_id, "due_date": o.due_date.isoformat()})
            assert invoice is not None
            self.loaded.invoices[o.key] = (str(invoice["id"]), Decimal(str(invoice["amount"])))
        elif step.action == "pay_invoice":
            invoice_id, amount = self.loaded.invoices[o.key]
            paid = (amount / 2).quantize(Decimal("0.01")) if o.payment == "partial" else amount
            if paid > 0:
                await call("POST", "customer", "payments", key=self.key(o.key, "payment"), at=at,
                           body={"invoice_id": invoice_id, "amount": str(paid), "method": o.method})
        elif step.action == "return_order":
            await call("POST", "customer", f"orders/{order_id}/return", at=at,
                       body={"reason": "did not meet expectations"}, done_on_conflict=True)

    async def ticket_step(self, customer_id: str, t: TicketPlan, step: Step) -> None:
        at, call = step.at, self.api.call
        if step.action == "open_ticket":
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
            ticket = await call("POST", "ticketing", "tickets", body=body, key=self.key(t.key, "open"), at=at)
            assert ticket is not None
            self.loaded.tickets[t.key] = str(ticket["id"])
            self.loaded.owners[t.key] = ticket.get("owner_id")
            return
        ticket_id, owner = self.loaded.tickets[t.key], self.loaded.owners.get(t.key)
        if step.action == "transfer_ticket":
            agent, n = t.transfers[step.n], step.n
            if agent == owner:
                return
            if owner is None:
                await call("POST", "ticketing", f"tickets/{ticket_id}/assign", body={"agent_id": agent}, at=at,
                           key=self.key(t.key, f"assign{n}"), done_on_conflict=True)
            else:
                reason = self.transfer_reasons[(len(t.key) + n) % len(self.transfer_reasons)]
                await call("POST", "ticketing", f"tickets/{ticket_id}/transfer", key=self.key(t.key, f"move{n}"),
                           body={"to_agent_id": agent, "reason": reason, "note": "needs a specialist"},
                           done_on_conflict=True, at=at)
            self.loaded.owners[t.key] = agent
        elif step.action == "escalate_ticket":
            await call("POST", "ticketing", f"tickets/{ticket_id}/escalate", key=self.key(t.key, "escalate"), at=at,
                       body={"note": "The customer is upset; a team lead takes a look."}, done_on_conflict=True)
        elif step.action == "answer_ticket":
            # An unowned ticket's first public reply makes its author the owner (the first person who
            # talks to the customer owns the problem): one of the agents, the same one on every run.
            author = owner or AGENTS[zlib.crc32(t.key.encode()) % len(AGENTS)]
            await call("POST", "ticketing", f"tickets/{ticket_id}/comments", key=self.key(t.key, "reply"), at=at,
                       body={"body": "Thank you, we are on it and will keep you posted.",
                             "visibility": "public", "author_id": author},
                       done_on_conflict=True)
            self.loaded.owners[t.key] = author
        elif step.action == "resolve_ticket":
            cause = t.root_cause if t.root_cause in self.root_causes else self.root_causes[-1]
            await call("POST", "ticketing", f"tickets/{ticket_id}/resolve", key=self.key(t.key, "resolve"), at=at,
                       body={"resolution": "Solved with the customer.", "root_cause": cause},
                       done_on_conflict=True)

    async def survey_step(self, customer_id: str, s: SurveyPlan, step: Step) -> None:
        if step.action == "send_survey":
            body: dict[str, Any] = {"customer_id": customer_id, "kind": s.kind}
            if s.ticket_key and s.ticket_key in self.loaded.tickets:
                body["ticket_id"] = self.loaded.tickets[s.ticket_key]
            survey = await self.api.call("POST", "campaigns", "surveys", body=body, key=self.key(s.key, "send"),
                                         at=step.at)
            assert survey is not None
            self.loaded.surveys[s.key] = (str(survey["id"]), str(survey["response_token"]))
            return
        survey_id, token = self.loaded.surveys[s.key]
        answer: dict[str, Any] = {"token": token, "score": s.score}
        if s.comment:
            answer["comment"] = s.comment
        await self.api.call("POST", "campaigns", f"surveys/{survey_id}/responses", body=answer, at=step.at,
                            done_on_conflict=True)


NOTE_ACTIONS: Final = frozenset({"write_note", "complete_follow_up"})
ORDER_ACTIONS: Final = frozenset({"place_order", "ship_order", "deliver_order", "cancel_order", "issue_invoice",
                                  "pay_invoice", "return_order"})
TICKET_ACTIONS: Final = frozenset({"open_ticket", "transfer_ticket", "escalate_ticket", "answer_ticket",
                                   "resolve_ticket"})
PROMISED_DELIVERY: Final = timedelta(days=5)
"""Orders promise delivery five days after the order day (late deliveries show as not on time)."""


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


LIVE_MIX: Final[dict[str, int]] = {"redeem": 15, "order": 30, "fulfil": 20, "complaint": 15, "survey": 20}
"""What the live mode does, with weights: redeem an offer, place an order, ship or deliver one, complain, answer."""


async def live(loader: Loader, *, interval: float, stop: asyncio.Event, rng: random.Random) -> int:
    """Keep a gentle stream of activity going until ``stop`` is set; returns how many actions ran.

    Each action happens now (no simulated time): a customer redeems an offer a campaign sent them
    (so the campaigns show redemptions and conversions), places an order, has one shipped or
    delivered, complains, or answers an NPS survey.
    """
    people = list(loader.loaded.customers.values())
    if not people:
        return 0
    actions = 0
    kinds, weights = list(LIVE_MIX), list(LIVE_MIX.values())
    pending = loader.loaded.pending_orders
    while not stop.is_set():
        customer_id = rng.choice(people)
        kind = rng.choices(kinds, weights=weights)[0]
        try:
            if kind == "redeem" and await redeem_an_offer(loader.api, customer_id, rng, pending=pending) is None:
                kind = "order"  # nothing to redeem: an ordinary order instead
            if kind == "order":
                await place_an_order(loader.api, customer_id, rng, pending=pending)
            elif kind == "fulfil" and pending:
                order_id, (owner, status) = rng.choice(sorted(pending.items()))
                step = "ship" if status == "placed" else "deliver"
                await loader.api.call("POST", "customer", f"orders/{order_id}/{step}", done_on_conflict=True)
                if step == "ship":
                    pending[order_id] = (owner, "shipped")
                else:
                    del pending[order_id]
            elif kind == "complaint":
                await loader.api.call("POST", "ticketing", "tickets", key=f"demo-live:{uuid.uuid4()}", body={
                    "customer_id": customer_id, "kind": "complaint", "channel": "phone", "priority": "high",
                    "subject": "Delivery is late again", "description": "The customer called about a late parcel.",
                    "category": "delivery", "agent_id": "agent-ayla",
                })
            elif kind == "survey":
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


async def place_an_order(
    api: Api, customer_id: str, rng: random.Random, *, offer: Mapping[str, Any] | None = None,
    pending: dict[str, tuple[str, str]] | None = None,
) -> dict[str, Any] | None:
    """One order of one product (the offer's product or category when redeeming ``offer``), placed now.

    The order is added to ``pending`` (order id -> (customer id, status)) so the live mode ships it later.
    """
    candidates = list(PRODUCTS)
    if offer is not None:
        matching = [p for p in PRODUCTS if p.sku == offer.get("sku")] or \
                   [p for p in PRODUCTS if p.category == offer.get("category")]
        candidates = matching or candidates
    product = rng.choice(candidates)
    body: dict[str, Any] = {
        "customer_id": customer_id, "currency": "TRY", "channel": "web",
        "lines": [{"sku": product.sku, "name": product.name, "category": product.category,
                   "quantity": 1, "unit_price": str(product.price), "unit_cost": str(product.cost)}],
    }
    if offer is not None:
        body["offer_code"] = offer["offer_code"]
    order = await api.call("POST", "customer", "orders", key=f"demo-live:{uuid.uuid4()}", body=body)
    if order and pending is not None:
        pending[str(order["id"])] = (customer_id, "placed")
    return order


async def open_offers(api: Api, customer_id: str, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Offers the customer received, has not redeemed and may still redeem (from their 360 timeline)."""
    try:
        page = await api.call("GET", "analytics", f"customers/{customer_id}/timeline",
                              params={"type": ["OfferSent", "OfferRedeemed"], "limit": 200})
    except DemoError:
        return []  # analytics has not seen the customer yet
    items = (page or {}).get("items") or []
    redeemed = {item["data"].get("offer_code") for item in items if item["type"] == "OfferRedeemed"}
    moment = now or datetime.now(UTC)
    found = []
    for item in items:
        data = item.get("data") or {}
        if item["type"] != "OfferSent" or not data.get("offer_code") or data["offer_code"] in redeemed:
            continue
        valid_until = data.get("valid_until")
        if valid_until and datetime.fromisoformat(str(valid_until).replace("Z", "+00:00")) <= moment:
            continue
        found.append(dict(data))
    return found


async def redeem_an_offer(
    api: Api, customer_id: str, rng: random.Random, *, pending: dict[str, tuple[str, str]] | None = None
) -> str | None:
    """The customer orders with one of their open offers (the campaigns engine records the redemption).

    Returns the offer code, or ``None`` when the customer has no offer to redeem.
    """
    offers = await open_offers(api, customer_id)
    if not offers:
        return None
    offer = rng.choice(sorted(offers, key=lambda o: str(o["offer_code"])))
    await place_an_order(api, customer_id, rng, offer=offer, pending=pending)
    return str(offer["offer_code"])
