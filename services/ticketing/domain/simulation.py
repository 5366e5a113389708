"""SLA back-testing: replay recorded ticket histories through the SLA clock under a proposed policy.

This is a replay, not an estimate: each ticket's events are fed, in order and at their recorded
domain times, to the same ``SlaClock`` the live tickets use, with due times taken from the proposed
policy instead of the one in force. Between two events the clock is asked which targets passed, just
as the scheduler would; a still-unfinished ticket is checked once more at ``now``. Every simulated
breach also counts as one escalation, as it would in production.

The replay can also use other business-hours calendars than those in force (``calendar_for``: the
calendar of each tier), so a team sees what a calendar change would have done to last quarter: due
moments and pauses are counted in that calendar's business time, exactly as the live clock would.

What the proposed policy cannot change is kept as recorded: when agents answered, when the ticket
waited on the customer, when it was resolved. The report answers "with these targets, how often
would we have breached", which is the question a service lead has before adopting a policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import mean, median

from services.ticketing.domain.calendar import ALWAYS_OPEN, BusinessCalendar
from services.ticketing.domain.sla import SlaClock, SlaPolicy
from shared.contracts.ticketing import (
    CustomerContacted,
    SlaBreached,
    TicketClosed,
    TicketCommented,
    TicketOpened,
    TicketReopened,
    TicketResolved,
    TicketResumed,
    TicketWaitingOnCustomer,
)
from shared.events.catalog import DomainEvent


def event_time(event: DomainEvent) -> datetime | None:
    """The domain time of a ticketing event (every one carries a ``*_at``/``*_since`` field)."""
    for name, value in event:
        if (
            isinstance(value, datetime)
            and (name.endswith("_at") or name.endswith("_since"))
            and not name.endswith("due_at")
        ):
            return value
    return None


@dataclass(slots=True)
class _PriorityStats:
    tickets: int = 0
    breached_tickets: int = 0
    first_response_breaches: int = 0
    resolution_breaches: int = 0
    first_response_seconds: list[int] = field(default_factory=list)
    resolve_seconds: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PriorityReport:
    """Simulated outcome for one priority."""

    priority: str
    tickets: int
    breached_tickets: int
    breach_rate: float
    first_response_breaches: int
    resolution_breaches: int
    mean_first_response_seconds: float | None
    median_first_response_seconds: float | None
    mean_resolve_seconds: float | None
    median_resolve_seconds: float | None


@dataclass(frozen=True, slots=True)
class SimulationReport:
    """What the proposed policy would have produced over the replayed history."""

    tickets: int
    breached_tickets: int
    breach_rate: float
    breaches: int
    escalations: int
    recorded_breaches: int
    """Breaches the policy in force actually produced, for comparison."""
    by_priority: list[PriorityReport]


def simulate(
    histories: Iterable[Sequence[DomainEvent]],
    policy: SlaPolicy,
    now: datetime,
    calendar_for: Callable[[str], BusinessCalendar] | None = None,
) -> SimulationReport:
    """Replay each ticket's events (oldest first) under ``policy``; histories without an opening are skipped.

    ``calendar_for`` gives each customer tier's calendar (24/7 for every tier when omitted).
    """
    stats: dict[str, _PriorityStats] = {}
    total_tickets = breached_tickets = breaches = recorded = 0
    for history in histories:
        if not history or not isinstance(history[0], TicketOpened):
            continue
        opened = history[0]
        calendar = calendar_for(opened.customer_tier) if calendar_for is not None else ALWAYS_OPEN
        clock = SlaClock.start(opened.opened_at, policy.targets_for(opened.priority, opened.customer_tier), calendar)
        row = stats.setdefault(opened.priority, _PriorityStats())
        finished = False
        seen: list[str] = []
        for event in history[1:]:
            at = event_time(event)
            if at is None:
                continue
            if isinstance(event, SlaBreached):
                recorded += 1
            if finished and not isinstance(event, TicketReopened):
                continue
            if not finished:
                seen += _breaches_until(clock, at)
            finished = _apply(clock, event, at, row)
        if not finished:
            seen += _breaches_until(clock, now)
        total_tickets += 1
        row.tickets += 1
        breaches += len(seen)
        row.first_response_breaches += seen.count("first_response")
        row.resolution_breaches += seen.count("resolution")
        if seen:
            breached_tickets += 1
            row.breached_tickets += 1
    return SimulationReport(
        tickets=total_tickets,
        breached_tickets=breached_tickets,
        breach_rate=_rate(breached_tickets, total_tickets),
        breaches=breaches,
        escalations=breaches,
        recorded_breaches=recorded,
        by_priority=[_priority_report(p, s) for p, s in sorted(stats.items())],
    )


def _breaches_until(clock: SlaClock, at: datetime) -> list[str]:
    """What the scheduler would have reported by ``at`` (each target once)."""
    found = clock.due_breaches(at)
    for breach in found:
        clock.mark_breached(breach.target)
    return [b.target for b in found]


def _apply(clock: SlaClock, event: DomainEvent, at: datetime, row: _PriorityStats) -> bool:
    """Feed one recorded fact to the clock; True once the ticket is finished."""
    if isinstance(event, TicketCommented | CustomerContacted) and event.first_response:
        if clock.respond(at):
            row.first_response_seconds.append(clock.business_seconds(clock.opened_at, at))
    elif isinstance(event, TicketWaitingOnCustomer):
        clock.pause(at)
    elif isinstance(event, TicketResumed):
        clock.resume(at)
    elif isinstance(event, TicketReopened):
        clock.restart_resolution(at)
    elif isinstance(event, TicketResolved):
        clock.resolve(at)
        row.resolve_seconds.append(event.time_to_resolve_seconds)
        return True
    elif isinstance(event, TicketClosed):
        clock.resolve(at)
        return True
    return False


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _stat(values: list[int], how: str) -> float | None:
    if not values:
        return None
    return round(float(mean(values) if how == "mean" else median(values)), 1)


def _priority_report(priority: str, s: _PriorityStats) -> PriorityReport:
    return PriorityReport(
        priority=priority,
        tickets=s.tickets,
        breached_tickets=s.breached_tickets,
        breach_rate=_rate(s.breached_tickets, s.tickets),
        first_response_breaches=s.first_response_breaches,
        resolution_breaches=s.resolution_breaches,
        mean_first_response_seconds=_stat(s.first_response_seconds, "mean"),
        median_first_response_seconds=_stat(s.first_response_seconds, "median"),
        mean_resolve_seconds=_stat(s.resolve_seconds, "mean"),
        median_resolve_seconds=_stat(s.resolve_seconds, "median"),
    )
