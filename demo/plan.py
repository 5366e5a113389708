"""The demo's population plan: who the customers are and what happens to them, month by month.

Pure and deterministic: ``build_plan(seed=..., customers=..., months=...)`` draws everything from one
``random.Random(seed)``, so the same seed always gives the same plan (and therefore the same
idempotency keys, which is what makes a re-run after a crash create nothing twice). Nothing here
does I/O; ``demo.runner`` turns the plan into HTTP calls.

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
from datetime import date, timedelta
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
    key: str
    month: int
    lines: tuple[Line, ...]
    channel: str
    fate: OrderFate
    payment: PaymentBehaviour
    method: str
    due_days: int
    """Days after the simulated order date the invoice falls due (in the past for late payers)."""
    order_day: date

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
    answered: bool
    """Whether an agent replies publicly (the first response stops that SLA clock)."""
    resolved: bool


@dataclass(frozen=True, slots=True)
class SurveyPlan:
    key: str
    month: int
    kind: Literal["nps", "csat"]
    score: int
    comment: str | None


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
    consents: dict[str, bool]
    interests: tuple[str, ...]
    account_manager: str | None
    orders: tuple[OrderPlan, ...] = ()
    tickets: tuple[TicketPlan, ...] = ()
    surveys: tuple[SurveyPlan, ...] = ()


@dataclass(frozen=True, slots=True)
class PopulationPlan:
    seed: int
    months: int
    start: date
    customers: tuple[CustomerPlan, ...] = field(default_factory=tuple)

    def operations(self) -> int:
        """Roughly how many HTTP calls loading the plan takes (for the progress bar)."""
        total = 0
        for c in self.customers:
            total += 1 + (1 if c.account_manager else 0)
            for o in c.orders:
                total += {"placed": 1, "shipped": 2, "cancelled": 2, "delivered": 5, "returned": 6}[o.fate]
            for t in c.tickets:
                total += 1 + len(t.transfers) + (1 if t.answered else 0) + (1 if t.resolved else 0)
            total += 2 * len(c.surveys)
        return total

    def nps_categories(self) -> Counter[str]:
        """How the planned NPS answers split into promoters, passives and detractors."""
        return Counter(nps_category(s.score) for c in self.customers for s in c.surveys if s.kind == "nps")


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


def build_plan(*, seed: int, customers: int, months: int, today: date | None = None) -> PopulationPlan:
    """The population for ``seed``: ``customers`` people over the last ``months`` simulated months."""
    if customers < 1 or months < 1:
        raise ValueError("customers and months must be at least 1")
    rng = random.Random(seed)
    end = today or date(2026, 6, 1)
    start = _month_start(date(end.year, end.month, 1), -(months - 1))
    people = tuple(_customer(rng, seed, index, months, start) for index in range(customers))
    return PopulationPlan(seed=seed, months=months, start=start, customers=people)


def _customer(rng: random.Random, seed: int, index: int, months: int, start: date) -> CustomerPlan:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    channel = _weighted(rng, CHANNEL_WEIGHTS)
    relationship = _weighted(rng, RELATIONSHIP_WEIGHTS)
    persona: Persona = "vip" if relationship == "dedicated_assistance" else _weighted(rng, PERSONA_WEIGHTS)
    low, high = ACQUISITION_COST[channel]
    joined = 0 if rng.random() < 0.55 else rng.randrange(months)
    key = f"s{seed}-c{index:05d}"
    email_name = f"{_ascii(first)}.{_ascii(last)}".lower()
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
        consents={"email": rng.random() < 0.85, "sms": rng.random() < 0.5, "push": rng.random() < 0.35,
                  "phone": rng.random() < 0.2},
        interests=tuple(sorted(rng.sample(INTERESTS, rng.randint(1, 3)))),
        account_manager=rng.choice(ACCOUNT_MANAGERS) if relationship in ("dedicated_assistance",
                                                                         "personal_assistance") else None,
    )
    orders = _orders(rng, plan, months, start)
    tickets = _tickets(rng, plan, months, orders)
    surveys = _surveys(rng, plan, months, orders, tickets)
    return replace(plan, orders=orders, tickets=tickets, surveys=surveys)


def _ascii(text: str) -> str:
    # Accents decompose under NFKD; the dotless i does not, so it is mapped by hand.
    plain = unicodedata.normalize("NFKD", text.replace("\u0131", "i"))
    return "".join(ch for ch in plain if ch.isascii() and ch.isalnum())


def _orders(rng: random.Random, plan: CustomerPlan, months: int, start: date) -> tuple[OrderPlan, ...]:
    orders: list[OrderPlan] = []
    for month in range(plan.joined_month, months):
        if plan.persona == "churner" and month >= plan.joined_month + 2:
            break
        count = _poisson(rng, ORDERS_PER_MONTH[plan.persona])
        if month == plan.joined_month and count == 0 and plan.persona != "occasional":
            count = 1  # people register when they buy
        for _ in range(count):
            orders.append(_order(rng, plan, month, months, start, len(orders)))
    return tuple(orders)


def _order(rng: random.Random, plan: CustomerPlan, month: int, months: int, start: date, n: int) -> OrderPlan:
    affordable: list[Product] = [p for p in PRODUCTS if plan.persona == "vip" or p.price < Decimal("2500")]
    if plan.persona == "deal_seeker":
        affordable = [p for p in affordable if p.price < Decimal("300")]
    picked = rng.sample(affordable, rng.randint(1, 3))
    lines = tuple(Line(p.sku, p.name, p.category, rng.randint(1, 2), p.price, p.cost) for p in picked)
    recent = month == months - 1
    roll = rng.random()
    return_rate = 0.2 if plan.persona in ("complainer", "deal_seeker") else 0.07
    if recent and roll < 0.45:
        fate: OrderFate = "placed" if roll < 0.2 else "shipped"
    elif roll < 0.04 + (0.45 if recent else 0):
        fate = "cancelled"
    elif rng.random() < return_rate:
        fate = "returned"
    else:
        fate = "delivered"
    if plan.persona == "late_payer":
        payment = cast(PaymentBehaviour, rng.choices(["on_time", "late", "overdue"], weights=[30, 45, 25])[0])
    else:
        payment = cast(PaymentBehaviour,
                       rng.choices(["on_time", "late", "overdue", "partial"], weights=[88, 7, 3, 2])[0])
    day = _month_start(start, month) + timedelta(days=rng.randrange(28))
    return OrderPlan(
        key=f"{plan.key}-o{n:03d}",
        month=month,
        lines=lines,
        channel=rng.choice(("web", "web", "mobile", "store", "phone")),
        fate=fate,
        payment=payment,
        method=rng.choice(PAYMENT_METHODS),
        due_days=14 if payment == "on_time" else rng.choice((7, 10, 14)),
        order_day=day,
    )


def _tickets(
    rng: random.Random, plan: CustomerPlan, months: int, orders: tuple[OrderPlan, ...]
) -> tuple[TicketPlan, ...]:
    tickets: list[TicketPlan] = []
    for n in range(_poisson(rng, TICKETS_PER_CUSTOMER[plan.persona])):
        kind = cast(TicketKind, rng.choices(["complaint", "question", "request", "incident"],
                                            weights=[70 if plan.persona == "complainer" else 40, 35, 15, 10])[0])
        month = rng.randrange(plan.joined_month, months)
        subject, category, cause = rng.choice(TICKET_SUBJECTS[kind])
        recent = month == months - 1
        transfers = tuple(rng.sample(AGENTS, k=rng.choices([0, 1, 2], weights=[75, 20, 5])[0]))
        priority = rng.choices(["low", "normal", "high", "urgent"], weights=[15, 50, 25, 10])[0]
        answered = not recent or rng.random() < 0.5
        tickets.append(TicketPlan(
            key=f"{plan.key}-t{n:02d}",
            month=month,
            kind=kind,
            channel=rng.choice(("phone", "email", "web", "chat", "social", "store")),
            priority=priority,
            subject=subject,
            category=category,
            root_cause=cause or "other",
            agent=None if rng.random() < 0.15 else rng.choice(AGENTS),
            transfers=transfers,
            answered=answered,
            resolved=answered and (not recent or rng.random() < 0.3),
        ))
    return tuple(sorted(tickets, key=lambda t: (t.month, t.key)))


def _surveys(
    rng: random.Random, plan: CustomerPlan, months: int, orders: tuple[OrderPlan, ...],
    tickets: tuple[TicketPlan, ...],
) -> tuple[SurveyPlan, ...]:
    surveys: list[SurveyPlan] = []
    if orders and rng.random() < 0.6:
        promoters, passives, _ = NPS_MIX[plan.persona]
        roll = rng.randrange(100)
        score = rng.randint(9, 10) if roll < promoters else rng.randint(7, 8) if roll < promoters + passives \
            else rng.randint(0, 6)
        comment = {"promoter": "Great service, will buy again.", "passive": "Fine, nothing special.",
                   "detractor": "Too many problems lately."}[nps_category(score)] if rng.random() < 0.5 else None
        month = min(months - 1, orders[0].month + 1)
        surveys.append(SurveyPlan(f"{plan.key}-nps", month, "nps", score, comment))
    for ticket in tickets:
        if ticket.resolved and rng.random() < 0.4:
            score = rng.randint(1, 3) if ticket.transfers or plan.persona == "complainer" else rng.randint(3, 5)
            surveys.append(SurveyPlan(f"{ticket.key}-csat", ticket.month, "csat", score, None))
    return tuple(surveys)
