"""The demo's population plan: who the customers are and what happens to them, moment by moment.

Pure and deterministic: ``build_plan(seed=..., customers=..., months=..., now=...)`` draws everything
from one ``random.Random(seed)``, so the same seed always gives the same people and stories (and
therefore the same idempotency keys, which is what makes a re-run after a crash create nothing
twice). Every step carries the simulated moment it happens at: registration before the first order,
shipping and delivery days after the order, the invoice at delivery, payments on time or late,
returns inside the window, tickets answered and resolved over hours and days, surveys a few days
after a delivery. ``CustomerPlan.steps()`` lists one customer's steps in that order. The months end
with ``now`` (the real present by default), and what would happen after it has not happened yet.
Nothing here does I/O; ``demo.runner`` replays the steps as HTTP calls in simulated time.

The shape follows the brief: acquisition channels and relationship types of seed 002, personas
that land customers in the segments of seed 003 (loyal, high value, deal seeker, late payer,
serial complainer, churner), returns and late payments, complaints with transfers and SLA breaches,
and survey answers spread over promoters, passives and detractors.
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Final, Literal, TypeVar, cast

from demo.catalog import PRODUCTS, Product

AcquisitionChannel = Literal["web", "store", "phone", "partner", "referral", "campaign"]
RelationshipType = Literal[
    "transactional", "long_term", "personal_assistance", "dedicated_assistance", "self_service", "automated",
    "community",
]
Persona = Literal["regular", "loyal", "vip", "occasional", "deal_seeker", "late_payer", "complainer", "churner"]
OrderFate = Literal["delivered", "returned", "cancelled", "shipped", "placed"]
PaymentBehaviour = Literal["on_time", "late", "overdue", "partial"]
TicketKind = Literal["complaint", "question", "incident", "request"]

CHANNEL_WEIGHTS: Final[dict[AcquisitionChannel, int]] = {
    "web": 35, "store": 20, "campaign": 15, "referral": 12, "partner": 10, "phone": 8,
}
ACQUISITION_COST: Final[dict[AcquisitionChannel, tuple[int, int]]] = {
    "web": (20, 60), "store": (10, 40), "campaign": (40, 120), "referral": (5, 25), "partner": (30, 90),
    "phone": (25, 70),
}
RELATIONSHIP_WEIGHTS: Final[dict[RelationshipType, int]] = {
    "transactional": 38, "self_service": 20, "long_term": 15, "automated": 8, "community": 7,
    "personal_assistance": 7, "dedicated_assistance": 5,
}
PERSONA_WEIGHTS: Final[dict[Persona, int]] = {
    "regular": 40, "loyal": 14, "vip": 3, "occasional": 18, "deal_seeker": 8, "late_payer": 7, "complainer": 5,
    "churner": 5,
}
ORDERS_PER_MONTH: Final[dict[Persona, float]] = {
    "regular": 0.8, "loyal": 1.5, "vip": 2.0, "occasional": 0.25, "deal_seeker": 1.0, "late_payer": 0.8,
    "complainer": 0.8, "churner": 1.2,
}
TICKETS_PER_CUSTOMER: Final[dict[Persona, float]] = {
    "regular": 0.3, "loyal": 0.2, "vip": 0.4, "occasional": 0.1, "deal_seeker": 0.3, "late_payer": 0.5,
    "complainer": 3.0, "churner": 0.8,
}
NPS_MIX: Final[dict[Persona, tuple[int, int, int]]] = {
    # (promoters, passives, detractors) in percent
    "regular": (40, 35, 25), "loyal": (70, 25, 5), "vip": (75, 20, 5), "occasional": (30, 40, 30),
    "deal_seeker": (25, 40, 35), "late_payer": (25, 35, 40), "complainer": (5, 20, 75), "churner": (10, 25, 65),
}
TICKET_SUBJECTS: Final[dict[TicketKind, tuple[tuple[str, str, str], ...]]] = {
    # (subject, category, root cause when it is resolved)
    "complaint": (
        ("Parcel arrived two weeks late", "delivery", "delivery_delay"),
        ("Charged twice for one order", "billing", "billing_error"),
        ("Wrong item in the box", "fulfilment", "wrong_item"),
        ("Product stopped working after a week", "product", "product_defect"),
        ("Agent was rude on the phone", "service", "product_defect"),
    ),
    "question": (
        ("How do I change my delivery address?", "account", ""),
        ("Is this compatible with my model?", "product", ""),
        ("When will my order ship?", "delivery", ""),
    ),
    "incident": (
        ("Cannot log in to my account", "account", ""),
        ("Payment page shows an error", "billing", ""),
    ),
    "request": (
        ("Please send a copy of my invoice", "billing", ""),
        ("Close my newsletter subscription", "account", ""),
    ),
}
FIRST_NAMES: Final = (
    "Ayşe", "Mehmet", "Elif", "Mustafa", "Zeynep", "Ahmet", "Emine", "Ali", "Fatma", "Hüseyin", "Deniz", "Can",
    "Selin", "Emre", "Ece", "Burak", "Maria", "John", "Sofia", "Lucas", "Hannah", "Omar", "Yuki", "Priya",
)
# Turkish names as Turkish customers spell them; "\u0131" is the dotless i.
LAST_NAMES: Final = (
    "Y\u0131lmaz", "Kaya", "Demir", "Şahin", "Çelik", "Y\u0131ld\u0131z", "Ayd\u0131n", "Öztürk", "Arslan",
    "Doğan", "Koç", "Kurt",
    "Smith", "García", "Müller", "Rossi", "Novak", "Tanaka", "Silva", "Khan",
)
INTERESTS: Final = ("electronics", "home", "outdoor", "fashion", "books", "kitchen", "sports", "beauty", "toys")
AGENTS: Final = ("agent-ayla", "agent-bora", "agent-cem", "agent-derya", "agent-eda", "agent-furkan")
ACCOUNT_MANAGERS: Final = ("am-gul", "am-hakan", "am-irem")
PAYMENT_METHODS: Final = ("card", "card", "card", "transfer", "wallet", "direct_debit", "cash")


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    name: str
    category: str
    quantity: int
    unit_price: Decimal
    unit_cost: Decimal


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """One order and the moments its story happens; a moment after the plan's ``now`` has not happened."""

    key: str
    month: int
    lines: tuple[Line, ...]
    channel: str
    fate: OrderFate
    """Where the order stands at the plan's ``now`` (a delivery still under way leaves it ``shipped``)."""
    payment: PaymentBehaviour
    method: str
    due_days: int
    """Days after delivery the invoice falls due."""
    placed_at: datetime
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    returned_at: datetime | None = None
    invoiced_at: datetime | None = None
    """Invoices are issued when the parcel is delivered (a couple of hours later)."""
    paid_at: datetime | None = None
    """When the invoice is paid (after the due date for late payers; never for overdue ones)."""

    @property
    def order_day(self) -> date:
        return self.placed_at.date()

    @property
    def due_date(self) -> date | None:
        return None if self.delivered_at is None else self.delivered_at.date() + timedelta(days=self.due_days)

    @property
    def total(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0"))


@dataclass(frozen=True, slots=True)
class TicketPlan:
    key: str
    month: int
    kind: TicketKind
    channel: str
    priority: str
    subject: str
    category: str
    root_cause: str
    agent: str | None
    transfers: tuple[str, ...]
    """Agents the ticket is passed to, in order (each transfer is an exception with a reason)."""
    opened_at: datetime
    transferred_at: tuple[datetime, ...] = ()
    escalated_at: datetime | None = None
    answered_at: datetime | None = None
    """When an agent first replies publicly (the first response stops that SLA clock)."""
    resolved_at: datetime | None = None

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None


@dataclass(frozen=True, slots=True)
class SurveyPlan:
    key: str
    kind: Literal["nps", "csat"]
    score: int
    comment: str | None
    sent_at: datetime
    answered_at: datetime | None = None
    """``None``: the customer never answered (a churner ignores the win-back survey)."""
    ticket_key: str | None = None
    """The ticket a CSAT survey asks about."""

    @property
    def month(self) -> date:
        return self.sent_at.date().replace(day=1)


@dataclass(frozen=True, slots=True)
class NotePlan:
    """A note an account manager's colleague writes on a key account, maybe asking for a follow-up (issue 21.1)."""

    key: str
    written_at: datetime
    text: str
    follow_up_due: datetime | None = None
    """When the account manager is to act; in the future for the newest note, so the manager has work."""
    follow_up_done_at: datetime | None = None
    """When the follow-up was done (only in the simulated past); ``None`` while it is open."""


NOTE_TEXTS: Final = (
    "Met them at the trade fair; call about the new {interest} line.",
    "Asked for a quote on a bulk {interest} order for their office.",
    "Unhappy with the last delivery time; check in after the next order.",
    "Prefers phone calls in the morning; interested in {interest}.",
    "Renewal talk went well; send the {interest} catalogue.",
)


Action = Literal[
    "register", "assign_manager", "place_order", "ship_order", "deliver_order", "cancel_order", "issue_invoice",
    "pay_invoice", "return_order", "open_ticket", "transfer_ticket", "escalate_ticket", "answer_ticket",
    "resolve_ticket", "send_survey", "answer_survey", "write_note", "complete_follow_up",
]


@dataclass(frozen=True, slots=True, order=True)
class Step:
    """One thing that happens to a customer at a simulated moment (``ref`` names the order, ticket or survey)."""

    at: datetime
    rank: int
    """Tie-breaker for steps at the same moment: the order of ``ACTIONS`` (an order is placed before shipped)."""
    action: Action = field(compare=False)
    ref: str = field(compare=False)
    n: int = field(default=0, compare=False)
    """Which transfer, for ``transfer_ticket``."""


ACTIONS: Final[tuple[Action, ...]] = (
    "register", "assign_manager", "place_order", "ship_order", "deliver_order", "cancel_order", "issue_invoice",
    "pay_invoice", "return_order", "open_ticket", "transfer_ticket", "escalate_ticket", "answer_ticket",
    "resolve_ticket", "send_survey", "answer_survey", "write_note", "complete_follow_up",
)
INVOICE_DELAY: Final = timedelta(hours=2)
MANAGER_DELAY: Final = timedelta(minutes=30)


def _step(at: datetime, action: Action, ref: str, n: int = 0) -> Step:
    return Step(at, ACTIONS.index(action), action, ref, n)


@dataclass(frozen=True, slots=True)
class CustomerPlan:
    key: str
    index: int
    name: str
    email: str
    phone: str
    birth_date: date
    acquisition_channel: AcquisitionChannel
    acquisition_cost: Decimal
    relationship_type: RelationshipType
    persona: Persona
    joined_month: int
    registered_at: datetime
    consents: dict[str, bool]
    interests: tuple[str, ...]
    account_manager: str | None
    orders: tuple[OrderPlan, ...] = ()
    tickets: tuple[TicketPlan, ...] = ()
    surveys: tuple[SurveyPlan, ...] = ()
    notes: tuple[NotePlan, ...] = ()

    def steps(self) -> list[Step]:
        """Everything that happens to this customer, in simulated-time order (the order it is replayed in)."""
        found = [_step(self.registered_at, "register", self.key)]
        if self.account_manager:
            found.append(_step(self.registered_at + MANAGER_DELAY, "assign_manager", self.key))
        for o in self.orders:
            found.append(_step(o.placed_at, "place_order", o.key))
            for action, moment in (("ship_order", o.shipped_at), ("deliver_order", o.delivered_at),
                                   ("cancel_order", o.cancelled_at), ("issue_invoice", o.invoiced_at),
                                   ("pay_invoice", o.paid_at), ("return_order", o.returned_at)):
                if moment is not None:
                    found.append(_step(moment, cast(Action, action), o.key))
        for t in self.tickets:
            found.append(_step(t.opened_at, "open_ticket", t.key))
            found.extend(_step(moment, "transfer_ticket", t.key, n) for n, moment in enumerate(t.transferred_at))
            for action, moment in (("escalate_ticket", t.escalated_at), ("answer_ticket", t.answered_at),
                                   ("resolve_ticket", t.resolved_at)):
                if moment is not None:
                    found.append(_step(moment, cast(Action, action), t.key))
        for s in self.surveys:
            found.append(_step(s.sent_at, "send_survey", s.key))
            if s.answered_at is not None:
                found.append(_step(s.answered_at, "answer_survey", s.key))
        for n in self.notes:
            found.append(_step(n.written_at, "write_note", n.key))
            if n.follow_up_done_at is not None:
                found.append(_step(n.follow_up_done_at, "complete_follow_up", n.key))
        return sorted(found)


@dataclass(frozen=True, slots=True)
class PopulationPlan:
    seed: int
    months: int
    start: date
    now: datetime
    """The simulated present: the plan's last month is the one ``now`` falls in, and nothing happens after it."""
    customers: tuple[CustomerPlan, ...] = field(default_factory=tuple)

    def operations(self) -> int:
        """How many steps loading the plan replays (the progress bar counts them; a step is a call or two)."""
        return sum(len(c.steps()) for c in self.customers)

    def nps_categories(self) -> Counter[str]:
        """How the planned (answered) NPS answers split into promoters, passives and detractors."""
        return Counter(nps_category(s.score) for c in self.customers for s in c.surveys
                       if s.kind == "nps" and s.answered_at is not None)


def nps_category(score: int) -> str:
    """Seed 001: 9-10 promoter, 7-8 passive, 0-6 detractor."""
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


T = TypeVar("T")


def _weighted(rng: random.Random, weights: dict[T, int]) -> T:
    return rng.choices(list(weights), weights=list(weights.values()), k=1)[0]


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means used here, and reproducible with the seeded rng.
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _month_start(start: date, month: int) -> date:
    year, index = divmod(start.month - 1 + month, 12)
    return date(start.year + year, index + 1, 1)


class _Calendar:
    """Turns the plan's months into moments, and knows the present (nothing happens after ``now``)."""

    def __init__(self, start: date, months: int, now: datetime) -> None:
        self.start, self.months, self.now = start, months, now

    def month_bounds(self, month: int) -> tuple[datetime, datetime]:
        begin = datetime.combine(_month_start(self.start, month), time(0), UTC)
        end = datetime.combine(_month_start(self.start, month + 1), time(0), UTC)
        return begin, min(end, self.now)

    def moment_in(self, rng: random.Random, month: int, *, not_before: datetime | None = None) -> datetime:
        """A daytime moment in ``month`` (after ``not_before``); past ``now`` only when the month has no room.

        Always the same four draws, so what follows in the plan does not depend on the present.
        """
        share, hour, minute, second = rng.random(), rng.randint(8, 20), rng.randrange(60), rng.randrange(60)
        begin, end = self.month_bounds(month)
        if not_before is not None and not_before > begin:
            begin = not_before
        if begin >= end:
            return begin
        day = begin + timedelta(seconds=share * (end - begin).total_seconds())
        moment = day.replace(hour=hour, minute=minute, second=second, microsecond=0)
        return moment if begin <= moment < end else day

    def happened(self, moment: datetime) -> datetime | None:
        """``moment`` if it is in the simulated past, else ``None`` (it has not happened yet)."""
        return moment if moment < self.now else None


def _later(rng: random.Random, low_hours: float, high_hours: float) -> timedelta:
    return timedelta(seconds=round(rng.uniform(low_hours, high_hours) * 3600))


def build_plan(*, seed: int, customers: int, months: int, now: datetime | None = None) -> PopulationPlan:
    """The population for ``seed``: ``customers`` people over the ``months`` that end with ``now``.

    ``now`` (default: the real present) is the last moment of simulated history: the plan's last
    month is the month it falls in, and whatever would happen after it (a parcel still on its way,
    a payment not yet due) has not happened. The random draws do not depend on ``now``, so the same
    seed gives the same people, orders and tickets whatever day the demo is loaded.
    """
    if customers < 1 or months < 1:
        raise ValueError("customers and months must be at least 1")
    present = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(seed)
    start = _month_start(present.date().replace(day=1), -(months - 1))
    calendar = _Calendar(start, months, present)
    people = tuple(_customer(rng, seed, index, calendar) for index in range(customers))
    return PopulationPlan(seed=seed, months=months, start=start, now=present, customers=people)


def _joined_month(rng: random.Random, persona: Persona, months: int) -> int:
    if persona == "churner":
        # Churners leave months before today, so the history shows them buying, then going quiet.
        return rng.randrange(max(1, months // 3))
    return 0 if rng.random() < 0.55 else rng.randrange(months)


def _customer(rng: random.Random, seed: int, index: int, calendar: _Calendar) -> CustomerPlan:
    months = calendar.months
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    channel = _weighted(rng, CHANNEL_WEIGHTS)
    relationship = _weighted(rng, RELATIONSHIP_WEIGHTS)
    persona: Persona = "vip" if relationship == "dedicated_assistance" else _weighted(rng, PERSONA_WEIGHTS)
    low, high = ACQUISITION_COST[channel]
    joined = _joined_month(rng, persona, months)
    key = f"s{seed}-c{index:05d}"
    email_name = f"{_ascii(first)}.{_ascii(last)}".lower()
    begin, end = calendar.month_bounds(joined)
    # Registered in the first part of the month they joined, so their first order can follow it.
    registered = calendar.moment_in(rng, joined)
    registered = min(registered, begin + (end - begin) * 0.6)
    plan = CustomerPlan(
        key=key,
        index=index,
        name=f"{first} {last}",
        email=f"{email_name}.{index}.s{seed}@demo.example",
        phone=f"+9053{seed % 10}{index:07d}",  # Turkcell mobile range: a valid number
        birth_date=date(1950 + rng.randrange(55), rng.randrange(1, 13), rng.randrange(1, 29)),
        acquisition_channel=channel,
        acquisition_cost=Decimal(rng.randint(low, high)).quantize(Decimal("0.01")),
        relationship_type=relationship,
        persona=persona,
        joined_month=joined,
        registered_at=registered,
        consents={"email": rng.random() < 0.85, "sms": rng.random() < 0.5, "push": rng.random() < 0.35,
                  "phone": rng.random() < 0.2},
        interests=tuple(sorted(rng.sample(INTERESTS, rng.randint(1, 3)))),
        account_manager=rng.choice(ACCOUNT_MANAGERS) if relationship in ("dedicated_assistance",
                                                                         "personal_assistance") else None,
    )
    orders = _orders(rng, plan, calendar)
    tickets = _tickets(rng, plan, calendar, orders)
    surveys = _surveys(rng, plan, calendar, orders, tickets)
    return replace(plan, orders=orders, tickets=tickets, surveys=surveys, notes=_notes(seed, plan, calendar))


def _notes(seed: int, plan: CustomerPlan, calendar: _Calendar) -> tuple[NotePlan, ...]:
    """One to three notes on a customer with an account manager, the newest with a follow-up still ahead.

    Drawn from a generator of their own (seeded by the customer), so adding notes left every other draw
    of the plan as it was. Older follow-ups were mostly done a little after they fell due.
    """
    if plan.account_manager is None:
        return ()
    rng = random.Random(f"notes-{seed}-{plan.index}")
    after = plan.registered_at + MANAGER_DELAY + timedelta(hours=1)
    if after >= calendar.now:
        return ()
    notes = []
    for n in range(rng.randint(1, 3)):
        span = (calendar.now - after).total_seconds()
        written = (after + timedelta(seconds=rng.random() * span)).replace(microsecond=0)
        text = rng.choice(NOTE_TEXTS).format(interest=rng.choice(plan.interests))
        due = (written + timedelta(days=rng.randint(3, 40))).replace(hour=9, minute=0, second=0)
        done = due + _later(rng, 1, 30) if rng.random() < 0.6 else None
        notes.append(NotePlan(key=f"{plan.key}-n{n}", written_at=written, text=text, follow_up_due=due,
                              follow_up_done_at=calendar.happened(done) if done is not None else None))
    notes.sort(key=lambda note: note.written_at)
    newest = notes[-1]
    if newest.follow_up_due is not None and newest.follow_up_due <= calendar.now:
        # The manager's work ahead: the newest note's follow-up falls due in the coming days.
        ahead = (calendar.now + timedelta(days=1 + plan.index % 14)).replace(hour=9, minute=0, second=0, microsecond=0)
        notes[-1] = replace(newest, follow_up_due=ahead, follow_up_done_at=None)
    return tuple(notes)


def _ascii(text: str) -> str:
    # Accents decompose under NFKD; the dotless i does not, so it is mapped by hand.
    plain = unicodedata.normalize("NFKD", text.replace("\u0131", "i"))
    return "".join(ch for ch in plain if ch.isascii() and ch.isalnum())


def _active_months(plan: CustomerPlan, months: int) -> range:
    """The months a customer still buys in (a churner stops two months after joining)."""
    if plan.persona == "churner":
        return range(plan.joined_month, min(months, plan.joined_month + 2))
    return range(plan.joined_month, months)


def _orders(rng: random.Random, plan: CustomerPlan, calendar: _Calendar) -> tuple[OrderPlan, ...]:
    orders: list[OrderPlan] = []
    for month in _active_months(plan, calendar.months):
        count = _poisson(rng, ORDERS_PER_MONTH[plan.persona])
        if month == plan.joined_month and count == 0 and plan.persona != "occasional":
            count = 1  # people register when they buy
        moments = sorted(calendar.moment_in(rng, month, not_before=plan.registered_at + timedelta(minutes=5))
                         for _ in range(count))
        for moment in moments:
            order = _order(rng, plan, month, calendar, moment, len(orders))
            if calendar.happened(moment):
                orders.append(order)
    return tuple(orders)


def _order(
    rng: random.Random, plan: CustomerPlan, month: int, calendar: _Calendar, placed: datetime, n: int
) -> OrderPlan:
    affordable: list[Product] = [p for p in PRODUCTS if plan.persona == "vip" or p.price < Decimal("2500")]
    if plan.persona == "deal_seeker":
        affordable = [p for p in affordable if p.price < Decimal("300")]
    picked = rng.sample(affordable, rng.randint(1, 3))
    lines = tuple(Line(p.sku, p.name, p.category, rng.randint(1, 2), p.price, p.cost) for p in picked)
    return_rate = 0.2 if plan.persona in ("complainer", "deal_seeker") else 0.07
    roll = rng.random()
    intended: OrderFate = "cancelled" if roll < 0.04 else "returned" if rng.random() < return_rate else "delivered"
    if plan.persona == "late_payer":
        payment = cast(PaymentBehaviour, rng.choices(["on_time", "late", "overdue"], weights=[30, 45, 25])[0])
    else:
        payment = cast(PaymentBehaviour,
                       rng.choices(["on_time", "late", "overdue", "partial"], weights=[88, 7, 3, 2])[0])
    due_days = 14 if payment == "on_time" else rng.choice((7, 10, 14))
    # The story's moments, drawn whatever the present is (so the draws never depend on the day).
    cancel_after, ship_after, deliver_after = _later(rng, 1, 20), _later(rng, 6, 48), _later(rng, 20, 96)
    pay_after = (timedelta(days=rng.randint(0, due_days - 1)) + _later(rng, 1, 10) if payment in ("on_time", "partial")
                 else timedelta(days=due_days + rng.randint(3, 40)) + _later(rng, 1, 10))
    return_after = timedelta(days=rng.randint(2, 25)) + _later(rng, 1, 10)

    happened = calendar.happened
    order = OrderPlan(key=f"{plan.key}-o{n:03d}", month=month, lines=lines,
                      channel=rng.choice(("web", "web", "mobile", "store", "phone")), fate="placed",
                      payment=payment, method=rng.choice(PAYMENT_METHODS), due_days=due_days, placed_at=placed)
    if intended == "cancelled":
        cancelled = happened(placed + cancel_after)
        return replace(order, cancelled_at=cancelled, fate="cancelled" if cancelled else "placed")
    shipped = happened(placed + ship_after)
    if shipped is None:
        return order
    delivered = happened(shipped + deliver_after)
    if delivered is None:
        return replace(order, shipped_at=shipped, fate="shipped")
    invoiced = happened(delivered + INVOICE_DELAY)
    paid = None if payment == "overdue" or invoiced is None else happened(invoiced + pay_after)
    returned = happened(delivered + return_after) if intended == "returned" else None
    return replace(order, shipped_at=shipped, delivered_at=delivered, invoiced_at=invoiced, paid_at=paid,
                   returned_at=returned, fate="returned" if returned else "delivered")


def _tickets(
    rng: random.Random, plan: CustomerPlan, calendar: _Calendar, orders: tuple[OrderPlan, ...]
) -> tuple[TicketPlan, ...]:
    tickets: list[TicketPlan] = []
    active = _active_months(plan, calendar.months)
    for n in range(_poisson(rng, TICKETS_PER_CUSTOMER[plan.persona])):
        kind = cast(TicketKind, rng.choices(["complaint", "question", "request", "incident"],
                                            weights=[70 if plan.persona == "complainer" else 40, 35, 15, 10])[0])
        month = rng.choice(active)
        subject, category, cause = rng.choice(TICKET_SUBJECTS[kind])
        transfers = tuple(rng.sample(AGENTS, k=rng.choices([0, 1, 2], weights=[75, 20, 5])[0]))
        priority = rng.choices(["low", "normal", "high", "urgent"], weights=[15, 50, 25, 10])[0]
        opened = calendar.moment_in(rng, month, not_before=plan.registered_at + timedelta(hours=1))
        # Transfers within hours; a slow first answer (some breach their SLA) and a resolution days later.
        moments, at = [], opened
        for _ in transfers:
            at += _later(rng, 0.2, 6)
            moments.append(at)
        escalate = kind == "complaint" and priority in ("high", "urgent") and rng.random() < 0.35
        escalated = at + _later(rng, 1, 12) if escalate else None
        # Most answers and resolutions land inside the default SLA targets; some do not.
        answered = (escalated or at) + (_later(rng, 0.25, 3) if rng.random() < 0.8 else _later(rng, 6, 48))
        unanswered = rng.random() < 0.08
        resolved = answered + (_later(rng, 1, 20) if rng.random() < 0.8 else _later(rng, 30, 24 * 6))
        unresolved = rng.random() < 0.1
        happened = calendar.happened
        answered_at = None if unanswered else happened(answered)
        channel = rng.choice(("phone", "email", "web", "chat", "social", "store"))
        agent = None if rng.random() < 0.15 else rng.choice(AGENTS)
        if not happened(opened):
            continue
        tickets.append(TicketPlan(
            key=f"{plan.key}-t{n:02d}",
            month=month,
            kind=kind,
            channel=channel,
            priority=priority,
            subject=subject,
            category=category,
            root_cause=cause or "other",
            agent=agent,
            transfers=transfers,
            opened_at=opened,
            transferred_at=tuple(m for m in moments if happened(m)),
            escalated_at=happened(escalated) if escalated else None,
            answered_at=answered_at,
            resolved_at=happened(resolved) if answered_at and not unresolved else None,
        ))
    return tuple(sorted(tickets, key=lambda t: (t.opened_at, t.key)))


def _surveys(
    rng: random.Random, plan: CustomerPlan, calendar: _Calendar, orders: tuple[OrderPlan, ...],
    tickets: tuple[TicketPlan, ...],
) -> tuple[SurveyPlan, ...]:
    """NPS a few days after some deliveries, CSAT after resolved tickets, a win-back NPS for churners."""
    surveys: list[SurveyPlan] = []
    promoters, passives, _ = NPS_MIX[plan.persona]
    happened = calendar.happened
    for order in orders:
        # Every draw is made whether or not the survey happens by ``now``: the plan stays the same
        # for the rest of the population whatever the present is.
        wanted, roll = rng.random() < 0.4, rng.randrange(100)
        score = rng.randint(9, 10) if roll < promoters else rng.randint(7, 8) if roll < promoters + passives \
            else rng.randint(0, 6)
        comment = {"promoter": "Great service, will buy again.", "passive": "Fine, nothing special.",
                   "detractor": "Too many problems lately."}[nps_category(score)] if rng.random() < 0.5 else None
        send_after = timedelta(days=rng.randint(2, 6)) + _later(rng, 0, 8)
        answer_after = _later(rng, 1, 24 * 4)
        if wanted and order.delivered_at is not None and happened(order.delivered_at + send_after):
            sent = order.delivered_at + send_after
            surveys.append(SurveyPlan(f"{order.key}-nps", "nps", score, comment, sent, happened(sent + answer_after)))
    for ticket in tickets:
        wanted = rng.random() < 0.4
        score = rng.randint(1, 3) if ticket.transfers or plan.persona == "complainer" else rng.randint(3, 5)
        send_after, answer_after = _later(rng, 1, 24), _later(rng, 1, 24 * 3)
        if wanted and ticket.resolved_at is not None and happened(ticket.resolved_at + send_after):
            sent = ticket.resolved_at + send_after
            surveys.append(SurveyPlan(f"{ticket.key}-csat", "csat", score, None, sent, happened(sent + answer_after),
                                      ticket_key=ticket.key))
    if plan.persona == "churner":
        # Nobody answers: the survey only shows the company noticed too late (and lets the 360
        # re-evaluate the quiet customer at that moment, so dissolution is dated in the history).
        so_far = replace(plan, orders=orders, tickets=tickets, surveys=tuple(surveys)).steps()
        quiet_since = max(step.at for step in so_far)
        sent = quiet_since + timedelta(days=rng.randint(70, 100)) + _later(rng, 0, 8)
        if happened(sent):
            surveys.append(SurveyPlan(f"{plan.key}-winback", "nps", 0, None, sent, None))
    return tuple(sorted(surveys, key=lambda s: (s.sent_at, s.key)))
