"""The customer fold: every domain event of one customer, folded into the state behind the 360 view.

Why a sorted fold: one customer's events reach analytics on three topics (customer, ticketing,
campaigns) with no order between them; a survey answer may arrive before the registration. The
state is defined as the fold of the customer's facts sorted by ``(event time, event id)``, so it
does not depend on arrival order. ``project`` keeps that cheap: a fact that sorts after everything
already folded is applied incrementally (the common case); one that sorts earlier makes it refold
the customer's stored history, giving exactly what in-order arrival would have given.

Traits (segments, lifecycle stage, churn band, value tier) are evaluated after every fact *at that
fact's time*, so "since when" and the provenance are deterministic: a rebuild or a time-travel
query computes the same answers as the live projection. Time-based rules (inactivity, dissolution)
need a clock; ``evaluate`` re-evaluates at any ``now`` (the sweep, ``as_of``).

The state is a plain JSON-ready dict (money as strings, times as RFC 3339) because it is stored as
JSONB and loaded/written in bulk; this module is the only code that writes its inside. The 360
document that shows it (``application/views.py``) reads it, and is presentation, so it lives outside
``domain/``.
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from services.analytics.domain import formulas as f
from services.analytics.domain.rules import AnalyticsRules

State = dict[str, Any]
ENCRYPTED_PREFIX = "enc:v1:"
PERSONAL_PROFILE_FIELDS = ("name", "email", "phone", "birth_date", "address")
PROFILE_UPDATABLE = (*PERSONAL_PROFILE_FIELDS, "timezone", "relationship_type", "interests")
OPEN_TICKET_STATUSES = ("open", "in_progress", "waiting_customer", "reopened")
SUSPICIOUS_REDEMPTIONS = ("wrong_customer", "already_redeemed")
ACTIVITY = frozenset(
    {
        "CustomerRegistered",
        "CustomerProfileUpdated",
        "ContactPreferencesChanged",
        "OrderPlaced",
        "OrderReturned",
        "PaymentReceived",
        "TicketOpened",
        "ComplaintFiled",
        "CustomerContacted",
        "SurveyAnswered",
        "OfferRedeemed",
    }
)
"""Event types that show the customer is engaged (inactivity is measured from the last of them).

A ``ContactPreferencesChanged`` counts only when the person changed it: one with ``because`` set
(``merge`` or ``unmerge``) is the customer service narrowing or restoring consent on its own, and
must not make a lapsed customer look active (see ``is_activity``)."""


def is_activity(fact: Fact) -> bool:
    """Whether ``fact`` shows the customer engaged: recency, lifecycle and churn are measured from it."""
    if fact.event_type not in ACTIVITY:
        return False
    return fact.event_type != "ContactPreferencesChanged" or fact.data.get("because") is None

TRAIT_DRIVERS: dict[str, tuple[str, ...]] = {
    "high_value": ("orders", "profile"),
    "loyal": ("orders",),
    "at_risk": ("complaints", "surveys", "payments", "tickets", "orders"),
    "loss_making": ("orders", "profile"),
    "serial_complainer": ("complaints",),
    "late_payer": ("payments",),
    "deal_seeker": ("orders", "offers"),
    "fraud_flagged": ("fraud",),
    "lifecycle": ("orders", "profile", "fraud"),
    "churn": ("complaints", "surveys", "payments", "tickets", "orders"),
    "tier": ("orders", "profile"),
}
"""Which kinds of facts drive each trait: its provenance lists their most recent event ids."""


TIME_CACHE_SIZE = 8192
"""Entries of each time-string cache below (``iso``, ``parse_iso``): about 2 MiB each when full.

A batch formats and parses the same instants many times over, so a small cache keeps nearly every
hit (measured on 36,000 events: 75% of ``iso`` and 88% of ``parse_iso`` calls hit with 8,192 entries,
75% and 89% with 65,536), while almost every instant is new to the process: 65,536 entries took
~30 MiB and ~75,000 events to fill, which looked like a leak in the soak's memory figures."""


