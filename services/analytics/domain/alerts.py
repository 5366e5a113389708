"""Account managers' alerts (issue 21.2, 21.4): which facts deserve one, deduplication, special days.

Pure functions over what the alerts consumer keeps per customer (``Subject``) and one event at a
time, so the live consumer and any replay decide identically. Rules are data: ``AlertRules`` in
``rules.py`` (docs/analytics-rules.md#account-managers-alerts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from services.analytics.domain.rules import AlertKindName, AnalyticsRules

BAND_RANK = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True, slots=True)
class Subject:
    """What the alerts consumer knows of a customer before the event: their account manager and orders."""

    account_manager_id: str | None = None
    orders: int = 0
    order_total: Decimal = Decimal(0)
    erased: bool = False


@dataclass(frozen=True, slots=True)
class Candidate:
    """An alert the rules call for (raised unless one of the same kind is inside the window)."""

    kind: AlertKindName
    rule: str
    reason: str
    provenance: tuple[str, ...]
    decided_at: datetime
    occasion: str | None = None
    """Special days: ``<kind>:<year>``, so each birthday or anniversary reminds once."""
    due_on: date | None = None


def _money(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def decide(
    event_type: str, data: Mapping[str, Any], *, event_id: str, at: datetime, subject: Subject, rules: AnalyticsRules,
) -> Candidate | None:
    """The alert one event calls for, whoever manages the customer (the caller checks there is someone)."""
    alerts = rules.alerts
    candidate: Candidate | None = None
    if event_type == "ComplaintFiled":
        candidate = Candidate("complaint", "alert.complaint",
                              f"A complaint was filed ({data.get('category') or 'no category'}, "
                              f"priority {data.get('priority') or 'normal'}).", (event_id,), at)
    elif event_type == "SlaBreached":
        candidate = Candidate("sla_breach", "alert.sla_breach",
                              f"A {data.get('target', 'service')} SLA was breached on a ticket.", (event_id,), at)
    elif event_type == "SurveyAnswered" and (data.get("kind") or "nps") == "nps":
        score = data.get("score")
        category = data.get("nps_category") or (
            "detractor" if isinstance(score, int) and score < rules.nps_passive_min else None)
        if category == "detractor":
            candidate = Candidate("detractor", "alert.detractor", f"A detractor answer (NPS score {score}).",
                                  (event_id,), at)
    elif event_type == "OrderPlaced":
        total = _money(data.get("total"))
        if total is not None and subject.orders >= alerts.large_order_min_previous:
            average = subject.order_total / subject.orders
            if average > 0 and total >= average * alerts.large_order_multiple:
                candidate = Candidate(
                    "large_order", "alert.large_order",
                    f"An order of {total} is {(total / average).quantize(Decimal('0.1'))}x their average "
                    f"of {average.quantize(Decimal('0.01'))} over {subject.orders} orders.", (event_id,), at)
    elif event_type == "ChurnRiskChanged":
        before = BAND_RANK.get(str(data.get("from_band") or "low"), 0)
        after = BAND_RANK.get(str(data.get("to_band")), 0)
        if after > before and after >= BAND_RANK[alerts.churn_min_band]:
            candidate = Candidate("churn_risk_up", "alert.churn_risk_up",
                                  f"Churn risk rose from {data.get('from_band') or 'low'} to {data.get('to_band')} "
                                  f"(score {data.get('score')}).", _signal_provenance(event_id, data), at)
    elif event_type == "SegmentEntered" and data.get("segment") == "high_value":
        candidate = Candidate("high_value", "alert.high_value", "The customer entered the high-value segment.",
                              _signal_provenance(event_id, data), at)
    if candidate is None or candidate.kind not in alerts.enabled:
        return None
    return candidate


def _signal_provenance(event_id: str, data: Mapping[str, Any]) -> tuple[str, ...]:
    """The signal itself first, then the domain events behind it."""
    return (event_id, *(str(p) for p in data.get("provenance") or ()))


def within_window(decided_at: datetime, earlier: Iterable[datetime], rules: AnalyticsRules) -> bool:
    """True when an alert of the same kind was decided less than the window before or after this one."""
    window = timedelta(days=rules.alerts.window_days)
    return any(abs(decided_at - other) < window for other in earlier)


def _on(year: int, day: date) -> date:
    """The day's anniversary in ``year`` (29 February becomes 28 February in other years)."""
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)


def next_occurrence(day: date, today: date) -> date:
    """The first anniversary of ``day`` on or after ``today``."""
    this_year = _on(today.year, day)
    return this_year if this_year >= today else _on(today.year + 1, day)


def special_days(
    *, birth_date: date | None, customer_since: datetime | None, now: datetime, rules: AnalyticsRules,
) -> list[Candidate]:
    """Birthday and relationship-anniversary reminders due at ``now`` (at most ``days_before`` days ahead).

    A reminder is due from ``days_before`` days before the day until the day itself, so a sweep that
    did not run for a while still reminds; ``occasion`` (kind and year) makes it once per year.
    """
    today = now.date()
    ahead = rules.alerts.special_day_days_before
    found: list[Candidate] = []
    if birth_date is not None and "birthday" in rules.alerts.enabled:
        due = next_occurrence(birth_date, today)
        if (due - today).days <= ahead:
            # the day itself is personal: only the read model (due_on) says when, never the event
            found.append(Candidate("birthday", "alert.birthday", "A birthday is coming up.", (), now,
                                   occasion=f"birthday:{due.year}", due_on=due))
    if customer_since is not None and "anniversary" in rules.alerts.enabled:
        since = customer_since.date()
        due = next_occurrence(since, today)
        years = due.year - since.year
        if years >= 1 and (due - today).days <= ahead:
            found.append(Candidate("anniversary", "alert.anniversary",
                                   _in_days(f"{years} year{'s' if years > 1 else ''} as a customer", due, today), (),
                                   now, occasion=f"anniversary:{due.year}", due_on=due))
    return found


@dataclass(frozen=True, slots=True)
class Purchases:
    """How often a managed customer bought one product: what the replenishment rule needs."""

    sku: str
    count: int
    first_at: datetime
    last_at: datetime
    last_event_id: str


def replenishment_due(purchases: Iterable[Purchases], *, now: datetime, rules: AnalyticsRules) -> list[Candidate]:
    """Regular purchases now overdue: bought at least ``replenishment_min_purchases`` times, and more than
    ``replenishment_overdue_factor`` mean intervals since the last one (seed 002: a sales opportunity).

    ``occasion`` names the product and the last purchase, so each overdue cycle alerts once; a new
    purchase starts a new cycle. Intervals under a day (two orders the same day) are no rhythm.
    """
    alerts = rules.alerts
    if "replenishment" not in alerts.enabled:
        return []
    found: list[Candidate] = []
    for bought in purchases:
        if bought.count < alerts.replenishment_min_purchases:
            continue
        interval = (bought.last_at - bought.first_at) / (bought.count - 1)
        if interval < timedelta(days=1) or now < bought.last_at + interval * float(alerts.replenishment_overdue_factor):
            continue
        every, since = round(interval / timedelta(days=1)), (now - bought.last_at).days
        found.append(Candidate(
            "replenishment", "alert.replenishment",
            f"Bought {bought.sku} {bought.count} times, about every {every} days; the last time was {since} days ago.",
            (bought.last_event_id,), now, occasion=f"replenishment:{bought.sku}:{bought.last_at.date().isoformat()}"))
    return found


def _in_days(what: str, due: date, today: date) -> str:
    days = (due - today).days
    return f"{what} today." if days == 0 else f"{what} in {days} day{'s' if days > 1 else ''}."