@lru_cache(maxsize=TIME_CACHE_SIZE)
def iso(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds; fixed width, so strings sort like the instants they name."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@lru_cache(maxsize=TIME_CACHE_SIZE)
def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _dec(value: Any) -> Decimal:
    if type(value) is str:
        return _decimal(value)
    return Decimal(str(value)) if value is not None else Decimal(0)


@lru_cache(maxsize=TIME_CACHE_SIZE)
def _decimal(text: str) -> Decimal:
    """A money string of the state as a Decimal (cached: every evaluation reads the same few totals)."""
    return Decimal(text)


def _money(value: Decimal) -> str:
    return f"{f.money(value):.2f}"


def amount(value: Any) -> Decimal:
    """A money value of the state (a string, or absent for nothing) as a Decimal, as the fold reads it."""
    return _dec(value)


def money_text(value: Decimal) -> str:
    """Money as the state and the 360 document write it: rounded to the cent, two decimals."""
    return _money(value)


def _when(data: Mapping[str, Any], name: str, fallback: str) -> str:
    """A time field of the event data normalised to our format, else the envelope time."""
    value = data.get(name)
    if isinstance(value, str) and value:
        try:
            return iso(parse_iso(value))
        except ValueError:
            return fallback
    return fallback


def _days(later: str, earlier: str) -> int:
    return max((parse_iso(later) - parse_iso(earlier)).days, 0)


def _days_since(moment: datetime, earlier: str) -> int:
    return max((moment - parse_iso(earlier)).days, 0)


@dataclass(frozen=True, slots=True)
class Fact:
    """One domain event as analytics keeps it: id, type, envelope time, data, original subject."""

    event_id: str
    event_type: str
    at: datetime
    data: Mapping[str, Any]
    origin: str
    """The customer the event was published for (differs from the owner after a merge)."""

    @property
    def sort_key(self) -> tuple[str, str]:
        return iso(self.at), self.event_id


# --- the state -----------------------------------------------------------------------------------


def empty_state(customer_id: str) -> State:
    """The state of a customer analytics has seen nothing about yet."""
    return {
        "customer_id": customer_id,
        "status": "unknown",
        "registered": False,
        "profile": {
            "name": None,
            "email": None,
            "phone": None,
            "birth_date": None,
            "address": None,
            "timezone": None,
            "relationship_type": None,
            "account_manager": None,
            "acquisition_channel": None,
            "acquisition_cost": None,
            "referred_by": None,
            "consents": {"email": False, "sms": False, "push": False, "phone": False},
            "interests": [],
            "customer_since": None,
        },
        "merged_ids": [],
        "orders": {},
        "n_orders": 0,
        "n_offer_orders": 0,
        "n_returns": 0,
        "spent": "0.00",
        "margin_known": "0.00",
        "revenue_without_cost": "0.00",
        "categories": {},
        "invoices": {},
        "methods": {},
        "overdue_total": 0,
        "overdue_open": 0,
        "days_late_sum": 0,
        "payments_count": 0,
        "days_to_pay_sum": 0,
        "settled_invoices": 0,
        "tickets": {},
        "complaints": {},
        "complaint_times": [],
        "breach_times": [],
        "transfers": 0,
        "resolution_seconds_sum": 0,
        "resolved_count": 0,
        "nps": None,
        "csat_sum": 0,
        "csat_count": 0,
        "survey_count": 0,
        "offers_received": 0,
        "offers_redeemed": 0,
        "last_offer": None,
        "last_suppressed_at": None,
        "fraud_signals": 0,
        "first_at": None,
        "last_event_at": None,
        "last_activity_at": None,
        "last_order_at": None,
        "event_count": 0,
        "key": None,
        "why": {},
        "traits": {"segments": {}, "lifecycle": None, "churn": None, "tier": None, "dissolutions": []},
    }


def project(
    state: State | None,
    customer_id: str,
    new: Sequence[Fact],
    history: Callable[[], Iterable[Fact]],
    rules: AnalyticsRules,
    *,
    in_place: bool = False,
) -> State:
    """Fold newly received facts into the state, refolding from ``history`` when one arrives late.

    ``history`` returns every fact of the customer already folded (the adapter reads the timeline);
    it is only called when needed. Facts are assumed new (the inbox and the timeline's primary key
    deduplicate before this point). ``in_place`` skips copying a state the caller owns (the projector
    loads a fresh one from the database per batch).
    """
    ordered = sorted(new, key=lambda fact: fact.sort_key)
    if not ordered:
        return state if state is not None else empty_state(customer_id)
    if state is not None and state["key"] is not None and ordered[0].sort_key <= tuple(state["key"]):
        merged = {fact.event_id: fact for fact in history()}
        merged.update((fact.event_id, fact) for fact in ordered)
        return fold(customer_id, merged.values(), rules)
    if state is None:
        state = empty_state(customer_id)
    elif not in_place:
        state = copy_state(state)
    _apply_all(state, ordered, rules)
    return state


def fold(customer_id: str, facts: Iterable[Fact], rules: AnalyticsRules) -> State:
    """The state from nothing: every fact in ``(time, id)`` order."""
    state = empty_state(customer_id)
    _apply_all(state, sorted(facts, key=lambda fact: fact.sort_key), rules)
    return state


def _apply_all(state: State, ordered: Sequence[Fact], rules: AnalyticsRules) -> None:
    """Apply facts in order; only the last one's evaluation is settled (the others only record changes)."""
    last = len(ordered) - 1
    for index, fact in enumerate(ordered):
        apply(state, fact, rules, settle=index == last)


def apply(state: State, fact: Fact, rules: AnalyticsRules, *, settle: bool = True) -> State:
    """Apply one fact (in place, returning the state) and re-evaluate the traits at its time.

    ``settle=False`` is for a fact that another one follows in the same fold: its evaluation only
    records what changed (see ``evaluate``); the caller settles the last fact.
    """
    at = iso(fact.at)
    _dissolve_if_inactive_before(state, at, rules)
    handler = _HANDLERS.get(fact.event_type)
    if handler is not None:
        handler(state, fact, at)
        for drivers in state["why"].values():
            if len(drivers) > rules.provenance_limit:
                del drivers[: len(drivers) - rules.provenance_limit]
    if is_activity(fact) and (state["last_activity_at"] is None or at > state["last_activity_at"]):
        state["last_activity_at"] = at
    if state["first_at"] is None or at < state["first_at"]:
        state["first_at"] = at
    state["last_event_at"] = at if state["last_event_at"] is None else max(state["last_event_at"], at)
    state["event_count"] += 1
    previous = state["key"][0] if state["key"] else None
    state["key"] = [at, fact.event_id]
    evaluate(state, fact.at, rules, previous=previous, settle=settle, when=at)
    return state


@lru_cache(maxsize=TIME_CACHE_SIZE)
def _days_after(moment: str, days: int) -> str:
    """``moment`` + ``days`` in our format (cached: a customer's last activity repeats event after event)."""
    return iso(parse_iso(moment) + timedelta(days=days))


def _dissolve_if_inactive_before(state: State, at: str, rules: AnalyticsRules) -> None:
    """Record a dissolution for inactivity that was reached before this fact, though no event saw it.

    Live, the sweep notices it while the customer is quiet; a fold (a late event's refold, a rebuild,
    time travel) only evaluates at facts, and the customer's return would hide the episode. The
    instant is computed (``_dissolved_since``), so both record the same episode; the other traits
    are evaluated at the fact as usual.
    """
    lifecycle = state["traits"]["lifecycle"]
    if lifecycle is None or lifecycle["stage"] == "dissolution" or not state["n_orders"]:
        return
    last_activity = state["last_activity_at"] or state["first_at"]
    if last_activity is None:
        return
    reached = _days_after(last_activity, rules.dissolution_inactive_days)
    if reached >= at:
        return
    state["traits"]["lifecycle"] = {
        "stage": "dissolution",
        "rule": "dissolution.inactive",
        "since": reached,
        "provenance": provenance_of(state, "lifecycle", rules.provenance_limit),
    }
    state["traits"].setdefault("dissolutions", []).append([reached, None])


def _remember(state: State, kind: str, event_id: str, at: str) -> None:
    """Note ``event_id`` (at ``at``) as a driver of ``kind``; ``apply`` keeps the most recent ones only."""
    state["why"].setdefault(kind, []).append([at, event_id])


# --- event handlers ------------------------------------------------------------------------------


def _registered(state: State, fact: Fact, at: str) -> None:
    d, profile = fact.data, state["profile"]
    since = _when(d, "registered_at", at)
    if profile["customer_since"] is None or since < profile["customer_since"]:
        profile["customer_since"] = since
    if fact.origin != state["customer_id"] and state["registered"]:
        return  # a merged duplicate's registration: its history counts, its profile does not
    if state["status"] != "erased" and fact.origin not in state.get("erased_origins", ()):
        for name in PERSONAL_PROFILE_FIELDS:
            profile[name] = d.get(name)
        profile["interests"] = list(d.get("interests") or [])
        state["status"] = "active"
    profile["timezone"] = d.get("timezone")
    profile["relationship_type"] = d.get("relationship_type")
    profile["acquisition_channel"] = d.get("acquisition_channel")
    profile["acquisition_cost"] = d.get("acquisition_cost")
    profile["referred_by"] = d.get("referred_by")
    consents = d.get("consents") or {}
    profile["consents"] = {channel: bool(consents.get(channel, False)) for channel in profile["consents"]}
    state["registered"] = fact.origin == state["customer_id"] or state["registered"]
    _remember(state, "profile", fact.event_id, at)


def _profile_updated(state: State, fact: Fact, at: str) -> None:
    if fact.origin != state["customer_id"] or state["status"] == "erased":
        return
    for name in fact.data.get("changed_fields") or []:
        if name in PROFILE_UPDATABLE:
            value = fact.data.get(name)
            state["profile"][name] = list(value or []) if name == "interests" else value


def _contact_preferences(state: State, fact: Fact, at: str) -> None:
    channel = fact.data.get("channel")
    if fact.origin == state["customer_id"] and channel in state["profile"]["consents"]:
        state["profile"]["consents"][channel] = bool(fact.data.get("granted"))


def _account_manager(state: State, fact: Fact, at: str) -> None:
    if fact.origin == state["customer_id"]:
        state["profile"]["account_manager"] = fact.data.get("account_manager_id")


def _merged(state: State, fact: Fact, at: str) -> None:
    duplicate = str(fact.data.get("duplicate_id"))
    if duplicate not in state["merged_ids"]:
        state["merged_ids"].append(duplicate)


def _unmerged(state: State, fact: Fact, at: str) -> None:
    duplicate = str(fact.data.get("duplicate_id"))
    if duplicate in state["merged_ids"]:
        state["merged_ids"].remove(duplicate)


def _erased(state: State, fact: Fact, at: str) -> None:
    if fact.origin != state["customer_id"]:
        _duplicate_erased(state, fact.origin)
        return
    # The segments the customer is in now, kept as anonymous facts: NPS per segment goes on counting
    # their answers where it counted them (an erasure changes no KPI), while the erased customer's
    # traits hold no segment from now on (``f.segments``). The first erasure decides.
    if state["status"] != "erased":
        state["segments_at_erasure"] = sorted(state["traits"]["segments"])
    state["status"] = "erased"
    for name in PERSONAL_PROFILE_FIELDS:
        state["profile"][name] = None
    state["profile"]["interests"] = []
    for ticket in state["tickets"].values():
        ticket["subject"] = None
    _remember(state, "profile", fact.event_id, at)


def _duplicate_erased(state: State, duplicate: str) -> None:
    """A duplicate merged into this customer was erased: its personal data goes, the survivor stays.

    The survivor is another record (its own profile, consents, key); only what the duplicate brought
    is forgotten: its tickets' subjects, and the profile if it came from the duplicate's
    registration because the survivor's own was not seen.
    """
    erased: list[str] = state.setdefault("erased_origins", [])
    if duplicate not in erased:
        erased.append(duplicate)
    for ticket in state["tickets"].values():
        if ticket.get("origin") == duplicate:
            ticket["subject"] = None
    if not state["registered"]:
        for name in PERSONAL_PROFILE_FIELDS:
            state["profile"][name] = None
        state["profile"]["interests"] = []


def _order(state: State, order_id: str) -> dict[str, Any]:
    orders: dict[str, dict[str, Any]] = state["orders"]
    if order_id not in orders:
        orders[order_id] = {
            "at": None,
            "total": None,
            "cost": None,
            "margin": None,
            "status": "unknown",
            "promised": None,
            "lines": [],
            "offer": False,
            "counted": False,
            "updated_at": None,
        }
    return orders[order_id]


def _add_order_value(state: State, order: dict[str, Any], sign: int) -> None:
    total = _dec(order["total"])
    state["spent"] = _money(_dec(state["spent"]) + sign * total)
    if order["margin"] is not None:
        state["margin_known"] = _money(_dec(state["margin_known"]) + sign * _dec(order["margin"]))
    else:
        state["revenue_without_cost"] = _money(_dec(state["revenue_without_cost"]) + sign * total)
    state["n_orders"] += sign
    if sign > 0 and order["at"] and (state["last_order_at"] is None or order["at"] > state["last_order_at"]):
        state["last_order_at"] = order["at"]
    elif sign < 0:
        counted = [o["at"] for o in state["orders"].values() if o["counted"] and o["at"]]
        state["last_order_at"] = max(counted, default=None)
    state["n_offer_orders"] += sign if order["offer"] else 0
    for _sku, _name, category, quantity in order["lines"]:
        state["categories"][category] = state["categories"].get(category, 0) + sign * quantity
        if state["categories"][category] <= 0:
            del state["categories"][category]


def _quantity(line: Mapping[str, Any]) -> int:
    return int(line.get("quantity") or 1)


def _order_placed(state: State, fact: Fact, at: str) -> None:
    d = fact.data
    order = _order(state, str(d["order_id"]))
    if order["counted"]:
        return
    order.update(
        at=_when(d, "placed_at", at),
        total=d.get("total"),
        cost=d.get("cost"),
        margin=d.get("margin"),
        promised=d.get("promised_delivery_date"),
        lines=[
            [line.get("sku"), line.get("name"), line.get("category") or "other", _quantity(line)]
            for line in d.get("lines") or []
        ],
        offer=bool(d.get("offer_code")),
        channel=d.get("channel"),
    )
    if order["status"] == "unknown":
        order["status"] = "placed"
    order["updated_at"] = at
    if order["status"] != "cancelled":
        order["counted"] = True
        _add_order_value(state, order, +1)
    _remember(state, "orders", fact.event_id, at)


def _order_status(status: str, time_field: str) -> Callable[[State, Fact, str], None]:
    def handle(state: State, fact: Fact, at: str) -> None:
        order = _order(state, str(fact.data["order_id"]))
        if order["status"] in ("cancelled", "returned") and status in ("shipped", "delivered"):
            return
        order["status"] = status
        order["updated_at"] = _when(fact.data, time_field, at)
        if status == "cancelled" and order["counted"]:
            order["counted"] = False
            _add_order_value(state, order, -1)
        if status == "returned":
            state["n_returns"] += 1
            refund = _dec(fact.data.get("refund_amount"))
            total = _dec(order["total"])
            state["spent"] = _money(_dec(state["spent"]) - refund)
            if order["margin"] is not None and total > 0:
                lost = _dec(order["margin"]) * refund / total
                state["margin_known"] = _money(_dec(state["margin_known"]) - lost)
            else:
                state["revenue_without_cost"] = _money(_dec(state["revenue_without_cost"]) - refund)
        _remember(state, "orders", fact.event_id, at)

    return handle


def _invoice(state: State, invoice_id: str) -> dict[str, Any]:
    invoices: dict[str, dict[str, Any]] = state["invoices"]
    if invoice_id not in invoices:
        invoices[invoice_id] = {
            "amount": "0.00",
            "paid": "0.00",
            "outstanding": "0.00",
            "due": None,
            "overdue": False,
            "fully_paid": False,
        }
    return invoices[invoice_id]


def _invoice_issued(state: State, fact: Fact, at: str) -> None:
    invoice = _invoice(state, str(fact.data["invoice_id"]))
    invoice["amount"] = fact.data.get("amount") or "0.00"
    invoice["due"] = fact.data.get("due_date")
    invoice["issued_at"] = _when(fact.data, "issued_at", at)
    if not invoice["fully_paid"] and _dec(invoice["paid"]) == 0:
        invoice["outstanding"] = invoice["amount"]
    _remember(state, "payments", fact.event_id, at)


def _payment_received(state: State, fact: Fact, at: str) -> None:
    d = fact.data
    invoice = _invoice(state, str(d["invoice_id"]))
    invoice["amount"] = d.get("invoice_amount") or invoice["amount"]
    if _dec(d.get("amount_paid")) >= _dec(invoice["paid"]):
        invoice["paid"] = d.get("amount_paid") or invoice["paid"]
        invoice["outstanding"] = d.get("outstanding") or "0.00"
    was_open_overdue = invoice["overdue"] and not invoice["fully_paid"]
    settles = not invoice["fully_paid"] and bool(d.get("fully_paid"))
    invoice["fully_paid"] = invoice["fully_paid"] or settles
    if was_open_overdue and invoice["fully_paid"]:
        state["overdue_open"] -= 1
    if settles and invoice.get("issued_at"):
        # days to pay: from the invoice to the payment that settled it (invoices never seen don't count)
        days = _days(_when(d, "paid_at", at), invoice["issued_at"])
        state["days_to_pay_sum"] = state.get("days_to_pay_sum", 0) + days
        state["settled_invoices"] = state.get("settled_invoices", 0) + 1
    method = d.get("method") or "unknown"
    state["methods"][method] = state["methods"].get(method, 0) + 1
    state["days_late_sum"] += int(d.get("days_late") or 0)
    state["payments_count"] += 1
    _remember(state, "payments", fact.event_id, at)


def _payment_overdue(state: State, fact: Fact, at: str) -> None:
    invoice = _invoice(state, str(fact.data["invoice_id"]))
    if invoice["overdue"]:
        return
    invoice["overdue"] = True
    invoice["amount"] = fact.data.get("invoice_amount") or invoice["amount"]
    if not invoice["fully_paid"]:
        invoice["outstanding"] = fact.data.get("outstanding") or invoice["outstanding"]
        state["overdue_open"] += 1
    state["overdue_total"] += 1
    _remember(state, "payments", fact.event_id, at)


def _ticket(state: State, ticket_id: str) -> dict[str, Any]:
    tickets: dict[str, dict[str, Any]] = state["tickets"]
    if ticket_id not in tickets:
        tickets[ticket_id] = {
            "kind": None,
            "category": None,
            "subject": None,
            "owner": None,
            "opened_at": None,
            "due": None,
            "status": "open",
            "transfers": 0,
            "breaches": 0,
            "resolved_at": None,
            "root_cause": None,
        }
    return tickets[ticket_id]


def _ticket_opened(state: State, fact: Fact, at: str) -> None:
    d = fact.data
    ticket = _ticket(state, str(d["ticket_id"]))
    forgotten = state["status"] == "erased" or fact.origin in state.get("erased_origins", ())
    ticket.update(
        kind=d.get("kind"),
        category=d.get("category"),
        subject=None if forgotten else d.get("subject"),
        opened_at=_when(d, "opened_at", at),
        due=d.get("resolution_due"),
        origin=fact.origin,
    )
    _remember(state, "tickets", fact.event_id, at)


def _complaint_filed(state: State, fact: Fact, at: str) -> None:
    ticket_id = str(fact.data["ticket_id"])
    if ticket_id in state["complaints"]:
        return
    filed = _when(fact.data, "filed_at", at)
    state["complaints"][ticket_id] = filed
    bisect.insort(state["complaint_times"], filed)
    ticket = _ticket(state, ticket_id)
    ticket["kind"] = ticket["kind"] or "complaint"
    ticket["category"] = ticket["category"] or fact.data.get("category")
    _remember(state, "complaints", fact.event_id, at)


def _ticket_assigned(state: State, fact: Fact, at: str) -> None:
    ticket = _ticket(state, str(fact.data["ticket_id"]))
    ticket["owner"] = fact.data.get("agent_id")
    if ticket["status"] == "open":
        ticket["status"] = "in_progress"


def _ticket_transferred(state: State, fact: Fact, at: str) -> None:
    ticket = _ticket(state, str(fact.data["ticket_id"]))
    ticket["owner"] = fact.data.get("to_agent_id")
    ticket["transfers"] += 1
    state["transfers"] += 1
    _remember(state, "tickets", fact.event_id, at)


def _sla_breached(state: State, fact: Fact, at: str) -> None:
    ticket = _ticket(state, str(fact.data["ticket_id"]))
    ticket["breaches"] += 1
    bisect.insort(state["breach_times"], _when(fact.data, "breached_at", at))
    _remember(state, "tickets", fact.event_id, at)


def _ticket_status(status: str) -> Callable[[State, Fact, str], None]:
    def handle(state: State, fact: Fact, at: str) -> None:
        ticket = _ticket(state, str(fact.data["ticket_id"]))
        if ticket["status"] == "closed" and status != "reopened":
            return
        ticket["status"] = status
        if status == "resolved":
            ticket["resolved_at"] = _when(fact.data, "resolved_at", at)
            ticket["root_cause"] = fact.data.get("root_cause")
            state["resolution_seconds_sum"] += int(fact.data.get("time_to_resolve_seconds") or 0)
            state["resolved_count"] += 1
        if status == "reopened" and fact.data.get("resolution_due"):
            ticket["due"] = fact.data.get("resolution_due")
        if status == "in_progress" and fact.data.get("resolution_due"):
            ticket["due"] = fact.data.get("resolution_due")

    return handle


def _survey_answered(state: State, fact: Fact, at: str) -> None:
    d = fact.data
    score = int(d.get("score") or 0)
    state["survey_count"] += 1
    if d.get("kind") == "csat":
        state["csat_sum"] += score
        state["csat_count"] += 1
    else:
        state["nps"] = {"score": score, "at": at, "survey_id": d.get("survey_id")}
    _remember(state, "surveys", fact.event_id, at)


def _offer_sent(state: State, fact: Fact, at: str) -> None:
    d = fact.data
    state["offers_received"] += 1
    state["last_offer"] = {
        "campaign_id": d.get("campaign_id"),
        "offer_code": d.get("offer_code"),
        "sku": d.get("sku"),
        "category": d.get("category"),
        "discount_pct": d.get("discount_pct"),
        "channel": d.get("channel"),
        "sent_at": at,
        "valid_until": d.get("valid_until"),
    }
    _remember(state, "offers", fact.event_id, at)


def _offer_redeemed(state: State, fact: Fact, at: str) -> None:
    state["offers_redeemed"] += 1
    _remember(state, "offers", fact.event_id, at)


def _suppressed(state: State, fact: Fact, at: str) -> None:
    if state["last_suppressed_at"] is None or at > state["last_suppressed_at"]:
        state["last_suppressed_at"] = at


def _invalid_redemption(state: State, fact: Fact, at: str) -> None:
    if fact.data.get("reason") in SUSPICIOUS_REDEMPTIONS:
        state["fraud_signals"] += 1
        _remember(state, "fraud", fact.event_id, at)


_HANDLERS: dict[str, Callable[[State, Fact, str], None]] = {
    "CustomerRegistered": _registered,
    "CustomerProfileUpdated": _profile_updated,
    "ContactPreferencesChanged": _contact_preferences,
    "AccountManagerAssigned": _account_manager,
    "CustomersMerged": _merged,
    "CustomersUnmerged": _unmerged,
    "CustomerErased": _erased,
    "OrderPlaced": _order_placed,
    "OrderShipped": _order_status("shipped", "shipped_at"),
    "OrderDelivered": _order_status("delivered", "delivered_at"),
    "OrderCancelled": _order_status("cancelled", "cancelled_at"),
    "OrderReturned": _order_status("returned", "returned_at"),
    "InvoiceIssued": _invoice_issued,
    "PaymentReceived": _payment_received,
    "PaymentOverdue": _payment_overdue,
    "TicketOpened": _ticket_opened,
    "ComplaintFiled": _complaint_filed,
    "TicketAssigned": _ticket_assigned,
    "TicketTransferred": _ticket_transferred,
    "SlaBreached": _sla_breached,
    "TicketWaitingOnCustomer": _ticket_status("waiting_customer"),
    "TicketResumed": _ticket_status("in_progress"),
    "TicketResolved": _ticket_status("resolved"),
    "TicketReopened": _ticket_status("reopened"),
    "TicketClosed": _ticket_status("closed"),
    "SurveyAnswered": _survey_answered,
    "OfferSent": _offer_sent,
    "OfferRedeemed": _offer_redeemed,
    "MessageSuppressed": _suppressed,
    "InvalidRedemption": _invalid_redemption,
}

HANDLED_EVENT_TYPES = frozenset(_HANDLERS)


# --- merges --------------------------------------------------------------------------------------


def aliases_at(merges: Iterable[Fact]) -> dict[str, str]:
    """duplicate → survivor after these merge and unmerge facts, applied in ``(time, id)`` order.

    The projector's ``customer_aliases`` table as it stood once they were applied: a merge points the
    duplicate (and whatever was merged into it) at the survivor, an unmerge frees the duplicate.
    Time travel uses it to know whose events a customer's view held at an instant.
    """
    aliases: dict[str, str] = {}
    for fact in sorted(merges, key=lambda fact: fact.sort_key):
        duplicate, survivor = str(fact.data.get("duplicate_id")), str(fact.data.get("customer_id"))
        if fact.event_type == "CustomersMerged":
            aliases[duplicate] = survivor
            for other, target in list(aliases.items()):
                if target == duplicate:
                    aliases[other] = survivor
        elif fact.event_type == "CustomersUnmerged":
            aliases.pop(duplicate, None)
    return aliases


# --- metrics and traits --------------------------------------------------------------------------


def _count_since(times: list[str], start: str, end: str) -> int:
    if not times:
        return 0
    return bisect.bisect_right(times, end) - bisect.bisect_right(times, start)


def historic_clv(state: State) -> Decimal:
    """Margin (or revenue where cost is unknown) minus the acquisition cost."""
    margin, revenue, cost = state["margin_known"], state["revenue_without_cost"], state["profile"]["acquisition_cost"]
    if type(margin) is str and type(revenue) is str and (cost is None or type(cost) is str):
        return _historic_clv(margin, revenue, cost)
    return f.clv_historic(margin_known=_dec(margin), revenue_without_cost=_dec(revenue), acquisition_cost=_dec(cost))


@lru_cache(maxsize=TIME_CACHE_SIZE)
def _historic_clv(margin: str, revenue: str, cost: str | None) -> Decimal:
    """``historic_clv`` of the state's money strings (cached: they only change with an order or a payment)."""
    return f.clv_historic(margin_known=_dec(margin), revenue_without_cost=_dec(revenue), acquisition_cost=_dec(cost))


def _inputs(
    state: State, now: datetime, rules: AnalyticsRules, end: str | None = None
) -> tuple[f.TraitInputs, f.ChurnInputs, Decimal, f.ChurnRisk]:
    if end is None:
        end = iso(now)
    # days are counted from ``now`` itself: the instant ``end`` names, without parsing it back
    moment = now if now.tzinfo is not None else parse_iso(end)
    complaint_times, breach_times = state["complaint_times"], state["breach_times"]
    # the windows only matter to a customer with complaints or breaches (most have none, and
    # formatting an instant is a good part of an evaluation)
    if complaint_times or breach_times:
        recent_start = iso(now - timedelta(days=rules.complaints_recent_days))
        window_start = (
            recent_start
            if rules.serial_complainer_window_days == rules.complaints_recent_days or not complaint_times
            else iso(now - timedelta(days=rules.serial_complainer_window_days))
        )
        complaints_recent = _count_since(complaint_times, recent_start, end)
        breaches_recent = _count_since(breach_times, recent_start, end)
        complaints_window = _count_since(complaint_times, window_start, end)
    else:
        complaints_recent = breaches_recent = complaints_window = 0
    last_activity = state["last_activity_at"] or state["first_at"] or end
    since = state["profile"]["customer_since"] or state["first_at"] or end
    last_order = state["last_order_at"]
    nps = state["nps"]
    churn_in = f.ChurnInputs(
        days_inactive=_days_since(moment, last_activity),
        complaints_recent=complaints_recent,
        last_nps_category=f.nps_category(nps["score"], rules) if nps else None,
        overdue_open=state["overdue_open"],
        sla_breaches_recent=breaches_recent,
        orders=state["n_orders"],
        returns=state["n_returns"],
    )
    historic = historic_clv(state)
    churn = _churn_risk(churn_in, rules)
    payments = state["payments_count"]
    trait_in = f.TraitInputs(
        status=state["status"],
        orders=state["n_orders"],
        tenure_days=_days_since(moment, since),
        days_since_last_order=_days_since(moment, last_order) if last_order else None,
        days_inactive=churn_in.days_inactive,
        clv_historic=historic,
        total_margin=_dec(state["margin_known"]),
        churn_score=churn.score,
        complaints_in_window=complaints_window,
        overdue_total=state["overdue_total"],
        average_days_late=Decimal(state["days_late_sum"]) / Decimal(payments) if payments else None,
        orders_with_offer=state["n_offer_orders"],
        fraud_signals=state["fraud_signals"],
    )
    return trait_in, churn_in, historic, churn


def inputs_at(state: State, now: datetime, rules: AnalyticsRules) -> tuple[f.TraitInputs, f.ChurnInputs, Decimal]:
    """What the traits are evaluated from at ``now``: the 360 document shows some of these figures too."""
    trait_in, churn_in, historic, _ = _inputs(state, now, rules)
    return trait_in, churn_in, historic


CHURN_MEMO_SIZE = 4096
"""Entries of the churn-risk memo below: its inputs are a few small counts, so they repeat constantly."""
_churn_memo: dict[tuple[int, f.ChurnInputs], tuple[AnalyticsRules, f.ChurnRisk]] = {}


def _churn_risk(inputs: f.ChurnInputs, rules: AnalyticsRules) -> f.ChurnRisk:
    """``formulas.churn_risk``, remembered per rules object (profiled: its Decimal arithmetic was the
    largest cost of an evaluation, and a fold evaluates after every fact).

    Keyed by the rules' identity, not their value (hashing the rules would cost what the memo saves);
    the entry keeps the rules alive, so the identity cannot be reused while it is remembered. The
    memo is bounded: it starts over when full. Callers only read the result.
    """
    key = (id(rules), inputs)
    hit = _churn_memo.get(key)
    if hit is not None and hit[0] is rules:
        return hit[1]
    risk = f.churn_risk(inputs, rules)
    if len(_churn_memo) >= CHURN_MEMO_SIZE:
        _churn_memo.clear()
    _churn_memo[key] = (rules, risk)
    return risk


def _driver(entry: Any) -> tuple[str, str]:
    """``(time, event id)`` of a remembered driver (states stored before times were kept hold bare ids)."""
    return (str(entry[0]), str(entry[1])) if isinstance(entry, list) else ("", str(entry))


def recent_drivers(state: State, kinds: Iterable[str], limit: int) -> list[str]:
    """The ids of the ``limit`` most recent events (by event time, then id) of these kinds, oldest first."""
    found = {_driver(entry) for kind in kinds for entry in state["why"].get(kind, [])}
    return [event_id for _, event_id in sorted(found)[-limit:]]


def provenance_of(state: State, trait: str, limit: int) -> list[str]:
    """The events that drove ``trait``: the most recent ones of the kinds in ``TRAIT_DRIVERS``."""
    return recent_drivers(state, TRAIT_DRIVERS[trait], limit)


def _dissolved_since(state: State, previous: str | None, when: str, rules: AnalyticsRules) -> str:
    """When an inactive customer dissolved: the instant inactivity reached ``dissolution_inactive_days``.

    Nothing happens at that instant (no event), so it is computed rather than observed: the sweep at
    any hour, the 360 read, a later event or a rebuild all give the same instant, so the churn KPI's
    month and the signal's ``decided_at`` do not depend on when the clock was looked at. It is never
    before the previous evaluation (``previous``), when the customer was not yet dissolved.
    """
    last_activity = state["last_activity_at"] or state["first_at"]
    if last_activity is None:
        return when
    reached = _days_after(last_activity, rules.dissolution_inactive_days)
    return min(max(reached, previous or reached), when)


def evaluate(
    state: State,
    now: datetime,
    rules: AnalyticsRules,
    *,
    previous: str | None = None,
    settle: bool = True,
    when: str | None = None,
) -> State:
    """Re-evaluate every trait as of ``now`` (in place); a changed trait gets ``since = now``.

    ``previous`` is when the traits were last evaluated (the time of the fact before, while folding;
    the time of the last fact when omitted, for the sweep and reads). Only a dissolution for
    inactivity uses it: its ``since`` is the computed instant inactivity reached the threshold.

    ``settle=False`` (a fold's facts but the last) leaves the state as it is when no segment, rule,
    stage, churn band or value tier changes. Why that gives the same state: an unchanged evaluation
    only overwrites the churn score and factors and the tier's CLV, which the next evaluation
    overwrites again, while everything kept (``since``, provenance, dissolution episodes) is only
    written at a change, which is always applied. Profiled: writing those values after every fact
    (strings of Decimals, a new churn object) was a third of an evaluation.

    ``when`` is ``iso(now)`` when the caller already has it (``apply``: the fact's time).
    """
    if when is None:
        when = iso(now)
    if previous is None and state["key"]:
        previous = state["key"][0]
    trait_in, _, historic, churn = _inputs(state, now, rules, when)
    traits = state["traits"]
    limit = rules.provenance_limit

    wanted = f.segments(trait_in, rules)
    current: dict[str, Any] = traits["segments"]
    stage, stage_rule = f.lifecycle_stage(trait_in, rules)
    tier = f.value_tier(historic, rules)
    if not settle and _unchanged(traits, wanted, stage, churn.band, tier):
        return state
    for name in [n for n in current if n not in wanted]:
        del current[name]
    for name, rule in wanted.items():
        if name not in current:
            current[name] = {"since": when, "rule": rule, "provenance": provenance_of(state, name, limit)}
        elif current[name]["rule"] != rule:
            current[name]["rule"] = rule

    lifecycle = traits["lifecycle"]
    if lifecycle is None or lifecycle["stage"] != stage:
        since = _dissolved_since(state, previous, when, rules) if stage_rule == "dissolution.inactive" else when
        traits["lifecycle"] = {
            "stage": stage,
            "rule": stage_rule,
            "since": since,
            "provenance": provenance_of(state, "lifecycle", limit),
        }
        # every dissolution episode [since, until): the churn KPI counts a month's churn for good,
        # even when the customer comes back later (states stored before episodes were kept lack it)
        episodes: list[list[str | None]] = traits.setdefault("dissolutions", [])
        if stage == "dissolution":
            episodes.append([since, None])
        elif episodes and episodes[-1][1] is None:
            episodes[-1][1] = when

    old_churn = traits["churn"]
    traits["churn"] = {
        "score": str(churn.score),
        "band": churn.band,
        "factors": {k: str(v) for k, v in churn.factors.items()},
        "since": when if old_churn is None or old_churn["band"] != churn.band else old_churn["since"],
        "provenance": provenance_of(state, "churn", limit)
        if old_churn is None or old_churn["band"] != churn.band
        else old_churn["provenance"],
    }

    old_tier = traits["tier"]
    if old_tier is None or old_tier["tier"] != tier:
        traits["tier"] = {
            "tier": tier,
            "clv": _money(historic),
            "since": when,
            "provenance": provenance_of(state, "tier", limit),
        }
    else:
        old_tier["clv"] = _money(historic)
    return state


def _unchanged(traits: dict[str, Any], wanted: dict[str, str], stage: str, band: str, tier: str) -> bool:
    """Whether an evaluation with these verdicts would change nothing but the latest score and CLV."""
    current: dict[str, Any] = traits["segments"]
    if len(current) != len(wanted):
        return False
    for name, rule in wanted.items():
        held = current.get(name)
        if held is None or held["rule"] != rule:
            return False
    lifecycle, churn, value = traits["lifecycle"], traits["churn"], traits["tier"]
    return (
        lifecycle is not None
        and lifecycle["stage"] == stage
        and churn is not None
        and churn["band"] == band
        and value is not None
        and value["tier"] == tier
    )


def dissolution_ranges(state: State) -> str:
    """The customer's dissolution episodes as a PostgreSQL ``tstzmultirange`` literal (``{}`` when none)."""
    episodes = state["traits"].get("dissolutions") or []
    return "{" + ",".join(f"[{start},{end or ''})" for start, end in episodes) + "}"


def owned_products(state: State) -> list[str]:
    """Skus the customer bought (orders not cancelled)."""
    return sorted({line[0] for o in state["orders"].values() if o["counted"] for line in o["lines"]})


def traits_summary(state: State) -> dict[str, Any]:
    """The comparable part of the traits: what a signal is emitted for when it changes."""
    traits = state["traits"]
    return {
        "segments": {name: value["since"] for name, value in traits["segments"].items()},
        "lifecycle": traits["lifecycle"]["stage"] if traits["lifecycle"] else None,
        "churn_band": traits["churn"]["band"] if traits["churn"] else None,
        "tier": traits["tier"]["tier"] if traits["tier"] else None,
    }


def with_own_traits(state: State) -> State:
    """``state`` with a copy of its ``traits``, for ``evaluate`` (which writes nothing else).

    A 360 read evaluates the stored state as of now and throws the result away: copying the whole
    state for that (orders, tickets, timeline keys) was a fifth of the read's CPU in ``render``.
    The rest stays shared with ``state``, so the result is read only outside ``traits``.
    """
    return {**state, "traits": copy_state(state["traits"])}  # type: ignore[typeddict-item]


def copy_state(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, immutable scalars).

    ``copy.deepcopy`` cost a third of the projector's CPU and most of a 360 read's CPU (its memo and
    dispatch per object); states loaded from JSONB only hold dicts, lists and scalars, so this walks
    just those. Anything else still goes through ``deepcopy``, so the result is the same for any input.
    """
    kind = type(value)
    if kind is dict:
        return {k: copy_state(v) for k, v in value.items()}
    if kind is list:
        return [copy_state(v) for v in value]
    if kind in (str, int, float, bool, type(None)):
        return value
    return copy.deepcopy(value)
